"""SCFF: self-contrastive Forward-Forward (Chen et al., Nature Communications 2025).

Unsupervised: no label enters the network. Positives and negatives are made of the
images themselves, and a linear readout on the (detached) unit outputs is the only
thing that sees labels. Read from the authors' public code (not copied):

  pair(A, B)   A and B side by side (2C channels), standardized jointly per example,
               and a unit applies the same filters to both halves and adds them; the
               unit is linear up to its activation, so this is one C-channel image,
               (A + B - 2 mean) / std, into an ordinary unit (what `pair` returns).
  positive     pair(x, x): an image with itself
  negative     pair(x, x_j): with another image of the batch (one cyclic shift of the
               batch by k in 1..B-1, drawn anew each step, so never with itself)
  goodness     per position, the mean over channels of relu(z)^2 (the unit's activation
               before its pool: model.goodness_at='pre_pool')
  loss         mean softplus(theta+ - g+) + mean softplus(g- - theta-) over examples and
               positions, + lambda * mean over examples of ||g+||_2 (over positions):
               thresholds and lambda one per unit (objective.scff_theta_pos / _neg /
               scff_lambda)
  readout      the linear predictor: a softmax on the outputs of every unit for pair(x, x)

Ours where the code differs (the configs say so too): pairs are made once, at the
input, and deeper units see the previous unit's outputs of both streams (the code's
`concat=0`; its CIFAR recipe rebuilds pairs from the positive stream before units 1 and
3); ReLU where the code transmits a "triangle" (ReLU of the map minus its channel
mean); the readout is trained with the units (on their detached outputs) instead of on
frozen units afterwards; zero padding instead of reflection. Config: configs/scff.py.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from ffjax import objectives
from ffjax import registry
from ffjax.errors import need


def standardize(x_BxHxWxC, eps: float = 1e-10):
  """Per example, over everything but the batch axis: zero mean, unit std."""
  axes = tuple(range(1, x_BxHxWxC.ndim))
  mu = jnp.mean(x_BxHxWxC, axis=axes, keepdims=True)
  sd = jnp.sqrt(jnp.mean(jnp.square(x_BxHxWxC - mu), axis=axes, keepdims=True))
  return (x_BxHxWxC - mu) / (sd + eps)


def pair(a_BxHxWxC, b_BxHxWxC, eps: float = 1e-10):
  """(A + B - 2 m) / s, with m and s the mean and std of [A, B] (both halves) per
  example: what a unit sees of the two images side by side, its filters shared."""
  axes = tuple(range(1, a_BxHxWxC.ndim))
  m = 0.5 * (jnp.mean(a_BxHxWxC, axes, keepdims=True) + jnp.mean(b_BxHxWxC, axes, keepdims=True))
  var = 0.5 * (jnp.mean(jnp.square(a_BxHxWxC - m), axes, keepdims=True) +
               jnp.mean(jnp.square(b_BxHxWxC - m), axes, keepdims=True))
  return (a_BxHxWxC + b_BxHxWxC - 2. * m) / (jnp.sqrt(var) + eps)


@dataclasses.dataclass(frozen=True)
class SelfContrast:
  """The label encoder of SCFF: no label; pairs of images instead."""
  num_classes: int
  kind: str = 'self_contrast'
  label_in_input: ClassVar[bool] = False

  def pairs(self, x_BxHxWxC, key):
    """[positives; negatives], 2B rows: pair(x, x) and pair(x, x shifted by k)."""
    s = standardize(x_BxHxWxC)
    k = jax.random.randint(key, (), 1, max(2, s.shape[0]))
    return jnp.concatenate([pair(s, s), pair(s, jnp.roll(s, k, axis=0))])

  def embed_neutral(self, x_BxHxWxC):
    """What the readout reads the units on: the image paired with itself."""
    s = standardize(x_BxHxWxC)
    return pair(s, s)

  def embed(self, x_BxHxWxC, y_B):
    raise TypeError('SCFF puts no label into the input')

  def embed_all(self, x_BxHxWxC):
    raise TypeError('SCFF puts no label into the input')


@registry.encoder('self_contrast')
class _SelfContrastKind:
  label_in_input = False
  makes_pairs = True
  hparams = ()

  @staticmethod
  def check(cfg):
    pass

  @staticmethod
  def make(cfg, num_classes, height, width):
    return SelfContrast(num_classes)


def position_goodness(a):
  """g: the mean over channels (the last axis) of a^2, at every position: B x H x W for
  conv units, B for dense ones."""
  return jnp.mean(jnp.square(a), axis=-1)


def scff_terms(g_pos, g_neg, theta_pos, theta_neg, lam):
  """Per example: softplus(theta+ - g+) and softplus(g- - theta-) averaged over its
  positions, and lambda * ||g+||_2 over its positions."""
  over = lambda v: jnp.mean(v.reshape(v.shape[0], -1), axis=1)
  norm = jnp.sqrt(jnp.sum(jnp.square(g_pos.reshape(g_pos.shape[0], -1)), axis=1))
  return (over(jax.nn.softplus(theta_pos - g_pos)) + over(jax.nn.softplus(g_neg - theta_neg))
          + lam * norm)


def _per_unit(value, unit: int) -> float:
  """A setting given once for every unit, or once per unit."""
  if isinstance(value, (tuple, list)):
    return float(value[unit])
  return float(value)


@registry.objective('scff')
@dataclasses.dataclass(frozen=True)
class SCFF(objectives.Objective):
  theta_pos: float = 1.
  theta_neg: float = 2.
  lam: float = 0.
  pairs: ClassVar[bool] = True
  label_in_input: ClassVar[bool] = False
  predictors: ClassVar[tuple] = ('linear',)

  @classmethod
  def check(cls, config, num_classes):
    o, n = config.objective, len(config.model.widths)
    for key in ('scff_theta_pos', 'scff_theta_neg', 'scff_lambda'):
      v = o.get(key, 0.)
      if isinstance(v, (tuple, list)):
        need(len(v) == n, f'objective.{key}', v, f'needs one value per unit ({n})')
    lam = o.get('scff_lambda', 0.)
    need(all(x >= 0 for x in (lam if isinstance(lam, (tuple, list)) else (lam,))),
         'objective.scff_lambda', lam, 'must be >= 0')

  @classmethod
  def from_config(cls, config, unit):
    o = config.objective
    return cls(_per_unit(o.get('scff_theta_pos', 1.), unit),
               _per_unit(o.get('scff_theta_neg', 2.), unit),
               _per_unit(o.get('scff_lambda', 0.), unit))

  def _split(self, a_2Bx):
    b = a_2Bx.shape[0] // 2
    g = position_goodness(a_2Bx)
    return g[:b], g[b:]

  def _disc(self, g_pos, g_neg):
    """Per pair: 0, 0.5 or 1 of the two judged right, an example's mean goodness
    against the middle of the two thresholds."""
    mid = 0.5 * (self.theta_pos + self.theta_neg)
    mean = lambda v: jnp.mean(v.reshape(v.shape[0], -1), axis=1)
    return 0.5 * ((mean(g_pos) > mid).astype(jnp.float32) + (mean(g_neg) <= mid))

  def loss(self, a_2Bx, y_B, head, state):
    g_pos, g_neg = self._split(a_2Bx)
    loss = jnp.mean(scff_terms(g_pos, g_neg, self.theta_pos, self.theta_neg, self.lam))
    return loss, {'loss': loss, 'disc_acc': jnp.mean(self._disc(g_pos, g_neg))}, state

  def per_example(self, a_2Bx, y_B, head):
    g_pos, g_neg = self._split(a_2Bx)
    return {'loss': scff_terms(g_pos, g_neg, self.theta_pos, self.theta_neg, self.lam),
            'disc_acc': self._disc(g_pos, g_neg)}
