"""The stack of units and its heads (parameters), and its forward pass (locality).

`forward` is where locality lives: unit l takes `stop_gradient(h)` of the previous
unit's output wherever `cuts[l]` is True. Forward-Forward cuts before every unit, so
the gradient of unit l's loss reaches unit l's parameters and nothing else; hybrid
(scalable FF) cuts only before each block; backprop cuts nowhere. The cut pattern is
the method's (ffjax/method.py), the network only applies it.
"""
from __future__ import annotations

import math

import jax
from flax import nnx

from ffjax import units as units_lib


class Network(nnx.Module):
  """units: the locally trained stack; aux: each unit's own read-out head (one-pass
  objectives), or none; head: the linear classifier on unit outputs (the readout)."""

  def __init__(self, units, head: nnx.Linear | None, aux=(), *, skips=None,
               input_norm: str = 'none', remat: bool = False):
    self.units = nnx.List(units)
    self.aux = nnx.List(aux)
    self.head = head
    # skips[l] >= 0: unit l adds the input unit skips[l] received (a residual connection).
    self.skips = tuple(skips) if skips is not None else (-1,) * len(units)
    self.input_norm = input_norm  # the FF-MLP normalizes its input like a unit output
    self.remat = remat  # recompute each unit's activations in the backward pass (BP memory)


def forward(net: Network, x, cuts=None, key=None):
  """Runs the stack. Returns ([a_l], [h_l]): every unit's activations (what its loss
  sees) and normalized output (what the next unit receives). cuts[l]: stop_gradient
  at unit l's input (None: everywhere, as at evaluation, where it changes nothing).
  key: training's randomness inside units (dropout), one key per unit; None at
  evaluation."""
  walk, acts, hs = Walk(net, network_input(net, x), cuts, key), [], []
  while not walk.done:
    a, h = walk.next(remat=net.remat)
    acts.append(a)
    hs.append(h)
  return acts, hs


class Walk:
  """One pass over the units, a unit at a time: what unit l receives (the previous
  unit's output, cut where cuts[l] says), its residual input (the input unit
  net.skips[l] received, as it received it) and its key. Every pass (forward, the
  streamed step's, the readout's recomputation) is a Walk, so these rules are written
  once. `next` runs the unit (apply_unit); `enter` / `leave` let a caller run it its own
  way (the streamed step: the unit's gradient around it)."""

  def __init__(self, net: Network, h, cuts=None, key=None):
    self.net, self.h, self.l, self.key = net, h, 0, key
    self.seen: list = []  # what each unit received (residual inputs)
    self.cuts = (True,) * len(net.units) if cuts is None else tuple(cuts)

  @property
  def done(self) -> bool:
    return self.l >= len(self.net.units)

  def enter(self):
    """(unit, h, skip, key, cut) of unit l; h is its input as received (apply_unit cuts
    it where `cut`)."""
    l, h, cut = self.l, self.h, self.cuts[self.l]
    j = self.net.skips[l]
    skip = self.seen[j] if j >= 0 else None
    self.seen.append(jax.lax.stop_gradient(h) if cut else h)
    key = None if self.key is None else jax.random.fold_in(self.key, l)
    return self.net.units[l], h, skip, key, cut

  def leave(self, h_out) -> None:
    """Unit l's output, what unit l + 1 receives."""
    self.h, self.l = h_out, self.l + 1

  def next(self, remat: bool = False):
    """Runs unit l: (its activations, its output)."""
    unit, h, skip, key, cut = self.enter()
    a, h_out = apply_unit(unit, h, local=cut, remat=remat, skip=skip, key=key)
    self.leave(h_out)
    return a, h_out


def draws(net: Network) -> bool:
  """Some unit draws random numbers in training (dropout, or the pairs it makes)."""
  return any(getattr(u, 'dropout', 0.) or getattr(u, 'draws_pairs', False) for u in net.units)


def network_input(net: Network, x):
  """What the first unit receives: the image, normalized if the config asks."""
  return units_lib.NORMS[net.input_norm](x)


def apply_unit(unit, h, *, local: bool = True, remat: bool = False, skip=None, key=None):
  """One unit on the previous unit's output h. local: the unit takes stop_gradient(h),
  so no gradient of its loss reaches earlier units. Every path (forward, the streamed
  step that runs one unit at a time, a pipeline stage) goes through here. remat: keep
  only the unit's input for the backward pass and recompute the rest (jax.checkpoint).
  skip: a residual unit's second input, the input an earlier unit of its block received
  (as that unit received it: already cut where that unit's input was)."""
  h_in = jax.lax.stop_gradient(h) if local else h
  if remat:
    return nnx.remat(lambda u, x, s, k: u(x, s, key=k))(unit, h_in, skip, key)
  if key is None:  # units without randomness are called as they always were
    return unit(h_in, skip) if skip is not None else unit(h_in)
  return unit(h_in, skip, key=key)


def unit_type(config) -> type[units_lib.UnitType]:
  """The unit type config.model.kind names (units.UnitType; registry)."""
  from ffjax import registry
  return registry.get('unit', config.model.kind)


def unit_shapes(config, image_shape, *, activations: bool = False):
  """(H, W, C) of every unit's output, computed from config.model alone. activations:
  of what its loss reads instead (before the pool, with model.goodness_at='pre_pool')."""
  kind, m, hwc, out = unit_type(config), config.model, tuple(image_shape), []
  for l in range(len(m.widths)):
    out.append(kind.out_shape(m, l, hwc, activations))
    hwc = kind.out_shape(m, l, hwc) if activations else out[-1]
  return out


def input_shapes(config, image_shape) -> list:
  """(H, W, C) of what every unit receives: the image, then each unit's output."""
  return [tuple(image_shape)] + unit_shapes(config, image_shape)[:-1]


def build_units(config, image_shape, rngs: nnx.Rngs) -> list:
  """config.model -> the list of units, each built by its type (units.UnitType)."""
  kind, m = unit_type(config), config.model
  ins, outs = input_shapes(config, image_shape), unit_shapes(config, image_shape)
  skips = tuple(m.get('skips', ())) or (-1,) * len(m.widths)
  units = []
  for l in range(len(m.widths)):
    skip = None
    if skips[l] >= 0:  # (channels, stride) of the residual input it adds
      src_h, _, src_c = ins[skips[l]]
      skip = (src_c, src_h // outs[l][0])
    units.append(kind.from_config(m, l, ins[l], skip, rngs))
  return units


def feature_size(config, image_shape, units) -> int:
  """Length of the concatenated, flattened outputs of `units` (the readout's input)."""
  shapes = unit_shapes(config, image_shape)
  return sum(math.prod(shapes[l]) for l in units)
