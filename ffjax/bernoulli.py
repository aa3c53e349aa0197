"""jax.random.bernoulli's draws, bit for bit, as one fused elementwise kernel on a CPU.

jax lowers its threefry hash on a CPU as a 5-step loop over whole arrays (a compile-time
saving): a dropout mask of a 128 x 32 x 32 x 64 map took 40 ms of ASGE's published
VGG8 step, a fifth of it (docs/RESULTS.md 30). The same hash written out as array
operations (below) fuses with the counter and the comparison into one pass. The bits
are jax's by construction: threefry2x32 of (key, flat index) as jax.random.bits draws
them (threefry, partitionable: jax's default since 0.5), turned into uniforms in [0, 1)
as jax.random.uniform does (its legacy mantissa bitcast, the default; or its newer
shift-and-scale where jax_legacy_random_uniform is off). tests/test_bernoulli.py checks
equality with jax.random.bernoulli on every supported jax; keys of another
implementation, jax set to its non-partitionable bits, or to 64-bit floats, go to jax
itself.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x, d: int):
  return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(k1, k2, x1, x2):
  """The Threefry-2x32 hash (20 rounds), as jax's unrolled lowering writes it."""
  ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
  x1, x2 = x1 + ks[0], x2 + ks[1]
  for i in range(5):
    for r in _ROTATIONS[i % 2]:
      x1 = x1 + x2
      x2 = x1 ^ _rotl(x2, r)
    x1 = x1 + ks[(i + 1) % 3]
    x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
  return x1, x2


def _fast_path(key, shape) -> bool:
  if not jax.config.jax_threefry_partitionable or jax.config.jax_enable_x64 or \
      math.prod(shape) >= 2 ** 32:  # (with x64, jax draws a Python float's p in float64)
    return False
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key.shape == () and str(jax.random.key_impl(key)) == 'threefry2x32'
  return key.shape == (2,) and key.dtype == jnp.uint32  # a raw key: jax's default, threefry


def uniform(key, shape):
  """jax.random.uniform(key, shape) in float32, bit for bit (see the module's doc)."""
  if not _fast_path(key, shape):
    return jax.random.uniform(key, shape)
  k = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
  idx = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)  # the flat index (< 2^32)
  b1, b2 = threefry2x32(k[0], k[1], jnp.zeros_like(idx), idx)
  bits = b1 ^ b2
  if getattr(jax.config, 'jax_legacy_random_uniform', True):
    f = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32)
    u = f - np.float32(1.)
  else:
    u = (bits >> np.uint32(8)).astype(jnp.float32) * np.float32(2. ** -24)
  return jnp.maximum(np.float32(0.), u)


def bernoulli(key, p: float, shape):
  """jax.random.bernoulli(key, p, shape) for a Python float p, bit for bit."""
  if not _fast_path(key, shape):
    return jax.random.bernoulli(key, p, shape)
  return uniform(key, shape) < np.float32(p)
