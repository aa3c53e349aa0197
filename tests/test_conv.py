"""conv.conv: lax's convolution with a hand-written weight gradient (matrix products)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, train_steps
from ffjax import config_args, conv, units


# Each of weight_grad's paths: patches (C k^2 <= 36), lax over batch chunks, lax, and the
# frequency domain (k >= 7 at stride 1, C >= 4), on odd and even maps; the shifted products
# (benchmarks/conv_grad.py's, and the grouped convolutions').
@pytest.mark.parametrize('k,stride,cin,cout', [(3, 1, 3, 5), (3, 2, 4, 6), (3, 1, 8, 5), (3, 2, 8, 4),
                                             (7, 1, 2, 4), (1, 2, 3, 3), (1, 1, 40, 3), (7, 1, 6, 5),
                                             (7, 2, 6, 5)])
def test_conv_gradients_equal_lax(k, stride, cin, cout):
  # Jitted: one compilation per function (op by op, each small op compiles alone: 10 s).
  kx, kw = jax.random.split(jax.random.key(k * 10 + stride))
  x = jax.random.normal(kx, (2, 9, 9, cin))
  w = jax.random.normal(kw, (k, k, cin, cout))
  f = lambda fn: (lambda x, w: jnp.sum(jnp.sin(fn(x, w, stride))))
  fwd = lambda fn: jax.jit(lambda x, w: fn(x, w, stride))
  # The forward may be column pairs (conv_column_pairs): the same sums, in another order
  # on some jaxlibs (0.10.2: 1e-5 of the largest entry).
  y_ref = fwd(conv.conv_lax)(x, w)
  np.testing.assert_allclose(fwd(conv.conv)(x, w), y_ref, rtol=1e-5,
                             atol=1e-5 * float(jnp.abs(y_ref).max()))
  g_ref = jax.jit(jax.grad(f(conv.conv_lax), (0, 1)))(x, w)
  g = jax.jit(jax.grad(f(conv.conv), (0, 1)))(x, w)
  np.testing.assert_allclose(g[1], g_ref[1], rtol=1e-4, atol=1e-4)  # weights: matrix products
  # Input: XLA's own transpose; through sin's derivative it carries the forward's order
  # of summation (column pairs on jaxlib 0.10.2: 2e-5 apart).
  np.testing.assert_allclose(g[0], g_ref[0], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(fwd(conv.conv_patches)(x, w), fwd(conv.conv_lax)(x, w),
                             rtol=1e-4, atol=1e-4)
  y = fwd(conv.conv_lax)(x, w)
  g_out = jax.random.normal(kx, y.shape)
  dw_ref = jax.jit(lambda w_, g: jax.vjp(lambda v: conv.conv_lax(x, v, stride), w_)[1](g)[0])(w, g_out)
  chunked = lambda x, g, k, s: conv.weight_grad_chunked(x, g, k, s, chunks=2)
  for fn in (conv.weight_grad_patches, conv.weight_grad_shifted, chunked):
    got = jax.jit(lambda x, g: fn(x, g, k, stride))(x, g_out)
    np.testing.assert_allclose(got, dw_ref, rtol=1e-4, atol=1e-4)
  if stride == 1:
    for shape in ((2, 9, 9), (3, 28, 20)):  # odd square, even and not square
      xs = jax.random.normal(kx, shape + (cin,))
      gs = jax.random.normal(kw, shape + (cout,))
      ref = jax.jit(lambda x, g: jax.vjp(lambda v: conv.conv_lax(x, v), w)[1](g)[0])(xs, gs)
      got = jax.jit(lambda x, g: conv.weight_grad_fft(x, g, k))(xs, gs)
      np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * float(jnp.abs(ref).max()))


@pytest.mark.parametrize('h,w,k,cin,cout', [(9, 9, 3, 8, 8), (6, 11, 7, 2, 4), (5, 8, 4, 3, 8),
                                           (8, 7, 5, 16, 3), (4, 4, 1, 16, 8)])
def test_column_pairs_equal_lax(h, w, k, cin, cout):
  # Odd and even widths (an odd one computes a column more and crops it), even kernels
  # (SAME pads one more after than before), non-square maps.
  kx, kw = jax.random.split(jax.random.key(h * w + k))
  x = jax.random.normal(kx, (3, h, w, cin))
  wt = jax.random.normal(kw, (k, k, cin, cout))
  got = jax.jit(conv.conv_column_pairs)(x, wt)
  ref = jax.jit(conv.conv_lax)(x, wt)
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(jnp.abs(ref).max()))


def _conv_strides(jaxpr):
  """window_strides of every convolution in a jaxpr, its sub-jaxprs included."""
  out = []
  for e in jaxpr.eqns:
    if e.primitive.name == 'conv_general_dilated':
      out.append(e.params['window_strides'])
    for v in e.params.values():
      sub = getattr(v, 'jaxpr', v)
      if hasattr(sub, 'eqns'):
        out += _conv_strides(sub)
  return out


def test_conv_picks_its_forward_by_shape():
  x, wt = jnp.ones((2, 12, 12, 8)), jnp.ones((7, 7, 8, 8))
  pays = conv._avx512()  # measured on AVX-512 only
  assert _conv_strides(jax.make_jaxpr(lambda x: conv.conv(x, wt))(x).jaxpr) == (
      [(1, 2)] if pays else [(1, 1)])
  # The input gradient: lax's transpose (that of the pairs, a strided transposed
  # convolution, is 15-25x slower); the one strided convolution is the pairs' forward.
  dx = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(conv.conv(x, wt) ** 2)))(x).jaxpr
  assert _conv_strides(dx).count((1, 2)) == (1 if pays else 0)
  # A map smaller than the kernel: patches x matrix (no convolution), forward and back.
  # (4 input channels: the weight gradient is patches x matrix too.)
  tiny = lambda x: jnp.sum(conv.conv(x, jnp.ones((3, 3, 4, 6))) ** 2)  # noqa: E731
  assert _conv_strides(jax.make_jaxpr(jax.grad(tiny))(jnp.ones((2, 2, 2, 4))).jaxpr) == []
  xs, ws = jax.random.normal(jax.random.key(0), (3, 2, 1, 5)), jax.random.normal(jax.random.key(1), (3, 3, 5, 7))
  f = lambda fn: (lambda x, w: jnp.sum(jnp.sin(fn(x, w))))  # noqa: E731
  np.testing.assert_allclose(conv.conv(xs, ws), conv.conv_lax(xs, ws), rtol=1e-5, atol=1e-5)
  for got, want in zip(jax.grad(f(conv.conv), (0, 1))(xs, ws), jax.grad(f(conv.conv_lax), (0, 1))(xs, ws)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # 24 input channels: the pairs lose (RESULTS 32), lax's convolution stays.
  wide = jax.make_jaxpr(lambda x: conv.conv(x, jnp.ones((7, 7, 24, 8))))(jnp.ones((2, 12, 12, 24)))
  assert _conv_strides(wide.jaxpr) == [(1, 1)]


def test_weight_gradient_chunks_divide_the_batch_under_the_bound():
  assert conv.dw_chunks(128, 32 * 64 * 32 * 32) == 8  # 2.1e6 per image: 16 images a chunk
  assert conv.dw_chunks(128, 128 * 128 * 16 * 16) == 16  # 4.2e6: 8 a chunk
  assert conv.dw_chunks(50, 16 * 16 * 28 * 28) == 1  # small: the whole batch
  assert conv.dw_chunks(100, 1e6) == 4  # divisors of 100 only
  assert conv.dw_chunks(13, 1e8) == 13  # none under the bound: the most chunks a divisor allows
  assert conv.dw_chunks(128, 1e8) == 16


def test_matmul_unit_equals_lax_unit():
  a = units.ConvUnit(8, 6, 3, stride=2, conv_impl='lax', rngs=nnx.Rngs(0))
  b = units.ConvUnit(8, 6, 3, stride=2, conv_impl='matmul', rngs=nnx.Rngs(0))
  assert b.use_matmul and not a.use_matmul
  assert units.ConvUnit(8, 6, 3, rngs=nnx.Rngs(0)).use_matmul  # 'auto' on a CPU
  x = jax.random.normal(jax.random.key(0), (2, 10, 10, 8))
  loss = lambda u: jnp.sum(u(x)[0] ** 2)
  np.testing.assert_allclose(a(x)[0], b(x)[0], rtol=1e-6)
  ga, gb = nnx.grad(loss)(a), nnx.grad(loss)(b)
  for (p, va), (_, vb) in zip(jax.tree_util.tree_leaves_with_path(nnx.state(ga)),
                              jax.tree_util.tree_leaves_with_path(nnx.state(gb))):
    np.testing.assert_allclose(va, vb, rtol=1e-4, atol=1e-5, err_msg=jax.tree_util.keystr(p))


@pytest.mark.parametrize('name', ['mnist', 'asge_mnist'])
def test_a_training_step_is_the_same_with_matmul(name):
  # The whole FF step (threshold with labels and head; ASGE): same parameters after it.
  x = jax.random.randint(jax.random.key(1), (50, 28, 28, 1), 0, 256).astype(jnp.uint8)
  y = jnp.arange(50) % 10
  out = []
  for impl in ('lax', 'matmul'):
    c = load_config(name, 'tiny')
    c.model.conv_impl = impl
    config_args.validate(c)
    out.append(train_steps(c, x, y)[1])
  for a, b in zip(*out):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('cin,cout,groups,k,stride', [(20, 40, 10, 3, 1), (12, 6, 3, 3, 2),
                                                      (8, 8, 8, 3, 1), (8, 8, 8, 5, 2)])
def test_grouped_and_depthwise_conv_equal_lax(cin, cout, groups, k, stride):
  kx, kw = jax.random.split(jax.random.key(cin + k))
  x = jax.random.normal(kx, (2, 9, 9, cin))
  w = jax.random.normal(kw, (k, k, cin // groups, cout))
  ref = lambda x, w: jax.lax.conv_general_dilated(x, w, (stride, stride), 'SAME',
                                                  dimension_numbers=conv.DIMS, feature_group_count=groups)
  mine = lambda x, w: conv.conv(x, w, stride, groups)
  np.testing.assert_allclose(jax.jit(mine)(x, w), jax.jit(ref)(x, w), rtol=1e-4, atol=1e-4)
  f = lambda fn: (lambda x, w: jnp.sum(jnp.sin(fn(x, w))))
  g_ref, g = jax.jit(jax.grad(f(ref), (0, 1)))(x, w), jax.jit(jax.grad(f(mine), (0, 1)))(x, w)
  np.testing.assert_allclose(g[0], g_ref[0], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(g[1], g_ref[1], rtol=1e-4, atol=1e-4)


def test_grouped_units_use_matrix_products_on_cpu():
  a = units.ConvUnit(20, 40, 3, groups=10, conv_impl='lax', rngs=nnx.Rngs(0))
  b = units.ConvUnit(20, 40, 3, groups=10, rngs=nnx.Rngs(0))             # 'auto'
  d = units.ConvUnit(16, 16, 5, depthwise=True, rngs=nnx.Rngs(0))         # 'auto', 5x5
  assert b.use_matmul and d.use_matmul and not a.use_matmul
  x = jax.random.normal(jax.random.key(3), (2, 8, 8, 20))
  np.testing.assert_allclose(a(x)[0], b(x)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('k,stride,bias', [(1, 1, True), (1, 2, False), (3, 1, True)])
def test_an_nnx_conv_applied_with_the_weight_gradient_equals_the_module(k, stride, bias):
  # Heads and skip projections (1x1) run through conv.apply on a CPU: the module's values
  # and gradients, its weight gradient one matrix product.
  m = nnx.Conv(12, 7, (k, k), strides=stride, padding='SAME', use_bias=bias, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(3), (4, 9, 9, 12))
  np.testing.assert_allclose(conv.apply(m, x), m(x), rtol=1e-5, atol=1e-6)
  loss = lambda f: (lambda mod, x: jnp.sum(jnp.sin(f(mod, x))))
  ga = nnx.grad(loss(conv.apply), argnums=(0, 1))(m, x)
  gb = nnx.grad(loss(lambda mod, x: mod(x)), argnums=(0, 1))(m, x)
  np.testing.assert_allclose(ga[1], gb[1], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(ga[0].kernel[...], gb[0].kernel[...], rtol=1e-4, atol=1e-4)


def test_a_materialized_input_is_the_input_and_changes_no_gradient():
  x = jax.random.normal(jax.random.key(4), (3, 8, 8, 6)) * 100.
  np.testing.assert_array_equal(jax.jit(conv.materialized)(x), x)
  w = jax.random.normal(jax.random.key(5), (3, 3, 6, 5))
  grads = [jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.sin(conv.conv(x, w, 1, 1, m))), (0, 1)))(x, w)
           for m in (False, True)]
  assert conv.dw_form(3, 6, 1) == 'lax'  # the form that reads it
  for a, b in zip(*grads):
    np.testing.assert_array_equal(a, b)
