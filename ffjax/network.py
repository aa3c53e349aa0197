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
  cuts = (True,) * len(net.units) if cuts is None else cuts
  acts, hs, inputs = [], [], Inputs(net)
  h = network_input(net, x)
  for l, (unit, cut) in enumerate(zip(net.units, cuts)):
    a, h_next = apply_unit(unit, h, local=cut, remat=net.remat, skip=inputs.skip(l),
                           key=None if key is None else jax.random.fold_in(key, l))
    inputs.add(jax.lax.stop_gradient(h) if cut else h)
    h = h_next
    acts.append(a)
    hs.append(h)
  return acts, hs


class Inputs:
  """What each unit has received so far: the source of residual skips. Every walk over
  the units (forward, the streamed step, the readout's recomputation) keeps one, so the
  skip rule is written once: unit l adds the input unit net.skips[l] received."""

  def __init__(self, net: Network):
    self.skips, self.seen = net.skips, []

  def skip(self, l: int):
    j = self.skips[l]
    return self.seen[j] if j >= 0 else None

  def add(self, h) -> None:
    self.seen.append(h)


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


def per_unit(value, n: int) -> tuple:
  """A config value given once for all units, or once per unit."""
  if isinstance(value, (tuple, list)):
    return tuple(value) if value else (None,) * n
  return (value,) * n


def unit_shapes(config, image_shape, *, activations: bool = False):
  """(H, W, C) of every unit's output, computed from config.model alone. activations:
  of what its loss reads instead (before the pool, with model.goodness_at='pre_pool')."""
  m = config.model
  n = len(m.widths)
  strides = tuple(s or 1 for s in per_unit(m.get('strides', ()), n))
  h, w, c = image_shape
  out = []
  pre = activations and m.get('goodness_at', 'output') == 'pre_pool'
  for l in range(n):
    if m.kind == 'conv':
      hs, ws = -(-h // strides[l]), -(-w // strides[l])
      h, w = hs // m.pools[l], ws // m.pools[l]
      c = m.widths[l]
      out.append((hs, ws, c) if pre else (h, w, c))
    else:
      h, w, c = 1, 1, m.widths[l]
      out.append((h, w, c))
  return out


def build_units(config, image_shape, rngs: nnx.Rngs) -> list:
  """config.model -> the list of units (conv or dense)."""
  m = config.model
  n = len(m.widths)
  h, w, c = image_shape
  norms = tuple(m.get('norms', ())) or per_unit(m.norm, n)
  strides = tuple(s or 1 for s in per_unit(m.get('strides', ()), n))
  out_shapes = unit_shapes(config, image_shape)
  skips = tuple(m.get('skips', ())) or (-1,) * n
  acts = tuple(m.get('acts', ())) or ('relu',) * n
  depthwise = tuple(m.get('depthwise', ())) or (False,) * n
  se = tuple(m.get('se', ())) or (False,) * n
  groups = tuple(m.get('groups', ())) or (1,) * n
  in_shapes = [tuple(image_shape)] + out_shapes[:-1]  # what each unit receives
  units = []
  for l in range(n):
    if m.kind == 'conv':
      skip = None
      if skips[l] >= 0:
        src_h, _, src_c = in_shapes[skips[l]]
        skip = (src_c, src_h // out_shapes[l][0])
      units.append(units_lib.ConvUnit(
          c, m.widths[l], m.kernels[l], stride=strides[l], pool=m.pools[l],
          pool_kind=m.get('pool_kind', 'max'), norm=norms[l], batch_norm=m.get('batch_norm', False),
          skip=skip, act=acts[l], depthwise=bool(depthwise[l]), se=bool(se[l]),
          conv_impl=m.get('conv_impl', 'auto'), groups=groups[l],
          bn_position=m.get('bn_position', 'pre_act'), dtype=m.get('dtype', 'float32'),
          goodness_at=m.goodness_at, dropout=m.dropout, order=m.order,
          init='kaiming' if m.init == 'kaiming' else 'lecun', rngs=rngs))
      h, w, c = out_shapes[l]
    elif m.kind == 'dense':
      units.append(units_lib.DenseUnit(h * w * c if l == 0 else m.widths[l - 1], m.widths[l],
                                       norm=norms[l], full_grad_relu=m.full_grad_relu, init=m.init,
                                       dtype=m.get('dtype', 'float32'), rngs=rngs))
      h, w, c = 1, 1, m.widths[l]
    else:
      raise ValueError(f"model.kind must be 'conv' or 'dense', got {m.kind!r}")
  return units


def feature_size(config, image_shape, units) -> int:
  """Length of the concatenated, flattened outputs of `units` (the readout's input)."""
  shapes = unit_shapes(config, image_shape)
  return sum(math.prod(shapes[l]) for l in units)
