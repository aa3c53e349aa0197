"""Predictors: class scores at evaluation time, pure functions of (network, encoder, x).

Each returns {name: scores_BxK}; the prediction is the argmax of each.
goodness  run the image once per candidate label (one vmapped pass over the K
          labels, no Python loop), sum the goodness of `units`, argmax.
linear    one pass with the neutral label; the linear head on the normalized
          outputs of `units`.
per_unit  (one-pass objectives: ASGE, per-class goodness, channel groups) one pass, no
          label: every scored unit's own head gives logits 'u<l>'; 'last' takes the last
          unit's, 'fusion' averages the units' probabilities. 'best' (the unit best on
          validation) is chosen by the evaluation (ffjax/evaluate.py) from the 'u<l>'.
A predictor is registered by name (`@registry.predictor('goodness')`) as
f(method, net, encoder, x, acts=None) -> {prediction name: scores_BxK}; an objective
names the predictors it makes possible (objectives.Objective.predictors) and the method
binds its units to them (ffjax/method.py, Method.predictor_fns). acts: the activations
of x when the evaluation has them already (one-pass objectives).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ffjax import metrics as metrics_lib
from ffjax import network as net_lib
from ffjax import goodness as gd
from ffjax import registry
from ffjax.errors import need

if TYPE_CHECKING:  # for the annotations only (method.py imports this module)
  from ffjax.method import Method


def check(p, unit_kind: str, unit_maps: bool) -> None:
  """config.predict: the readout's form (pooled_sum pools units' maps), the units the
  head reads, the goodness predictor's scale."""
  need(p.readout in ('concat', 'pooled_sum'), 'predict.readout', p.readout,
       "must be 'concat' or 'pooled_sum'")
  if p.readout == 'pooled_sum':
    need(unit_maps, 'predict.readout', p.readout,
         f"pools units' maps: model.kind={unit_kind!r} has none")
  need(p.get('head_units', 'all') in ('all', 'last'), 'predict.head_units',
       p.get('head_units'), "must be 'all' or 'last'")
  need(p.goodness_scale in ('none', 'theta'), 'predict.goodness_scale', p.goodness_scale,
       "must be 'none' or 'theta'")


@registry.predictor('goodness')
def goodness(method: Method, net, encoder, x, acts=None) -> dict:
  return {'goodness': goodness_scores(net, encoder, x, method.goodness_units,
                                      method.goodness_per_theta)}


@registry.predictor('linear')
def linear(method: Method, net, encoder, x, acts=None) -> dict:
  return {'linear': linear_logits(net, encoder, x, method.readout)}


@registry.predictor('per_unit')
def per_unit(method: Method, net, encoder, x, acts=None) -> dict:
  return per_unit_scores(unit_logits(net, x, method.scored, acts), method.scored)


@dataclasses.dataclass(frozen=True)
class Calibration:
  """What a predictor learns on other images than those it scores, registered beside it
  (`@registry.calibration(name)`) and run by the evaluation, which names no predictor.
  fit_on: 'calib' (training images: the calibration set), or 'val' (the validation split
  when the round has one, else the training images; later splits reuse its choice).
  keeps: the predictor's scores kept per example for it (scores_<name>).
  fit(out, y) -> state, from a split's per-example outputs and labels.
  apply(out, state) -> {pred_<name>: per-example predictions} added to a split's.
  record_key: where the state goes in the split's record ('' : not recorded), and
  where a later round (test after val) finds it."""
  fit_on: str
  fit: Callable
  apply: Callable
  keeps: bool = False
  record_key: str = ''


# The goodness predictor, calibrated: each label's mean goodness on training images taken
# off before the argmax (a label that makes every image good does not win every vote).
# Recorded in the validation record, so that the test split of the same parameters reuses
# it instead of scoring the calibration images again.
registry.calibration('goodness')(Calibration(
    'calib', fit=lambda out, y: out['scores_goodness'].mean(0).tolist(),
    apply=lambda out, offsets_K: {'pred_goodness_centered': np.argmax(
        out['scores_goodness'] - np.asarray(offsets_K, np.float32), -1)}, keeps=True,
    record_key='goodness_offsets'))


def _unit_accuracies(out, y) -> dict:
  return {k[len('pred_'):]: float((out[k] == y).mean()) for k in metrics_lib.unit_keys(out, 'pred')}


# The per-unit predictors' 'best': the unit best on validation (or, without a validation
# split, on training images), the same unit on test.
registry.calibration('per_unit')(Calibration(
    'val', fit=lambda out, y: best_unit(_unit_accuracies(out, y)),
    apply=lambda out, unit: {'pred_best': out[f'pred_{unit}']}, record_key='best_unit'))


def goodness_scores(net, encoder, x_BxHxWxC, units, per_theta: bool = False):
  """G_BxK: summed goodness of `units` for every candidate label. per_theta: each unit's
  goodness divided by its threshold theta (its number of neurons), so that a unit with a
  larger map (no pooling) does not outvote the others."""
  def one_label(x):
    acts, _ = net_lib.forward(net, x)
    return sum(gd.goodness(acts[l]) / (gd.num_neurons(acts[l]) if per_theta else 1.)
               for l in units)

  if jax.default_backend() == 'cpu':
    # One label at a time: K x B images at once leave a CPU's caches for memory (the
    # quick run's evaluation: 655 -> 520 ms for 500 images); a GPU wants them all at once.
    return jax.lax.map(lambda c: one_label(encoder.embed(x_BxHxWxC, jnp.full(x_BxHxWxC.shape[:1], c))),
                       jnp.arange(encoder.num_classes)).T
  return jax.vmap(one_label)(encoder.embed_all(x_BxHxWxC)).T


def goodness_scores_loop(net, encoder, x_BxHxWxC, units):
  """The same scores, one label at a time: the reference the tests compare against."""
  cols = []
  for c in range(encoder.num_classes):
    acts, _ = net_lib.forward(net, encoder.embed(x_BxHxWxC, jnp.full(x_BxHxWxC.shape[:1], c)))
    cols.append(sum(gd.goodness(acts[l]) for l in units))
  return jnp.stack(cols, axis=1)


def linear_logits(net, encoder, x_BxHxWxC, readout):
  """logits_BxK of the linear head on the neutral-label input (the readout says which
  units' outputs it reads, and how: objectives.Readout)."""
  _, hs = net_lib.forward(net, encoder.embed_neutral(x_BxHxWxC))
  return readout.logits(net.head, hs)


def unit_logits(net, x_BxHxWxC, units, acts=None):
  """logits_SxBxK: the own heads of `units` on their activations (one pass, no label).
  acts: the activations of x if already computed."""
  acts = net_lib.forward(net, x_BxHxWxC)[0] if acts is None else acts
  return jnp.stack([net.aux[l](acts[l]) for l in units])


def per_unit_scores(logits_SxBxK, units) -> dict:
  """{'u1': .., 'uL': .., 'last': .., 'fusion': ..}: scores of each strategy (units: the
  unit index of each row of logits). fusion's scores are the mean probabilities."""
  out = {metrics_lib.unit_tag(l): lg for l, lg in zip(units, logits_SxBxK)}
  out['last'] = logits_SxBxK[-1]
  out['fusion'] = gd.fuse_probs(logits_SxBxK)
  return out


def per_unit_predictions(logits_SxBxK, units=None):
  """Class predictions of each per-unit strategy (units default 0, 1, ...)."""
  units = range(len(logits_SxBxK)) if units is None else units
  return {k: jnp.argmax(v, -1) for k, v in per_unit_scores(logits_SxBxK, units).items()}


def best_unit(accs_by_unit: dict) -> str:
  """'u<l>' with the highest accuracy ({'u1': 0.9, ..}); ties go to the earlier unit
  (cheaper to run)."""
  return max(sorted(accs_by_unit, key=lambda k: metrics_lib.unit_of(k) or 0), key=lambda k: accs_by_unit[k])
