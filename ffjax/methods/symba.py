"""SymBa: the symmetric Forward-Forward loss (Lee and Song, 2023).

Threshold FF pushes each positive's goodness above a threshold and each negative's
below it, two separate terms. SymBa scores a positive against its own negative (the
same image with a wrong label) and pushes only their difference:

  loss = softplus(-alpha * (G_pos - G_neg)),  averaged over the B pairs

so no threshold is needed and the two terms cannot pull unevenly. G is the unit's
mean squared activation (its goodness over theta, goodness.py): alpha then means the
same at any unit size (ours; the paper's MLP units were all of one size, 2,000). The
label is in the input (any label encoder that embeds one), so goodness inference over
every label and the linear head on the neutral label read the units as for the
FF-CNN; the step, the units and the predictors are the FF-CNN's.

Settings (config.objective): kind='symba', symba_alpha (the paper's 4.0; a config
adds the field), symba_goodness: 'mean' (ours, above) or 'sum' (the sum of squares that
the FF literature and the paper write: the literal form, whose alpha then depends on the
unit's size). Config: configs/symba.py.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from ffjax import goodness as gd
from ffjax import objectives
from ffjax import registry
from ffjax.errors import need

ALPHA = 4.  # the paper's


def symba_loss_per_pair(g_pos_B, g_neg_B, alpha):
  """softplus(-alpha (G_pos - G_neg)) of each (positive, negative) pair."""
  return jax.nn.softplus(-alpha * (g_pos_B - g_neg_B))


def mean_goodness(a):
  """G_B: the mean of a^2 over every axis but the batch axis (goodness / theta)."""
  return gd.goodness(a) / gd.num_neurons(a)


GOODNESS = {'mean': mean_goodness, 'sum': gd.goodness}


@registry.objective('symba')
@dataclasses.dataclass(frozen=True)
class SymBa(objectives.Objective):
  alpha: float = ALPHA
  goodness: str = 'mean'  # GOODNESS key
  pairs: ClassVar[bool] = True
  label_in_input: ClassVar[bool] = True
  predictors: ClassVar[tuple] = ('goodness', 'linear')

  @classmethod
  def check(cls, config, num_classes):
    a = config.objective.get('symba_alpha', ALPHA)
    need(a > 0, 'objective.symba_alpha', a, 'must be positive')
    g = config.objective.get('symba_goodness', 'mean')
    need(g in GOODNESS, 'objective.symba_goodness', g, f'one of {sorted(GOODNESS)}')

  @classmethod
  def from_config(cls, config, unit):
    o = config.objective
    return cls(float(o.get('symba_alpha', ALPHA)), o.get('symba_goodness', 'mean'))

  def _pairs(self, a_2BxN):
    return objectives.halves(GOODNESS[self.goodness](a_2BxN))

  def loss(self, a_2BxN, y_B, head, state):
    g_pos, g_neg = self._pairs(a_2BxN)
    loss = jnp.mean(symba_loss_per_pair(g_pos, g_neg, self.alpha))
    # A pair is judged right when its positive has the larger goodness.
    return loss, {'loss': loss, 'disc_acc': jnp.mean((g_pos > g_neg).astype(jnp.float32))}, state

  def per_example(self, a_2BxN, y_B, head):
    g_pos, g_neg = self._pairs(a_2BxN)
    return {'loss': symba_loss_per_pair(g_pos, g_neg, self.alpha),
            'disc_acc': (g_pos > g_neg).astype(jnp.float32)}
