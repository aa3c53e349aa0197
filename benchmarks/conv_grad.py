"""Where a conv unit's training step spends its time on this machine, op by op.

  python -m benchmarks.conv_grad                     # the conv shapes of the CPU configs
  python -m benchmarks.conv_grad --shape 128,28,28,32,32,3
  python -m benchmarks.conv_grad --shape 128,14,14,240,480,3,10      # a grouped conv (CwComp)

FF trains every unit from its own loss with its input under stop_gradient, so a unit's
backward pass needs the weight gradient of its convolution and never the input
gradient. This prints one JSON line per (shape, op, implementation): milliseconds
(median of --repeats timings) and GFLOP/s (2 B H W Cin Cout k^2 per conv), for
  fwd     the convolution itself
  dw      its weight gradient given the output gradient
  dx      its input gradient (what backprop needs as well; FF does not)
in XLA's own lowering (`lax`: what jax.grad emits), as patches x matrix (`patches`:
im2col by slicing, then one matrix product), as k*k products of shifted views
(`shifted`: no patches array; `shifted, transposed lhs`: the same with the transpose left
to the dot; `shifted, batch chunks`: over 10 slices of the batch in a scan, so copies
stay in cache; `column shifts stacked`: k products of the k column shifts stacked on
channels; `H-major`: an (H, W, B, C) layout where a row shift is a contiguous slab), as
the swapped-role convolution written out (`swapped conv`), the forward two output
columns at a time (`column pairs`, conv.conv_column_pairs), and in PyTorch (`torch`, if
installed) on the same machine; `im2col` times building the patches alone (by XLA's
patches op, itself a convolution, or by slicing).
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from ffjax import conv as ffconv


def _atol(ref):
  """Float32 sums over B*H*W terms in another order: a few units in the sixth digit of the
  largest entry (oneDNN's kernels order them differently again)."""
  return 1e-5 * float(np.abs(np.asarray(ref)).max()) + 2e-3

# (batch, height, width, in channels, out channels, kernel): the units of
# asge_mnist.py:cpu (batch 128) and mnist.py:cpu (batch 50, 3 passes -> 150).
SHAPES = [
    (128, 28, 28, 1, 32, 3), (128, 28, 28, 32, 32, 3), (128, 14, 14, 32, 64, 3),
    (128, 14, 14, 64, 64, 3),
    (150, 28, 28, 1, 16, 7), (150, 28, 28, 16, 16, 7), (150, 14, 14, 16, 16, 7),
    # mnist.py:quick, the README's first run (8 filters; batch 50, positive + negative)
    (100, 28, 28, 1, 8, 7), (100, 28, 28, 8, 8, 7), (100, 14, 14, 8, 8, 7),
]


def weight_grad_swapped(x, g, k):
  """dw as a forward-style convolution with the roles swapped (what XLA lowers jax.grad's
  weight gradient to: channels as batch, examples as features, g as a H x W kernel)."""
  (ph, _), (pw, _) = ffconv.same_pads(x.shape[1], k, 1), ffconv.same_pads(x.shape[2], k, 1)
  out = jax.lax.conv_general_dilated(jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(g, (1, 2, 0, 3)),
                                     (1, 1), (ph, pw), dimension_numbers=ffconv.DIMS)
  return jnp.transpose(out, (1, 2, 0, 3))


def weight_grad_transposed_lhs(x, g, k):
  """k*k products shifted-input^T (C, N) times g (N, O), the transpose left to the dot."""
  c, o = x.shape[-1], g.shape[-1]
  g_NxO = g.reshape(-1, o)
  return jnp.stack([v.reshape(-1, c).T @ g_NxO for v in ffconv.shifted(x, k)]).reshape(k, k, c, o)


def weight_grad_chunked(x, g, k, chunks=10):
  """Shifted products over batch slices (lax.scan), summed: smaller copies, in cache."""
  n = max(d for d in range(1, chunks + 1) if x.shape[0] % d == 0)
  xs, gs = (a.reshape((n, a.shape[0] // n) + a.shape[1:]) for a in (x, g))
  step = lambda acc, xg: (acc + ffconv.weight_grad_shifted(xg[0], xg[1], k), None)
  return jax.lax.scan(step, jnp.zeros((k, k, x.shape[-1], g.shape[-1])), (xs, gs))[0]


def weight_grad_col_stacked(x, g, k):
  """The k column shifts stacked on channels once; then k products (O, N) x (N, k C)."""
  c, o = x.shape[-1], g.shape[-1]
  (ph, oh), (pw, ow) = ffconv.same_pads(x.shape[1], k, 1), ffconv.same_pads(x.shape[2], k, 1)
  g_OxN = jnp.transpose(g.reshape(-1, o))
  xp = jnp.pad(x, ((0, 0), ph, pw, (0, 0)))
  xs = jnp.concatenate([xp[:, :, j:j + ow, :] for j in range(k)], axis=-1)
  dw = [g_OxN @ xs[:, i:i + oh].reshape(-1, k * c) for i in range(k)]
  return jnp.transpose(jnp.stack(dw).reshape(k, o, k, c), (0, 2, 3, 1))


def weight_grad_hmajor(x, g, k):
  """(Hp, Wp, B, C) layout: one copy per column shift, row shifts as contiguous slabs."""
  c, o = x.shape[-1], g.shape[-1]
  (ph, oh), (pw, ow) = ffconv.same_pads(x.shape[1], k, 1), ffconv.same_pads(x.shape[2], k, 1)
  xp = jnp.pad(jnp.transpose(x, (1, 2, 0, 3)), (ph, pw, (0, 0), (0, 0)))
  g_OxN = jnp.transpose(jnp.transpose(g, (1, 2, 0, 3)).reshape(-1, o))
  dw = []
  for j in range(k):
    col = xp[:, j:j + ow]
    dw += [g_OxN @ col[i:i + oh].reshape(-1, c) for i in range(k)]
  return jnp.transpose(jnp.stack(dw).reshape(k, k, o, c), (1, 0, 3, 2))


def median_ms(fn, repeats, inner=5):
  fn()  # compile / warm up
  ts = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(inner):
      fn()
    ts.append((time.perf_counter() - t0) / inner)
  return 1e3 * float(np.median(ts))


def grouped_ops(b, h, w, ci, co, k, groups):
  """XLA's grouped convolution (feature_group_count; CwComp's class groups) and PyTorch's."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((b, h, w, ci), np.float32))
  wt = jnp.asarray(rng.standard_normal((k, k, ci // groups, co), np.float32) * 0.1)
  g = jnp.asarray(rng.standard_normal((b, h, w, co), np.float32))
  conv = lambda x, w_: jax.lax.conv_general_dilated(x, w_, (1, 1), 'SAME', dimension_numbers=ffconv.DIMS,
                                                    feature_group_count=groups)
  fwd = jax.jit(conv)
  dw = jax.jit(lambda x, g: jax.vjp(lambda w_: conv(x, w_), wt)[1](g)[0])
  mine = lambda x, w_: ffconv.conv(x, w_, 1, groups)  # what units use on CPU
  m_fwd = jax.jit(mine)
  m_dw = jax.jit(lambda x, g: jax.vjp(lambda w_: mine(x, w_), wt)[1](g)[0])
  np.testing.assert_allclose(m_dw(x, g), dw(x, g), rtol=2e-3, atol=_atol(dw(x, g)))
  ops = {('fwd', 'lax grouped'): lambda: fwd(x, wt).block_until_ready(),
         ('dw', 'lax grouped'): lambda: dw(x, g).block_until_ready(),
         ('fwd', 'ffjax conv.conv'): lambda: m_fwd(x, wt).block_until_ready(),
         ('dw', 'ffjax conv.conv'): lambda: m_dw(x, g).block_until_ready()}
  try:
    import torch
    import torch.nn.functional as F
    xt, wtt = torch.randn(b, ci, h, w), torch.randn(co, ci // groups, k, k) * 0.1
    gt = torch.randn(b, co, h, w)

    def t_fwd():
      with torch.no_grad():
        return F.conv2d(xt, wtt, padding=k // 2, groups=groups)

    def t_dw():
      with torch.no_grad():
        return torch.ops.aten.convolution_backward(gt, xt, wtt, None, [1, 1], [k // 2] * 2, [1, 1],
                                                   False, [0, 0], groups, [False, True, False])
    ops.update({('fwd', 'torch grouped'): t_fwd, ('dw', 'torch grouped'): t_dw})
  except ImportError:
    pass
  return ops


def jax_ops(b, h, w, ci, co, k):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((b, h, w, ci), np.float32))
  wt = jnp.asarray(rng.standard_normal((k, k, ci, co), np.float32) * 0.1)
  g = jnp.asarray(rng.standard_normal((b, h, w, co), np.float32))
  lax_fwd = jax.jit(ffconv.conv_lax)
  lax_dw = jax.jit(lambda x, g: jax.vjp(lambda w_: ffconv.conv_lax(x, w_), wt)[1](g)[0])
  lax_dx = jax.jit(lambda x, g: jax.vjp(lambda x_: ffconv.conv_lax(x_, wt), x)[1](g)[0])
  p_fwd = jax.jit(ffconv.conv_patches)
  pairs_fwd = jax.jit(ffconv.conv_column_pairs)
  p_dw = jax.jit(lambda x, g: ffconv.weight_grad_patches(x, g, k))
  s_dw = jax.jit(lambda x, g: ffconv.weight_grad_shifted(x, g, k))
  c_dw = jax.jit(lambda x, g: weight_grad_swapped(x, g, k))
  t_dw = jax.jit(lambda x, g: weight_grad_transposed_lhs(x, g, k))
  more = {'shifted, batch chunks': weight_grad_chunked, 'column shifts stacked': weight_grad_col_stacked,
          'H-major': weight_grad_hmajor}
  more = {name: jax.jit(lambda x, g, f=f: f(x, g, k)) for name, f in more.items()}
  xla_p = jax.jit(lambda x: jax.lax.conv_general_dilated_patches(
      x, (k, k), (1, 1), 'SAME', dimension_numbers=('NHWC', 'OIHW', 'NHWC')))
  sl_p = jax.jit(lambda x: ffconv.patches(x, k))
  ops = {('fwd', 'lax'): lambda: lax_fwd(x, wt).block_until_ready(),
         ('dw', 'lax'): lambda: lax_dw(x, g).block_until_ready(),
         ('dx', 'lax'): lambda: lax_dx(x, g).block_until_ready(),
         ('fwd', 'patches'): lambda: p_fwd(x, wt).block_until_ready(),
         ('fwd', 'column pairs'): lambda: pairs_fwd(x, wt).block_until_ready(),
         ('dw', 'patches'): lambda: p_dw(x, g).block_until_ready(),
         ('dw', 'shifted'): lambda: s_dw(x, g).block_until_ready(),
         ('dw', 'swapped conv'): lambda: c_dw(x, g).block_until_ready(),
         ('dw', 'shifted, transposed lhs'): lambda: t_dw(x, g).block_until_ready(),
         **{('dw', name): (lambda f=f: f(x, g).block_until_ready()) for name, f in more.items()},
         ('im2col', 'lax patches op'): lambda: xla_p(x).block_until_ready(),
         ('im2col', 'slices'): lambda: sl_p(x).block_until_ready()}
  # Same numbers, or the timing means nothing.
  np.testing.assert_allclose(pairs_fwd(x, wt), lax_fwd(x, wt), rtol=2e-3, atol=_atol(lax_fwd(x, wt)))
  np.testing.assert_allclose(p_dw(x, g), lax_dw(x, g), rtol=2e-3, atol=_atol(lax_dw(x, g)))
  np.testing.assert_allclose(s_dw(x, g), lax_dw(x, g), rtol=2e-3, atol=_atol(lax_dw(x, g)))
  np.testing.assert_allclose(c_dw(x, g), lax_dw(x, g), rtol=2e-3, atol=_atol(lax_dw(x, g)))
  np.testing.assert_allclose(t_dw(x, g), lax_dw(x, g), rtol=2e-3, atol=_atol(lax_dw(x, g)))
  for f in more.values():
    np.testing.assert_allclose(f(x, g), lax_dw(x, g), rtol=2e-3, atol=_atol(lax_dw(x, g)))
  return ops


def torch_ops(b, h, w, ci, co, k):
  import torch
  import torch.nn.functional as F
  x = torch.randn(b, ci, h, w)
  wt = torch.randn(co, ci, k, k) * 0.1
  g = torch.randn(b, co, h, w)

  conv_bwd = torch.ops.aten.convolution_backward

  def bwd(mask):  # only the gradient the mask asks for, as autograd would call it
    with torch.no_grad():
      return conv_bwd(g, x, wt, None, [1, 1], [k // 2] * 2, [1, 1], False, [0, 0], 1, mask)

  def fwd():
    with torch.no_grad():
      return F.conv2d(x, wt, padding=k // 2)

  return {('fwd', 'torch'): fwd, ('dw', 'torch'): lambda: bwd([False, True, False]),
          ('dx', 'torch'): lambda: bwd([True, False, False])}


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--shape', action='append', default=[], help='B,H,W,Cin,Cout,k[,groups]')
  ap.add_argument('--repeats', type=int, default=5)
  ap.add_argument('--no_torch', action='store_true')
  a = ap.parse_args()
  shapes = [tuple(int(v) for v in s.split(',')) for s in a.shape] or SHAPES
  for shape in shapes:
    b, h, w, ci, co, k = shape[:6]
    groups = shape[6] if len(shape) > 6 else 1
    gflop = 2 * b * h * w * ci * co * k * k / groups / 1e9
    if groups > 1:
      ops = grouped_ops(b, h, w, ci, co, k, groups)
    else:
      ops = jax_ops(*shape)
    if not a.no_torch and groups == 1:
      try:
        ops.update(torch_ops(*shape))
      except ImportError:
        pass
    for (op, impl), fn in ops.items():
      ms = median_ms(fn, a.repeats)
      print(json.dumps(dict(shape=list(shape), op=op, impl=impl, ms=round(ms, 3),
                            gflops=round(gflop / ms * 1e3, 1), device=jax.devices()[0].device_kind)),
            flush=True)


if __name__ == '__main__':
  main()
