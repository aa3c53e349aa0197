"""The optimizer: one optax transform over the trainable parameters (nnx.Param only).

Groups, by where a parameter sits in the network:
  units   every unit and its own head (or one group per unit, when units have their own
          learning-rate factor or stop epoch: optim.unit_lr_scale, optim.unit_stop_epochs)
  head    the linear readout (its own optimizer name, learning rate and weight decay)
  frozen  the units of a linear probe (transfer.train='heads')
Batch-norm statistics and fixed projections are not parameters (other nnx variable
types): the trainer never hands them to the optimizer.

The learning rate lives in the optimizer's state (`ScaleByLrState.lr`), not in the
code: every member of a population of runs has its own, and one compiled step serves
them all (train.population). The schedule's shape (constant, or constant then a linear
cool-down) is a function of the step.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ffjax.errors import need

NAMES = ('adam', 'adamw', 'sgd')
SCHEDULES = ('constant', 'half_cooldown', 'cosine_epochs', 'exponential')
PER_UNIT = ('unit_lr_scale', 'unit_stop_epochs', 'unit_start_epochs', 'unit_weight_decay',
            'unit_decay_rate', 'unit_decay_every')


def check(o, num_units: int) -> None:
  """config.optim's own settings (num_units: the per-unit tuples' length)."""
  need(o.name in NAMES, 'optim.name', o.name, f'one of {NAMES}')
  need(o.get('head_name', '') in ('',) + NAMES, 'optim.head_name', o.get('head_name'),
       f"'' (as optim.name) or one of {NAMES}")
  need(o.lr > 0, 'optim.lr', o.lr, 'must be positive')
  need(o.schedule in SCHEDULES, 'optim.schedule', o.schedule, f'one of {SCHEDULES}')
  need(0 <= o.lr_min <= o.lr, 'optim.lr_min', o.lr_min, 'must be in [0, optim.lr]')
  for key in PER_UNIT:
    if o.get(key):
      need(len(o[key]) == num_units, f'optim.{key}', o[key], f'needs one value per unit ({num_units})')
      need(all(v >= 0 for v in o[key]), f'optim.{key}', o[key], 'values must be >= 0')
  need(o.get('decay_every', 1) >= 1 and all(v >= 1 for v in o.get('unit_decay_every', ())),
       'optim.decay_every', o.get('decay_every'), 'steps between decays: must be >= 1')
  starts, stops = o.get('unit_start_epochs', ()), o.get('unit_stop_epochs', ())
  if starts and stops:
    need(all(b == 0 or a < b for a, b in zip(starts, stops)), 'optim.unit_start_epochs', starts,
         'each before its unit\'s stop epoch (optim.unit_stop_epochs)')


class ScaleByLrState(NamedTuple):
  count: jax.Array  # type: ignore[assignment]  # a field, not tuple.count
  lr: jax.Array


def scale_by_lr(lr: float, shape: Callable) -> optax.GradientTransformation:
  """updates * -(lr * shape(count)), with lr in the state."""

  def init(params):
    del params
    return ScaleByLrState(jnp.zeros([], jnp.int32), jnp.asarray(lr, jnp.float32))

  def update(updates, state, params=None):
    del params
    f = -(state.lr * shape(state.count))
    updates = jax.tree.map(lambda u: (f * u).astype(u.dtype), updates)
    return updates, ScaleByLrState(optax.safe_int32_increment(state.count), state.lr)

  return optax.GradientTransformation(init, update)


def schedule_shape(kind: str, total_steps: int, steps_per_epoch: int = 1,
                   end_factor: float = 0., decay_rate: float = 1., decay_every: int = 1) -> Callable:
  """The learning rate's factor at a step: 1 ('constant'); 1 for the first half and then
  linearly down to 0 at the last step ('half_cooldown'); 'cosine_epochs': from 1 to
  end_factor (lr_min / lr) on a half cosine over the epochs, constant within an epoch
  (torch's CosineAnnealingLR stepped once per epoch, T_max = the number of epochs); or
  'exponential': decay_rate ** ((count + 1) // decay_every), torch's ExponentialLR stepped
  every decay_every batches as the SCFF authors count them (the first decay after batch
  decay_every - 1)."""
  if kind == 'constant':
    return lambda count: jnp.ones([], jnp.float32)
  if kind == 'exponential':
    return lambda count: jnp.asarray(decay_rate, jnp.float32) ** ((count + 1) // decay_every)
  if kind == 'cosine_epochs':
    epochs = max(total_steps // max(steps_per_epoch, 1), 1)
    return lambda count: end_factor + (1. - end_factor) * 0.5 * (
        1. + jnp.cos(jnp.pi * (count // steps_per_epoch) / epochs))
  half = total_steps // 2
  n = max(total_steps - half, 1)
  return lambda count: jnp.where(count < half, 1., 1. - jnp.clip(count - half, 0, n) / n)


class StartState(NamedTuple):
  count: jax.Array  # type: ignore[assignment]  # a field, not tuple.count
  inner: optax.OptState


def starting_at(start: int, tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """tx from step `start` on; before it, zero updates and tx's state untouched (so Adam's
  moments and bias correction start at the unit's first step, as a fresh optimizer's)."""
  if not start:
    return tx

  def init(params):
    return StartState(jnp.zeros([], jnp.int32), tx.init(params))

  def update(updates, state, params=None):
    new_updates, new_inner = tx.update(updates, state.inner, params)
    on = state.count >= start
    pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(on, x, y), a, b)
    return (pick(new_updates, jax.tree.map(jnp.zeros_like, updates)),
            StartState(optax.safe_int32_increment(state.count), pick(new_inner, state.inner)))

  return optax.GradientTransformation(init, update)


def _one_tx(name: str, lr: float, shape: Callable, momentum: float, weight_decay: float):
  if name == 'adamw':  # decoupled: -lr * (adam's direction + wd * p), as torch's AdamW
    parts = [optax.scale_by_adam()] + ([optax.add_decayed_weights(weight_decay)] if weight_decay else [])
    return optax.chain(*parts, scale_by_lr(lr, shape))
  # Coupled L2 (added to the gradient), as torch's SGD / Adam weight_decay.
  base = optax.trace(decay=momentum) if name == 'sgd' and momentum else (
      optax.scale_by_adam() if name == 'adam' else optax.identity())
  tx = optax.chain(base, scale_by_lr(lr, shape))
  return optax.chain(optax.add_decayed_weights(weight_decay), tx) if weight_decay else tx


def make_optimizer(o, *, num_units: int, total_steps: int, steps_per_epoch: int,
                   probe: bool = False):
  """config.optim -> (optax transform, lr(step) for the records)."""
  decay = dict(decay_rate=o.get('decay_rate', 1.), decay_every=o.get('decay_every', 1))
  shape = schedule_shape(o.schedule, total_steps, steps_per_epoch, o.lr_min / o.lr, **decay)
  head_lr = o.head_lr or o.lr
  # The head's schedule: the units' shape, but never an exponential decay (theirs is per unit).
  head_shape = shape if o.schedule != 'exponential' else schedule_shape('constant', total_steps)
  tx = {'units': _one_tx(o.name, o.lr, shape, o.momentum, o.weight_decay),
        'head': _one_tx(o.head_name or o.name, head_lr, head_shape, o.momentum, o.head_weight_decay),
        'frozen': optax.set_to_zero()}
  unit = lambda key, default: tuple(o.get(key, ())) or (default,) * num_units
  scales, stops, starts = unit('unit_lr_scale', 1.), unit('unit_stop_epochs', 0), unit('unit_start_epochs', 0)
  wds = unit('unit_weight_decay', o.weight_decay)
  rates, every = unit('unit_decay_rate', decay['decay_rate']), unit('unit_decay_every', decay['decay_every'])
  per_unit = any(o.get(key) for key in PER_UNIT)
  for l in range(num_units) if per_unit else ():
    # A unit trains from its start epoch to its stop epoch (CwComp's and SCFF's layer
    # schedules; SCFF's staged recipe), its schedule counted from its start.
    start, stop = starts[l] * steps_per_epoch, stops[l] * steps_per_epoch if stops[l] else None
    shape_l = schedule_shape(o.schedule, total_steps, steps_per_epoch, o.lr_min / o.lr,
                             decay_rate=rates[l], decay_every=every[l])
    f = lambda c, f=scales[l], stop=stop, shape_l=shape_l: (  # c: steps since its start
        shape_l(c) * f * (1. if stop is None else (c + start < stop)))
    tx[f'unit{l}'] = starting_at(start, _one_tx(o.name, o.lr, f, o.momentum, wds[l]))

  def group(path) -> str:
    keys = [getattr(k, 'key', None) for k in path]
    if keys[0] == 'head':
      return 'head'
    if probe and keys[0] == 'units':
      return 'frozen'  # transfer by linear probe: only the heads learn
    return f'unit{keys[1]}' if per_unit else 'units'  # a unit and its own head (aux) together

  label = lambda params: jax.tree_util.tree_map_with_path(lambda path, _: group(path), params)
  # lr(step) for the records, one compiled program: optax's schedules run op by op
  # otherwise, each op compiled on its first call (0.14 s of the first progress line).
  return optax.multi_transform(tx, label), jax.jit(lambda step: o.lr * shape(step))


def for_run(config, num_units: int, total_steps: int, steps_per_epoch: int):
  """The optimizer of a run (or of one population member: its own config), the one
  place a run's optimizer is made (the trainer, a member's initial state, the pipeline
  stages): config.optim, frozen units for a linear probe (transfer.train='heads')."""
  return make_optimizer(config.optim, num_units=num_units, total_steps=total_steps,
                        steps_per_epoch=steps_per_epoch, probe=config.transfer.train == 'heads')


def with_lr_of(state, fresh):
  """state, with the learning rates of `fresh` (a state built from the current config):
  a resumed run takes its config's, not the checkpoint's."""
  is_lr = lambda s: isinstance(s, ScaleByLrState)
  lrs = [s.lr for s in jax.tree.leaves(fresh['opt_state'], is_leaf=is_lr) if is_lr(s)]
  it = iter(lrs)
  opt = jax.tree.map(lambda s: s._replace(lr=next(it)) if is_lr(s) else s, state['opt_state'],
                     is_leaf=is_lr)
  return dict(state, opt_state=opt)
