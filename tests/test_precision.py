"""Mixed precision (model.dtype='bfloat16'): bf16 convolutions, everything else float32."""
import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from conftest import load_config, train_steps
from ffjax import config_args, units


def _rel(a, b):
  return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def _grads(unit, x, skip=None):
  loss = lambda u: jnp.sum(u(x, skip)[0] ** 2) if skip is not None else jnp.sum(u(x)[0] ** 2)
  return jax.tree.leaves(nnx.state(nnx.grad(loss)(unit), nnx.Param))


@pytest.mark.parametrize('kw', [dict(conv_impl='lax'), dict(conv_impl='matmul'),
                                dict(conv_impl='matmul', groups=2),
                                dict(batch_norm=True, skip=(4, 2), stride=2)])
def test_bf16_unit_is_float32_outside_and_close_to_float32(kw):
  x = jax.random.normal(jax.random.key(0), (4, 10, 10, 4))
  f32 = units.ConvUnit(4, 6, 3, rngs=nnx.Rngs(0), **kw)
  b16 = units.ConvUnit(4, 6, 3, dtype='bfloat16', rngs=nnx.Rngs(0), **kw)
  skip = x if 'skip' in kw else None
  (y32, h32), (y16, h16) = (f32(x, skip), f32(x, skip)) if skip is not None else (f32(x), b16(x))
  if skip is not None:
    y16, h16 = b16(x, skip)
  assert y16.dtype == h16.dtype == jnp.float32  # goodness and losses are computed in float32
  assert 1e-4 < _rel(y16, y32) < 2e-2  # bf16 rounding: present, and small
  # Parameters stay float32; their gradients are those of float32 within bf16's precision.
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(nnx.state(b16, nnx.Param)))
  gs16, gs32 = _grads(b16, x, skip), _grads(f32, x, skip)
  scale = max(float(jnp.linalg.norm(g)) for g in gs32)
  for g16, g32 in zip(gs16, gs32):
    # (a conv bias before batch norm has a zero gradient: rounding only, compared to scale)
    assert g16.dtype == jnp.float32
    assert float(jnp.linalg.norm(g16 - g32)) < 3e-2 * max(float(jnp.linalg.norm(g32)), 1e-2 * scale)


def test_bf16_dense_unit():
  x = jax.random.normal(jax.random.key(1), (8, 50))
  a = units.DenseUnit(50, 20, rngs=nnx.Rngs(0))
  b = units.DenseUnit(50, 20, dtype='bfloat16', rngs=nnx.Rngs(0))
  assert b(x)[0].dtype == jnp.float32 and 1e-4 < _rel(b(x)[0], a(x)[0]) < 2e-2


def _two_steps(name, dtype):
  c = load_config(name, 'tiny')
  c.model.dtype = dtype
  config_args.validate(c)
  x = jax.random.randint(jax.random.key(1), (50, 28, 28, 1), 0, 256).astype(jnp.uint8)
  y = jnp.arange(50) % 10
  p0, p, (m1, m2) = train_steps(c, x, y)
  return p0, p, float(m1['loss']), float(m2['loss'])


@pytest.mark.parametrize('name', ['mnist', 'asge_mnist'])
def test_bf16_train_step_follows_the_float32_one(name):
  p0, p32, l32a, l32b = _two_steps(name, 'float32')
  _, p16, l16a, l16b = _two_steps(name, 'bfloat16')
  assert abs(l16a - l32a) < 2e-2 * abs(l32a) and abs(l16b - l32b) < 2e-2 * abs(l32b)
  moved = 0
  for a, b16, b32 in zip(p0, p16, p32):
    assert b16.dtype == jnp.float32  # the optimizer updates float32 parameters
    d16, d32 = (b16 - a).ravel(), (b32 - a).ravel()
    if float(jnp.linalg.norm(d32)) > 0:
      moved += 1
      cos = float(d16 @ d32 / (jnp.linalg.norm(d16) * jnp.linalg.norm(d32)))
      assert cos > 0.9, cos  # Adam's two updates point the same way
  assert moved >= 3


def test_bad_dtype_is_refused():
  c = load_config('mnist', 'tiny,bf16')
  assert c.model.dtype == 'bfloat16'
  c.model.dtype = 'float16'
  with pytest.raises(config_args.ConfigError, match='model.dtype'):
    config_args.validate(c)
