"""Weight initializers: flax's, bit for bit, without a compilation per weight shape.

jax compiles a random sampler for every distinct shape it draws: MobileNetV3 (34 units,
34 heads, 132 weight shapes) took 80-110 s to build on 2 CPU cores, all of it XLA
compiling truncated normals. Here every draw is made flat at the next power of two and
cut to size on the host: one compilation per size class (about 20 for any net), 2 s for
MobileNetV3. jax's bits are a function of the flat index (threefry, partitionable: the
default since jax 0.5), so the first n draws of a longer flat array are the draws of the
shape itself: the values equal flax's (tests/test_nets.py).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@functools.partial(jax.jit, static_argnums=(1,))
def _flat_normal(key, n: int):
  return jax.random.normal(key, (n,), jnp.float32)


def _pow2(n: int) -> int:
  return 1 << max(n - 1, 0).bit_length()


def fan_in(scale: float = 1., distribution: str = 'truncated_normal'):
  """flax's variance_scaling(scale, 'fan_in', distribution) (in features on axis -2,
  receptive field before it): lecun_normal is fan_in(1.). Drawn as a (1, 2^k) weight
  whose fan-in is 1, with the scale divided by the true fan-in: the same variance, the
  same draws and the same operations (whichever jax version's), then cut to shape."""

  def init(key, shape, dtype=jnp.float32):
    n = math.prod(shape)
    w = jax.nn.initializers.variance_scaling(scale / math.prod(shape[:-1]), 'fan_in',
                                             distribution)(key, (1, _pow2(n)), dtype)
    return jnp.asarray(np.asarray(w)[0, :n].reshape(shape))

  return init


def normal(key, shape, scale=1.):
  """N(0, 1) / scale (float32): jax.random.normal(key, shape) / scale."""
  n = math.prod(shape)
  return jnp.asarray(np.asarray(_flat_normal(key, _pow2(n)) / scale)[:n].reshape(shape))


def normal_over_sqrt_out(key, shape, dtype=jnp.float32):
  """N(0, 1/out_features), as the reference FF-MLP initializes its linear layers."""
  return normal(key, shape, jnp.sqrt(shape[-1]).astype(dtype))


def zeros(key, shape, dtype=jnp.float32):
  """Zeros, made on the host (jnp.zeros compiles a fill per shape)."""
  return jnp.asarray(np.zeros(shape, dtype))


def ones(key, shape, dtype=jnp.float32):
  return jnp.asarray(np.ones(shape, dtype))


LECUN = fan_in(1.)
# He ("kaiming") normal, variance 2 / fan_in, untruncated: torch's kaiming_normal_(relu).
KAIMING = fan_in(2., 'normal')


def xavier_uniform(key, shape, dtype=jnp.float32):
  """U(+-sqrt(6 / (fan_in + fan_out))), fans counted with the receptive field (a conv's
  HxWxIxO kernel): torch's init.xavier_uniform_, as the SCFF authors set their convs."""
  field = math.prod(shape[:-2])
  bound = math.sqrt(6. / (field * (shape[-2] + shape[-1])))
  n = math.prod(shape)
  u = jax.random.uniform(key, (_pow2(n),), dtype, -bound, bound)
  return jnp.asarray(np.asarray(u)[:n].reshape(shape))


def torch_bias(fan_in: int):
  """torch's default bias of a conv or linear layer: U(+-1/sqrt(fan_in))."""
  def init(key, shape, dtype=jnp.float32):
    bound = 1. / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


CONV = {'lecun': LECUN, 'kaiming': KAIMING, 'xavier': xavier_uniform}
# flax's defaults for nnx.Linear / nnx.Conv and nnx.BatchNorm, made as above.
DENSE: dict[str, Any] = dict(kernel_init=LECUN, bias_init=zeros)
NORM: dict[str, Any] = dict(scale_init=ones, bias_init=zeros)
