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


AUGMENTS = {'none': lambda key, x, pad: x, 'crop_flip': crop_flip}
