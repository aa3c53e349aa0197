"""Data augmentation on device, a pure function of (key, images).

crop_flip: pad by `pad` pixels (zeros), take a random H x W crop, flip left-right
with probability 1/2: the CIFAR recipe. The trainer draws the key from
(seed, step), so a step sees the same augmented batch after a restart, and it
augments before labels are embedded, so a positive image and its negatives are
the same augmented image with different labels.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def crop_flip(key, x_BxHxWxC, pad: int = 4):
  b, h, w, _ = x_BxHxWxC.shape
  k_off, k_flip = jax.random.split(key)
  offs_Bx2 = jax.random.randint(k_off, (b, 2), 0, 2 * pad + 1)
  flip_B = jax.random.bernoulli(k_flip, 0.5, (b,))
  xp = jnp.pad(x_BxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

  def one(img, off, flip):
    crop = jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, img.shape[-1]))
    return jnp.where(flip, crop[:, ::-1], crop)

  return jax.vmap(one)(xp, offs_Bx2, flip_B)


def flip(key, x_BxHxWxC, pad: int = 0):
  f_B = jax.random.bernoulli(key, 0.5, (x_BxHxWxC.shape[0],))
  return jnp.where(f_B[:, None, None, None], x_BxHxWxC[:, :, ::-1], x_BxHxWxC)


# numpy, not jnp: a jnp constant at import would start JAX's backend before a multi-process
# run can call jax.distributed.initialize.
GREY = np.array([0.299, 0.587, 0.114], np.float32)  # luma weights of R, G, B


def colour_jitter(key, x_BxHxWx3, strength: float = 0.4, hue: float = 0.1, grey_p: float = 0.2):
  """Brightness, contrast, saturation (factors in [1 - s, 1 + s]), hue (a turn of up to
  `hue` in YIQ), then greyscale with probability grey_p; values kept in [0, 1]."""
  b = x_BxHxWx3.shape[0]
  kb, kc, ks, kh, kg = jax.random.split(key, 5)
  u = lambda k: jax.random.uniform(k, (b, 1, 1, 1), minval=1. - strength, maxval=1. + strength)
  x = jnp.clip(x_BxHxWx3 * u(kb), 0., 1.)
  grey = lambda x: jnp.sum(x * GREY, -1, keepdims=True)
  mean = jnp.mean(grey(x), axis=(1, 2, 3), keepdims=True)
  c = u(kc)
  x = jnp.clip(c * x + (1. - c) * mean, 0., 1.)
  s = u(ks)
  x = jnp.clip(s * x + (1. - s) * grey(x), 0., 1.)
  theta = 2. * jnp.pi * jax.random.uniform(kh, (b,), minval=-hue, maxval=hue)
  to_yiq = jnp.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  rot = jnp.stack([jnp.stack([jnp.ones_like(cos), 0. * cos, 0. * cos], -1),
                   jnp.stack([0. * cos, cos, -sin], -1), jnp.stack([0. * cos, sin, cos], -1)], -2)
  m_Bx3x3 = jnp.linalg.inv(to_yiq)[None] @ rot @ to_yiq[None]
  x = jnp.clip(jnp.einsum('bij,bhwj->bhwi', m_Bx3x3, x), 0., 1.)
  g = jax.random.bernoulli(kg, grey_p, (b, 1, 1, 1))
  return jnp.where(g, jnp.broadcast_to(grey(x), x.shape), x)


def crop_flip_jitter(key, x_BxHxWxC, pad: int = 4):
  k1, k2 = jax.random.split(key)
  return colour_jitter(k2, crop_flip(k1, x_BxHxWxC, pad))


AUGMENTS = {'none': lambda key, x, pad: x, 'flip': flip, 'crop_flip': crop_flip,
            'crop_flip_jitter': crop_flip_jitter}
