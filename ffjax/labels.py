"""Label encoders: how a class label enters the input, and how negatives are drawn.

Everything here is a pure function of arrays. An `Encoder` bundles three of them
for the trainer and the predictors:

  embed(x_BxHxWxC, y_B)    the image carrying label y (positive or negative data)
  embed_neutral(x)         the image carrying no particular label (linear head input)
  embed_all(x) -> KxB...   the image once per candidate label (goodness inference)

Kinds (config.labels.kind):
  'none'     label-free methods and backprop: the image as it is.
  'onehot'   Hinton's FF-MLP: the first K values of the flattened image are
             overwritten by the one-hot label; the neutral label is 1/K each.
  'fourier'  spatially extended labels of the FF-CNN paper: one 2-D Fourier mode
             per class superimposed on every channel,
             x_lab = (1 - K) x + K L_c, then min-max rescaled to [0, 1] per image
             (the paper: "after the label superposition, the images are
             normalized to the range [0, 1]").
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


# ----------------------------------------------------------------------------- patterns


def fourier_mode(height: int, width: int, cycles: float, angle_deg: float,
                 phase: float = 0.0) -> np.ndarray:
  """cos(2 pi cycles (u cos a + v sin a) + phase) on an HxW grid, u, v in [0, 1).

  `cycles` counts periods across the image along the wave's direction (for 45
  degrees, along each axis it is cycles * cos 45). Values in [-1, 1].
  """
  v, u = np.meshgrid(np.arange(height) / height, np.arange(width) / width, indexing='ij')
  a = np.deg2rad(angle_deg)
  return np.cos(2 * np.pi * cycles * (u * np.cos(a) + v * np.sin(a)) + phase).astype(np.float32)


def fourier_set1_params(num_classes: int, cycles: Sequence[float],
                        angles: Sequence[float] = (0., 45., 90., 135.)):
  """Label set 1: orientations x frequencies, frequency-major; the first K are used."""
  grid = [(c, a) for c in cycles for a in angles]
  if num_classes > len(grid):
    raise ValueError(f'labels.cycles x 4 orientations give {len(grid)} patterns, '
                     f'fewer than the {num_classes} classes')
  return grid[:num_classes]


def fourier_set2_params(num_classes: int, cycles: float):
  """Label set 2: one frequency, K orientations evenly spaced in [0, 180)."""
  return [(cycles, 180. * k / num_classes) for k in range(num_classes)]


def fourier_patterns(num_classes: int, height: int, width: int, label_set: int = 1,
                     cycles: Sequence[float] = (2., 4., 6.), set2_cycles: float = 4.,
                     phase: float = 0.0) -> np.ndarray:
  """The K class patterns, K x H x W in [-1, 1]."""
  if label_set == 1:
    params = fourier_set1_params(num_classes, cycles)
  elif label_set == 2:
    params = fourier_set2_params(num_classes, set2_cycles)
  else:
    raise ValueError(f'labels.label_set must be 1 or 2, got {label_set}')
  return np.stack([fourier_mode(height, width, c, a, phase) for c, a in params])


def max_pairwise_correlation(patterns_KxHxW) -> float:
  """Largest |Pearson correlation| between two distinct class patterns: 1 means two
  classes are indistinguishable, 0 means orthogonal."""
  p = np.asarray(patterns_KxHxW, np.float64).reshape(len(patterns_KxHxW), -1)
  p = p - p.mean(1, keepdims=True)
  p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
  c = np.abs(p @ p.T)
  np.fill_diagonal(c, 0.)
  return float(c.max())


# ----------------------------------------------------------------------------- embedding


def superpose(x_BxHxWxC, pattern_BxHxW, intensity: float, rescale: bool = True):
  """(1 - K) x + K L on every channel, then each image min-max rescaled to [0, 1]."""
  x = (1. - intensity) * x_BxHxWxC + intensity * pattern_BxHxW[..., None]
  if not rescale:
    return x
  lo = x.min(axis=(-3, -2, -1), keepdims=True)
  hi = x.max(axis=(-3, -2, -1), keepdims=True)
  return (x - lo) / jnp.maximum(hi - lo, 1e-6)


def write_pixels(x_BxHxWxC, v_BxK):
  """Overwrite the first K values of each flattened image by v (Hinton's labels)."""
  b = x_BxHxWxC.shape[0]
  flat = x_BxHxWxC.reshape(b, -1)
  flat = flat.at[:, :v_BxK.shape[-1]].set(v_BxK.astype(flat.dtype))
  return flat.reshape(x_BxHxWxC.shape)


def sample_negatives(key, y_B, num_classes: int):
  """A wrong label for every example, uniform over the K - 1 wrong classes."""
  shift = jax.random.randint(key, y_B.shape, 1, num_classes)
  return (y_B + shift) % num_classes


@dataclasses.dataclass(frozen=True)
class Encoder:
  """The label encoder's three pure functions (see the module docstring)."""
  kind: str
  num_classes: int
  embed: Callable
  embed_neutral: Callable
  patterns_KxHxW: np.ndarray | None = None  # for plots and diagnostics

  @property
  def label_in_input(self) -> bool:
    return self.kind != 'none'

  def embed_all(self, x_BxHxWxC):
    """x with every candidate label: K x B x H x W x C, batched by vmap."""
    labels_K = jnp.arange(self.num_classes)
    return jax.vmap(lambda c: self.embed(x_BxHxWxC, jnp.full(x_BxHxWxC.shape[:1], c)))(labels_K)


def make_encoder(cfg, num_classes: int, height: int, width: int) -> Encoder:
  """Builds the encoder named by config.labels."""
  if cfg.kind == 'none':
    ident = lambda x, *_: x
    return Encoder('none', num_classes, ident, ident)

  if cfg.kind == 'onehot':
    def embed(x, y):
      return write_pixels(x, jax.nn.one_hot(y, num_classes))

    def embed_neutral(x):
      return write_pixels(x, jnp.full((x.shape[0], num_classes), 1. / num_classes))
    return Encoder('onehot', num_classes, embed, embed_neutral)

  if cfg.kind == 'fourier':
    pats = fourier_patterns(num_classes, height, width, cfg.label_set, tuple(cfg.cycles),
                            cfg.set2_cycles, cfg.phase)
    pats_j = jnp.asarray(pats)
    neutral = pats_j.mean(0)
    k, rescale = float(cfg.intensity), bool(cfg.rescale)

    def embed(x, y):
      return superpose(x, pats_j[y], k, rescale)

    def embed_neutral(x):
      return superpose(x, jnp.broadcast_to(neutral, x.shape[:3]), k, rescale)
    return Encoder('fourier', num_classes, embed, embed_neutral, pats)

  raise ValueError(f"labels.kind must be 'none', 'onehot' or 'fourier', got {cfg.kind!r}")
