"""Goodness and the losses built on it: pure functions of a unit's activations `a`.

Threshold goodness (FF-CNN, FF-MLP):
  G = sum of a^2 over all neurons of the unit, theta = number of neurons,
  p(positive) = sigmoid(G - theta),
  loss = softplus(theta - G_pos) + softplus(G_neg - theta), averaged over the batch.
`reduce='mean_all'` instead averages the binary cross-entropy over the 2B
examples (half the above), as the reference FF-MLP implementation does; it
matters for plain SGD, not for Adam.

ASGE's spatial goodness and the per-class goodness of scalable FF and CwComp are
here too; the objectives that use them (objectives.py) and the heads that compute
them (heads.py) import this module, not each other.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax


def goodness(a):
  """G_B: sum of squares over every axis but the batch axis."""
  return jnp.sum(jnp.square(a), axis=tuple(range(1, a.ndim)))


def num_neurons(a) -> int:
  """The threshold theta of a unit: its neurons per example."""
  n = 1
  for d in a.shape[1:]:
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


def peer_norm_loss(a_pos_BxN, running_mean_N, momentum: float = 0.9):
  """Peer normalization of the reference FF-MLP: keeps every neuron's running mean
  activity on positives near the unit's average, so no neuron dies or dominates.

  Returns (loss, new running mean); the old running mean is a constant.
  """
  mean_N = jnp.mean(a_pos_BxN.reshape(a_pos_BxN.shape[0], -1), axis=0)
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


def _edges(n: int, grid: int):
  """Where the grid's patches split an axis of n (adaptive pooling)."""
  return [(p * n) // grid for p in range(grid + 1)]


def patch_matrix(size: int, grid: int):
  """A_PxS: row p averages the pixels of patch p along one axis. Patches split the
  axis at floor(p * size / grid) (adaptive pooling), so any size and grid fit."""
  edges = _edges(size, grid)
  rows = [[1. / (edges[p + 1] - edges[p]) if edges[p] <= i < edges[p + 1] else 0.
           for i in range(size)] for p in range(grid)]
  return jnp.asarray(rows, jnp.float32)


def spatial_goodness(a_BxHxWxC, grid: int):
  """g_Bx(P*P*C): mean of a^2 over every patch of a P x P grid, per channel.

  The paper sums a^2 in a patch; the mean differs from it by the patch area, a
  constant per unit that the linear map absorbs, and it keeps every unit's
  goodness on the scale of its activations.
  """
  _, h, w, _ = a_BxHxWxC.shape
  if jax.default_backend() == 'cpu':
    g = patch_means(jnp.square(a_BxHxWxC), grid)
  else:
    a_h, a_w = patch_matrix(h, grid), patch_matrix(w, grid)
    g = jnp.einsum('ph,qw,bhwc->bpqc', a_h, a_w, jnp.square(a_BxHxWxC))
  return g.reshape(g.shape[0], -1)


def _means_along(x, axis: int, grid: int):
  """Means over the grid's patches along an axis: sums of its rows (elementwise, one
  loop), stacked on that axis."""
  e = _edges(x.shape[axis], grid)
  take = lambda i: jax.lax.index_in_dim(x, i, axis, keepdims=False)  # noqa: E731
  parts = [sum((take(i) for i in range(e[p] + 1, e[p + 1])), take(e[p])) * (1. / (e[p + 1] - e[p]))
           for p in range(grid)]
  return jnp.stack(parts, axis)


def _spread_along(g, axis: int, n: int, grid: int):
  """The gradient of _means_along: each patch's value over its rows, / its size."""
  e = _edges(n, grid)
  parts = []
  for p in range(grid):
    v = jax.lax.slice_in_dim(g, p, p + 1, axis=axis) * (1. / (e[p + 1] - e[p]))
    shape = list(g.shape)
    shape[axis] = e[p + 1] - e[p]
    parts.append(jnp.broadcast_to(v, shape))
  return jnp.concatenate(parts, axis)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def patch_means(x_BxHxWxC, grid: int):
  """x's means over a grid x grid patches (patch_matrix's), B x P x P x C, summed in
  float32. What the einsum with patch_matrix computes, as sums of rows: on XLA:CPU the
  einsum is two matrix products of an 8-channel-strided transpose of x, 2-12x slower
  forward, and its gradient 2-7x slower (ASGE's 28 x 28 x 32: 4.9 -> 2.1 ms; RESULTS 32)."""
  x = x_BxHxWxC.astype(jnp.promote_types(x_BxHxWxC.dtype, jnp.float32))
  return _means_along(_means_along(x, 1, grid), 2, grid).astype(x_BxHxWxC.dtype)


def _patch_means_fwd(x, grid):
  return patch_means(x, grid), jnp.zeros(x.shape[1:3] + (0,), x.dtype)  # H, W: no data


def _patch_means_bwd(grid, hw, g_BxPxPxC):
  h, w = hw.shape[:2]
  return (_spread_along(_spread_along(g_BxPxPxC, 2, w, grid), 1, h, grid).astype(hw.dtype),)


patch_means.defvjp(_patch_means_fwd, _patch_means_bwd)


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
