"""Goodness and unit losses: pure functions of a unit's activations, and the objectives
built from them (the third of a method's four pieces, see ffjax/method.py).

An objective turns unit l's activations a_l into its loss. One interface for all:
  label_in_input        True: a_l is [positives; negatives] (the label is in the image)
  init_state(a_shape)   its running state (peer normalization), or None
  loss(a_l, y_B, head, state) -> (loss, metrics, new state)
  per_example(a_l, y_B, head) -> {name: per-example values} (evaluation diagnostics)
`head` is the unit's own read-out module (network.aux[l]) or None. Metric names are
unit-free ('loss', 'disc_acc', 'acc', 'peer'); the step suffixes them with the unit.

Threshold goodness (FF-CNN, FF-MLP):
  G = sum of y^2 over all neurons of the unit, theta = number of neurons,
  p(positive) = sigmoid(G - theta),
  loss = softplus(theta - G_pos) + softplus(G_neg - theta), averaged over the batch.
`reduce='mean_all'` instead averages the binary cross-entropy over the 2B
examples (half the above), as the reference FF-MLP implementation does; it
matters for plain SGD, not for Adam.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax


def goodness(y):
  """G_B: sum of squares over every axis but the batch axis."""
  return jnp.sum(jnp.square(y), axis=tuple(range(1, y.ndim)))


def num_neurons(y) -> int:
  """The threshold theta of a unit: its neurons per example."""
  n = 1
  for d in y.shape[1:]:
    n *= d
  return n


def ff_loss(g_pos_B, g_neg_B, theta, reduce: str = 'sum_pair', temperature: float = 1.):
  """Binary cross-entropy on sigmoid((G - theta) / temperature): positives up, negatives down.

  temperature 1 is the papers' loss. With thousands of neurons per unit, G - theta
  spans thousands, the sigmoid saturates and only examples on the wrong side of the
  threshold give gradient (a hinge); a larger temperature lets every example pull.
  The threshold, and so discrimination and goodness inference, do not change.
  """
  return jnp.mean(ff_loss_per_pair(g_pos_B, g_neg_B, theta, reduce, temperature))


def ff_loss_per_pair(g_pos_B, g_neg_B, theta, reduce: str = 'sum_pair', temperature: float = 1.):
  """ff_loss of each (positive, negative) pair: the batch mean of this is ff_loss."""
  per_pair = temperature * (jax.nn.softplus((theta - g_pos_B) / temperature) +
                            jax.nn.softplus((g_neg_B - theta) / temperature))
  return 0.5 * per_pair if reduce == 'mean_all' else per_pair


def discrimination_accuracy(g_pos_B, g_neg_B, theta):
  """How often sigmoid(G - theta) > 0.5 agrees with positive / negative."""
  return jnp.mean(discrimination_per_pair(g_pos_B, g_neg_B, theta))


def discrimination_per_pair(g_pos_B, g_neg_B, theta):
  """Per (positive, negative) pair: 0, 0.5 or 1 of the two judged right."""
  return 0.5 * ((g_pos_B > theta).astype(jnp.float32) + (g_neg_B <= theta))


def peer_norm_loss(y_pos_BxN, running_mean_N, momentum: float = 0.9):
  """Peer normalization of the reference FF-MLP: keeps every neuron's running mean
  activity on positives near the unit's average, so no neuron dies or dominates.

  Returns (loss, new running mean); the old running mean is a constant.
  """
  mean_N = jnp.mean(y_pos_BxN.reshape(y_pos_BxN.shape[0], -1), axis=0)
  run = momentum * jax.lax.stop_gradient(running_mean_N) + (1. - momentum) * mean_N
  return jnp.mean(jnp.square(jnp.mean(run) - run)), jax.lax.stop_gradient(run)


def cross_entropy(logits_BxK, y_B):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_BxK, y_B))


# ----------------------------------------------------------------------------- ASGE
# Adaptive spatial goodness encoding (papers/003, METHODS.md section 3): no label in
# the input and no negatives; each unit's map is cut into a P x P grid of patches,
# the energy of every (patch, channel) is a goodness, and a linear map of that
# vector gives class logits trained with cross-entropy.


def adaptive_grid(channels: int, max_channels: int, size: int, grid_min: int = 2,
                  alpha: float = 1.) -> int:
  """P_l, the grid of a unit with `channels` channels and a `size` x `size` map.

  Our reading of the paper (its formula is not in the text we have):
    P_l = round(grid_min * (max_channels / channels) ** (alpha / 2)),
  clipped to [1, size]. With alpha = 1 the goodness vector C_l * P_l^2 keeps the
  length of the widest unit's, max_channels * grid_min^2, whatever the unit's
  width: the classifier does not grow with the channels. alpha = 0 gives every
  unit the same grid; alpha = 2 gives narrow units more patches than channels
  would pay for.
  """
  p = int(round(grid_min * (max_channels / channels) ** (alpha / 2.)))
  return max(1, min(p, size))


def patch_matrix(size: int, grid: int):
  """A_PxS: row p averages the pixels of patch p along one axis. Patches split the
  axis at floor(p * size / grid) (adaptive pooling), so any size and grid fit."""
  edges = [(p * size) // grid for p in range(grid + 1)]
  rows = [[1. / (edges[p + 1] - edges[p]) if edges[p] <= i < edges[p + 1] else 0.
           for i in range(size)] for p in range(grid)]
  return jnp.asarray(rows, jnp.float32)


def spatial_goodness(y_BxHxWxC, grid: int):
  """g_Bx(P*P*C): mean of y^2 over every patch of a P x P grid, per channel.

  The paper sums y^2 in a patch; the mean differs from it by the patch area, a
  constant per unit that the linear map absorbs, and it keeps every unit's
  goodness on the scale of its activations.
  """
  _, h, w, _ = y_BxHxWxC.shape
  a_h, a_w = patch_matrix(h, grid), patch_matrix(w, grid)
  g = jnp.einsum('ph,qw,bhwc->bpqc', a_h, a_w, jnp.square(y_BxHxWxC))
  return g.reshape(g.shape[0], -1)


def fuse_probs(logits_LxBxK):
  """Fusion: the average of every unit's softmax probabilities."""
  return jnp.mean(jax.nn.softmax(logits_LxBxK, axis=-1), axis=0)


# ----------------------------------------------------------------------------- per-class goodness
# Scalable FF (papers/002) and channel-wise competitive FF: one pass, no negatives; the
# goodness of class k is the mean square of the activations assigned to k, and the
# goodnesses are the logits of a cross-entropy.


def class_goodness(a_BxHxWxKx):
  """logits_BxK: mean of a^2 over every axis but the batch and the class axis (axis 3).
  a: B x H x W x K (one channel per class) or B x H x W x K x G (K groups of G)."""
  axes = tuple(i for i in range(1, a_BxHxWxKx.ndim) if i != 3)
  return jnp.mean(jnp.square(a_BxHxWxKx), axis=axes)


# ----------------------------------------------------------------------------- objectives


@dataclasses.dataclass(frozen=True)
class Threshold:
  """FF-CNN / FF-MLP: goodness of positives above theta, of negatives below (ff_loss).
  `temperature` may be a traced scalar (a population over it)."""
  reduce: str = 'sum_pair'
  temperature: Any = 1.
  label_in_input = True

  def init_state(self, a_shape):
    return None

  def loss(self, a_2BxN, y_B, head, state):
    b = a_2BxN.shape[0] // 2
    theta, g = num_neurons(a_2BxN), goodness(a_2BxN)
    loss = ff_loss(g[:b], g[b:], theta, self.reduce, self.temperature)
    return loss, {'loss': loss, 'disc_acc': discrimination_accuracy(g[:b], g[b:], theta)}, state

  def per_example(self, a_2BxN, y_B, head):
    b = a_2BxN.shape[0] // 2
    theta, g = num_neurons(a_2BxN), goodness(a_2BxN)
    return {'loss': ff_loss_per_pair(g[:b], g[b:], theta, self.reduce, self.temperature),
            'disc_acc': discrimination_per_pair(g[:b], g[b:], theta)}


@dataclasses.dataclass(frozen=True)
class PeerNormalized:
  """An objective plus peer normalization of its positives (the reference FF-MLP's
  add-on): loss + weight * peer loss; the state is every neuron's running mean."""
  base: Any
  weight: float
  momentum: float = 0.9

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
    peer, state = peer_norm_loss(a_2BxN[:a_2BxN.shape[0] // 2], state, self.momentum)
    return loss + self.weight * peer, dict(metrics, peer=peer), state

  def per_example(self, a_2BxN, y_B, head):
    return self.base.per_example(a_2BxN, y_B, head)


@dataclasses.dataclass(frozen=True)
class HeadCrossEntropy:
  """One pass, no label in the input (ASGE, per-class goodness, channel groups): the
  unit's own head turns its activations into class logits, trained by cross-entropy."""
  label_in_input = False

  def init_state(self, a_shape):
    return None

  def loss(self, a_BxHxWxC, y_B, head, state):
    logits = head(a_BxHxWxC)
    loss = cross_entropy(logits, y_B)
    return loss, {'loss': loss, 'acc': jnp.mean(jnp.argmax(logits, -1) == y_B)}, state

  def per_example(self, a_BxHxWxC, y_B, head):
    logits = head(a_BxHxWxC)
    return {'loss': optax.softmax_cross_entropy_with_integer_labels(logits, y_B), 'logits': logits}


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
    loss = cross_entropy(logits, y_B)
    return loss, {'loss_head': loss, 'acc_head': jnp.mean(jnp.argmax(logits, -1) == y_B)}
