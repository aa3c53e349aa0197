"""Objectives: the loss of one unit's activations (the third of a method's four pieces,
see ffjax/method.py), and the readout's loss.

Every objective is an `Objective`: a frozen dataclass (its settings), registered under
the name a config gives as `objective.kind` (ffjax/registry.py), with
  pairs                 True: a unit's activations are [positives; negatives] (2B rows)
  label_in_input        True: positives and negatives differ by the label in the input,
                        so the goodness of every candidate label can predict (the
                        encoder must carry labels); False with pairs: label-free pairs
  predictors            the predictors it makes possible ('goodness', 'linear', 'per_unit')
  hparams               its fields a population may vary per member (method.with_hparams)
  check(config, num_classes)     its own settings (a ConfigError naming the key)
  from_config(config, unit)      unit `unit`'s objective, from config.objective
  heads(config, shapes, num_classes, rngs)   each unit's own head (one-pass kinds), or []
  init_state(a_shape)   its running state (peer normalization), or None
  loss(a_l, y_B, head, state) -> (loss, metrics, new state)
  per_example(a_l, y_B, head) -> {name: per-example values} (evaluation diagnostics)
`head` is the unit's own read-out module (network.aux[l]) or None. Metric names are
unit-free ('loss', 'disc_acc', 'acc', 'peer'); the step suffixes them with the unit.
The math (goodness, the FF loss, spatial and per-class goodness) is in goodness.py.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from ffjax import goodness as gd
from ffjax import heads as heads_lib
from ffjax import modes
from ffjax import registry
from ffjax.errors import need


def halves(a_2Bx):
  """(positives, negatives): a pair objective's activations are [positives; negatives],
  B rows each (method.training_input's layout). The one place that layout is read."""
  b = a_2Bx.shape[0] // 2
  return a_2Bx[:b], a_2Bx[b:]


class Objective:
  """The interface every objective implements (see the module docstring)."""
  pairs: ClassVar[bool] = False
  label_in_input: ClassVar[bool] = False
  predictors: ClassVar[tuple] = ()
  hparams: ClassVar[tuple] = ()

  @classmethod
  def check(cls, config, num_classes: int) -> None:
    pass

  @classmethod
  def from_config(cls, config, unit: int) -> 'Objective':
    """The objective of unit `unit` (0-based): settings may differ per unit."""
    return cls()

  @classmethod
  def heads(cls, config, unit_shapes, num_classes: int, rngs) -> list:
    """unit_shapes: (H, W, C) of each unit's activations."""
    return []

  def init_state(self, a_shape):
    return None

  def loss(self, a, y_B, head, state):
    raise NotImplementedError

  def per_example(self, a, y_B, head) -> dict:
    raise NotImplementedError


def pair_diagnostics(g_pos_B, g_neg_B, theta, loss_per_pair_B) -> dict:
  """What every pair objective reports: its loss and how often G > theta sorts a
  positive from a negative (the discrimination accuracy)."""
  return {'loss': loss_per_pair_B, 'disc_acc': gd.discrimination_per_pair(g_pos_B, g_neg_B, theta)}


@registry.objective('threshold')
@dataclasses.dataclass(frozen=True)
class Threshold(Objective):
  """FF-CNN / FF-MLP: goodness of positives above theta, of negatives below (gd.ff_loss).
  `temperature` may be a traced scalar (a population over it)."""
  reduce: str = 'sum_pair'
  temperature: Any = 1.
  pairs: ClassVar[bool] = True
  label_in_input: ClassVar[bool] = True
  predictors: ClassVar[tuple] = ('goodness', 'linear')
  hparams: ClassVar[tuple] = ('temperature',)

  @classmethod
  def check(cls, config, num_classes):
    o = config.objective
    need(o.reduce in ('sum_pair', 'mean_all'), 'objective.reduce', o.reduce,
         "must be 'sum_pair' or 'mean_all'")
    need(o.temperature > 0, 'objective.temperature', o.temperature, 'must be positive')

  @classmethod
  def from_config(cls, config, unit):
    return cls(config.objective.reduce, config.objective.temperature)

  def loss(self, a_2BxN, y_B, head, state):
    theta, (g_pos, g_neg) = gd.num_neurons(a_2BxN), halves(gd.goodness(a_2BxN))
    loss = gd.ff_loss(g_pos, g_neg, theta, self.reduce, self.temperature)
    return loss, {'loss': loss, 'disc_acc': gd.discrimination_accuracy(g_pos, g_neg, theta)}, state

  def per_example(self, a_2BxN, y_B, head):
    theta, (g_pos, g_neg) = gd.num_neurons(a_2BxN), halves(gd.goodness(a_2BxN))
    return pair_diagnostics(g_pos, g_neg, theta,
                            gd.ff_loss_per_pair(g_pos, g_neg, theta, self.reduce, self.temperature))


@dataclasses.dataclass(frozen=True)
class PeerNormalized(Objective):
  """An objective plus peer normalization of its positives (the reference FF-MLP's
  add-on): loss + weight * peer loss; the state is every neuron's running mean."""
  base: Any
  weight: float
  momentum: float = 0.9

  @property
  def pairs(self):
    return self.base.pairs

  @property
  def label_in_input(self):
    return self.base.label_in_input

  def init_state(self, a_shape):
    n = 1
    for d in a_shape[1:]:
      n *= d
    return jnp.full((n,), 0.5)  # as the reference implementation starts it

  def loss(self, a_2BxN, y_B, head, state):
    loss, metrics, _ = self.base.loss(a_2BxN, y_B, head, None)
    peer, state = gd.peer_norm_loss(halves(a_2BxN)[0], state, self.momentum)
    return loss + self.weight * peer, dict(metrics, peer=peer), state

  def per_example(self, a_2BxN, y_B, head):
    return self.base.per_example(a_2BxN, y_B, head)


@dataclasses.dataclass(frozen=True)
class HeadCrossEntropy(Objective):
  """One pass, no label in the input: the unit's own head turns its activations into
  class logits, trained by cross-entropy. Its kinds differ by the head (below)."""
  predictors: ClassVar[tuple] = ('per_unit',)

  @classmethod
  def check(cls, config, num_classes):
    need(registry.get('unit', config.model.kind).maps, 'model.kind', config.model.kind,
         f'objective.kind={config.objective.kind!r} needs units whose outputs are maps')

  def loss(self, a_BxHxWxC, y_B, head, state):
    logits = head(a_BxHxWxC)
    loss = gd.cross_entropy(logits, y_B)
    return loss, {'loss': loss, 'acc': jnp.mean(jnp.argmax(logits, -1) == y_B)}, state

  def per_example(self, a_BxHxWxC, y_B, head):
    logits = head(a_BxHxWxC)
    return {'loss': optax.softmax_cross_entropy_with_integer_labels(logits, y_B), 'logits': logits}


def adaptive_grids(config, unit_shapes) -> tuple:
  """ASGE's grid P_l of every unit (gd.adaptive_grid), from its activations' shapes."""
  o = config.objective
  c_max = max(c for _, _, c in unit_shapes)
  return tuple(gd.adaptive_grid(c, c_max, min(h, w), o.grid_min, o.alpha) for h, w, c in unit_shapes)


@registry.objective('spatial')
class SpatialCrossEntropy(HeadCrossEntropy):
  """ASGE: spatial goodness on a P_l x P_l grid -> linear map -> cross-entropy."""

  @classmethod
  def check(cls, config, num_classes):
    super().check(config, num_classes)
    o = config.objective
    need(o.grid_min >= 1, 'objective.grid_min', o.grid_min, 'must be >= 1')
    need(o.alpha >= 0, 'objective.alpha', o.alpha, 'must be >= 0')
    need(o.projection in ('trained', 'fixed', 'fixed_bias'), 'objective.projection', o.projection,
         "must be 'trained', 'fixed' or 'fixed_bias'")

  @classmethod
  def heads(cls, config, unit_shapes, num_classes, rngs):
    proj = config.objective.projection  # 'trained' | 'fixed' | 'fixed_bias'
    return [heads_lib.SpatialHead(c, p, num_classes, trained=proj == 'trained',
                                  bias=proj == 'fixed_bias', rngs=rngs)
            for (_, _, c), p in zip(unit_shapes, adaptive_grids(config, unit_shapes))]


@registry.objective('per_class')
class ClassConvCrossEntropy(HeadCrossEntropy):
  """Scalable FF: an aux conv with one channel per class; its mean squares are logits."""

  @classmethod
  def check(cls, config, num_classes):
    super().check(config, num_classes)
    need(config.objective.aux_kernel >= 1, 'objective.aux_kernel', config.objective.aux_kernel,
         'must be >= 1')

  @classmethod
  def heads(cls, config, unit_shapes, num_classes, rngs):
    return [heads_lib.ClassConvHead(c, num_classes, kernel=config.objective.aux_kernel, rngs=rngs)
            for _, _, c in unit_shapes]


@registry.objective('channel_groups')
class ChannelGroupCrossEntropy(HeadCrossEntropy):
  """CwComp: the unit's channels cut into one group per class; a group's mean square is
  its class's logit."""

  @classmethod
  def check(cls, config, num_classes):
    super().check(config, num_classes)
    if modes.get(config.method).local:  # backprop reads no group
      need(all(w % num_classes == 0 for w in config.model.widths), 'model.widths',
           config.model.widths, f'objective.kind=channel_groups cuts each unit into '
           f'{num_classes} class groups: widths must be multiples of {num_classes}')

  @classmethod
  def heads(cls, config, unit_shapes, num_classes, rngs):
    return [heads_lib.ChannelGroupHead(c, num_classes) for _, _, c in unit_shapes]


@dataclasses.dataclass(frozen=True)
class Readout:
  """The linear head's cross-entropy on the outputs h of `units`. detach=True: a read-out
  on stop_gradient(h) that trains no unit (FF's linear classifier, CwComp's softmax);
  detach=False: the backprop baseline's softmax layer, whose gradient trains everything.
  pooled=True: each unit's output averaged over its positions, one linear map per unit,
  the logits summed (ASGE's published classifier, heads.PooledSumHead)."""
  units: tuple
  detach: bool = True
  pooled: bool = False

  def features(self, hs):
    if self.pooled:
      f = [jnp.mean(hs[l], axis=(1, 2)) for l in self.units]
    else:
      f = jnp.concatenate([hs[l].reshape(hs[l].shape[0], -1) for l in self.units], axis=-1)
    return jax.lax.stop_gradient(f) if self.detach else f

  def logits(self, head, hs):
    return head(self.features(hs))

  def loss(self, head, hs, y_B):
    logits = self.logits(head, hs)
    loss = gd.cross_entropy(logits, y_B)
    return loss, {'loss_head': loss, 'acc_head': jnp.mean(jnp.argmax(logits, -1) == y_B)}


def get(kind: str) -> type[Objective]:
  """The objective class registered as `kind` (config.objective.kind)."""
  return registry.get('objective', kind)
