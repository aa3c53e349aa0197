"""From stored images to what the units see: uint8 -> floats in [0, 1], optionally
standardized per channel, and (training only) augmented on the device.

Built once from config.data (`make`), then a pure function inside the jitted step:
the augmentation key comes from (seed, step), so a resumed run sees the same batch,
and augmentation happens before any label is embedded, so a positive image and its
negatives are the same augmented image with different labels.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ffjax.data import augment

# Per-channel mean and std of the training images, for data.normalize='standardize'.
STATS = {'mnist': ((0.1307,), (0.3081,)), 'fashion_mnist': ((0.2860,), (0.3530,)),
         'cifar10': ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
         'cifar100': ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}
# Streamed RGB photographs (ImageNet's usual constants; a tree of other pictures can set
# data.mean / data.std).
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclasses.dataclass(frozen=True)
class Preprocess:
  mean_C: tuple | None = None   # standardize: (x - mean) / std per channel; None: [0, 1]
  std_C: tuple | None = None
  augment: str = 'none'         # augment.AUGMENTS key
  crop_pad: int = 4
  resize: int = 0               # > 0: bilinear resize to resize x resize first

  def to_float(self, x_u8):
    """Evaluation images: floats, standardized if asked; no augmentation."""
    x = x_u8.astype(jnp.float32) / 255.
    if self.resize:
      x = jax.image.resize(x, x.shape[:1] + (self.resize, self.resize) + x.shape[3:], 'bilinear')
    if self.mean_C is not None:
      x = (x - jnp.asarray(self.mean_C)) / jnp.asarray(self.std_C)
    return x

  def train(self, x_u8, key):
    """Training images, augmented by a key drawn from (seed, step)."""
    return augment.AUGMENTS[self.augment](jax.random.fold_in(key, 1), self.to_float(x_u8),
                                          self.crop_pad)


def make(data_cfg) -> Preprocess:
  """config.data -> Preprocess."""
  mean = std = None
  if data_cfg.normalize == 'standardize':
    mean, std = STATS.get(data_cfg.name, IMAGENET)
    if data_cfg.mean:  # a recipe's own constants
      mean, std = tuple(data_cfg.mean), tuple(data_cfg.std)
  return Preprocess(mean, std, data_cfg.augment, data_cfg.crop_pad, data_cfg.resize)


def output_shape(data_cfg, image_shape) -> tuple:
  """(H, W, C) of what the units receive: the stored images', or resized."""
  h, w, c = image_shape
  return (data_cfg.resize, data_cfg.resize, c) if data_cfg.resize else (h, w, c)
