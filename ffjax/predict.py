"""Predictors: class scores at evaluation time, pure functions of (network, encoder, x).

goodness  run the image once per candidate label (one vmapped pass over the K
          labels, no Python loop), sum the goodness of the scored units, argmax.
linear    one pass with the neutral label; the linear head on the normalized
          outputs of the scored units.
per-unit  (ASGE) one pass, no label: every unit's own head gives logits; 'last'
          takes the last unit's, 'fusion' averages the units' probabilities, 'best'
          takes the unit that was best on validation (chosen in train.evaluate).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ffjax import network as net_lib
from ffjax import objectives


def goodness_scores(net, encoder, x_BxHxWxC, scored_units):
  """G_BxK: summed goodness of the scored units for every candidate label."""
  x_KxB = encoder.embed_all(x_BxHxWxC)

  def one_label(x):
    ys, _ = net_lib.forward(net, x)
    return sum(objectives.goodness(ys[l]) for l in scored_units)

  return jax.vmap(one_label)(x_KxB).T


def goodness_scores_loop(net, encoder, x_BxHxWxC, scored_units):
  """The same scores, one label at a time: the reference the tests compare against."""
  cols = []
  for c in range(encoder.num_classes):
    ys, _ = net_lib.forward(net, encoder.embed(x_BxHxWxC, jnp.full(x_BxHxWxC.shape[:1], c)))
    cols.append(sum(objectives.goodness(ys[l]) for l in scored_units))
  return jnp.stack(cols, axis=1)


def linear_logits(net, encoder, x_BxHxWxC, *, local: bool = True):
  """logits_BxK of the linear head on the neutral-label input."""
  _, hs = net_lib.forward(net, encoder.embed_neutral(x_BxHxWxC), local=local)
  return net.head(net_lib.head_features(hs, net.head_units))


def unit_logits(net, x_BxHxWxC, *, local: bool = True):
  """logits_SxBxK: the heads of the scored units (net.scored: all units, or the block
  ends of a hybrid net) on their own activations (one pass, no label)."""
  ys, _ = net_lib.forward(net, x_BxHxWxC, local=local)
  return jnp.stack([net.aux[l](ys[l]) for l in net.scored])


def per_unit_predictions(logits_LxBxK, units=None):
  """{'u1': .., 'uL': .., 'last': .., 'fusion': ..}: class predictions of each strategy.
  units: the unit index of each row of logits (default 0, 1, ...)."""
  units = range(len(logits_LxBxK)) if units is None else units
  out = {f'u{l + 1}': jnp.argmax(lg, -1) for l, lg in zip(units, logits_LxBxK)}
  out['last'] = jnp.argmax(logits_LxBxK[-1], -1)
  out['fusion'] = jnp.argmax(objectives.fuse_probs(logits_LxBxK), -1)
  return out


def best_unit(accs_by_unit: dict) -> str:
  """'u<l>' with the highest accuracy ({'u1': 0.9, ..}); ties go to the earlier unit
  (cheaper to run)."""
  return max(sorted(accs_by_unit, key=lambda k: int(k[1:])), key=lambda k: accs_by_unit[k])
