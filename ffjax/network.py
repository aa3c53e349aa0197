"""The stack of units and its linear head, built from the config, and its forward pass.

`forward` is where locality lives: every unit takes `stop_gradient(h)` of the
previous unit's output when `local=True` (Forward-Forward), so the gradient of
unit l's loss reaches unit l's parameters and nothing else. `local=False` is the
backprop baseline: the same code, the same parameters, gradients flow end to end.
method='hybrid' (scalable FF) cuts only between blocks (`model.blocks`): a block's
loss, at its last unit, trains every unit of the block and nothing before it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ffjax import heads as heads_lib
from ffjax import objectives
from ffjax import units as units_lib


class Network(nnx.Module):
  """units: the locally trained stack; head: linear classifier on unit outputs (None
  where the method has no use for one); aux: one objective head per unit (ASGE's
  spatial heads), or none."""

  def __init__(self, units, head: nnx.Linear | None, head_units: tuple[int, ...],
               input_norm: str = 'none', aux=(), remat: bool = False, cuts=None, scored=None,
               skips=None, goodness_units=None):
    self.remat = remat  # recompute each unit's activations in the backward pass (BP memory)
    # cuts[l]: unit l's input is stop_gradient-ed in local training: every unit (ff), or
    # the first unit of each block (hybrid: backprop inside blocks, none between them).
    self.cuts = tuple(cuts) if cuts is not None else (True,) * len(units)
    # scored: the units whose own heads are trained and predict: all (ff), block ends (hybrid).
    self.scored = tuple(scored) if scored is not None else tuple(range(len(units)))
    # skips[l] >= 0: unit l adds the input unit skips[l] received (a residual connection).
    self.skips = tuple(skips) if skips is not None else (-1,) * len(units)
    self.units = nnx.List(units)
    self.head = head
    self.aux = nnx.List(aux)
    self.head_units = head_units  # which units' normalized outputs the head reads
    # which units' goodness the goodness predictor sums (threshold FF)
    self.goodness_units = tuple(goodness_units) if goodness_units is not None else head_units
    self.input_norm = input_norm  # the FF-MLP normalizes its input like a unit output


def forward(net: Network, x, *, local: bool = True):
  """Runs the stack. Returns ([y_l], [h_l]) for every unit l."""
  ys, hs = [], []
  h = network_input(net, x)
  inputs = []  # what each unit received: the source of later units' skips
  for l, (unit, cut) in enumerate(zip(net.units, net.cuts)):
    skip = inputs[net.skips[l]] if net.skips[l] >= 0 else None
    y, h_next = apply_unit(unit, h, local=local and cut, remat=net.remat, skip=skip)
    inputs.append(jax.lax.stop_gradient(h) if local and cut else h)
    h = h_next
    ys.append(y)
    hs.append(h)
  return ys, hs


def network_input(net: Network, x):
  """What the first unit receives: the image, normalized if the config asks."""
  return units_lib.NORMS[net.input_norm](x)


def apply_unit(unit, h, *, local: bool = True, remat: bool = False, skip=None):
  """One unit on the previous unit's output h. FF: the unit takes stop_gradient(h), so
  no gradient of its loss reaches earlier units. Every path (forward, and the streamed
  step that runs one unit at a time) goes through here. remat: keep only the unit's
  input for the backward pass and recompute the rest (jax.checkpoint). skip: a
  residual unit's second input, the input an earlier unit of its block received (as
  that unit received it: already cut where that unit's input was)."""
  h_in = jax.lax.stop_gradient(h) if local else h
  if remat:
    return nnx.remat(lambda u, x, s: u(x, s))(unit, h_in, skip)
  return unit(h_in, skip) if skip is not None else unit(h_in)


def head_features(hs, head_units):
  """Concatenated, flattened normalized outputs of the units the head reads."""
  return jnp.concatenate([hs[l].reshape(hs[l].shape[0], -1) for l in head_units], axis=-1)


# Objectives whose units score every class in one pass (no label in the input).
ONE_PASS = ('spatial', 'per_class', 'channel_groups')


def per_unit(value, n: int) -> tuple:
  """A config value given once for all units, or once per unit."""
  if isinstance(value, (tuple, list)):
    return tuple(value) if value else (None,) * n
  return (value,) * n


def unit_shapes(config, image_shape):
  """(H, W, C) of every unit's output y, computed from the config alone."""
  m = config.model
  n = len(m.widths)
  strides = tuple(s or 1 for s in per_unit(m.get('strides', ()), n))
  h, w, c = image_shape
  out = []
  for l in range(n):
    if m.kind == 'conv':
      h, w = -(-h // strides[l]) // m.pools[l], -(-w // strides[l]) // m.pools[l]
      c = m.widths[l]
    else:
      h, w, c = 1, 1, m.widths[l]
    out.append((h, w, c))
  return out


def grids(config, image_shape):
  """The ASGE grid P_l of every unit (objectives.adaptive_grid)."""
  o = config.objective
  shapes = unit_shapes(config, image_shape)
  c_max = max(c for _, _, c in shapes)
  return tuple(objectives.adaptive_grid(c, c_max, min(h, w), o.grid_min, o.alpha)
               for h, w, c in shapes)


def build(config, image_shape, num_classes: int, rngs: nnx.Rngs) -> Network:
  """config.model -> units; config.method and config.predict -> the head's inputs;
  config.objective -> the units' own heads."""
  m = config.model
  n = len(m.widths)
  h, w, c = image_shape
  norms = tuple(m.get('norms', ())) or per_unit(m.norm, n)
  strides = tuple(s or 1 for s in per_unit(m.get('strides', ()), n))
  out_shapes = unit_shapes(config, image_shape)
  units, shapes = [], []
  skips = tuple(m.get('skips', ())) or (-1,) * n
  acts = tuple(m.get('acts', ())) or ('relu',) * n
  depthwise = tuple(m.get('depthwise', ())) or (False,) * n
  se = tuple(m.get('se', ())) or (False,) * n
  groups = tuple(m.get('groups', ())) or (1,) * n
  in_shapes = [image_shape] + out_shapes[:-1]  # what each unit receives
  for l in range(n):
    if m.kind == 'conv':
      skip = None
      if skips[l] >= 0:
        src_h, _, src_c = in_shapes[skips[l]]
        skip = (src_c, src_h // out_shapes[l][0])
      unit = units_lib.ConvUnit(c, m.widths[l], m.kernels[l], stride=strides[l], pool=m.pools[l],
                                pool_kind=m.get('pool_kind', 'max'), norm=norms[l],
                                batch_norm=m.get('batch_norm', False), skip=skip,
                                act=acts[l], depthwise=bool(depthwise[l]), se=bool(se[l]),
                                conv_impl=m.get('conv_impl', 'auto'), groups=groups[l],
                                bn_position=m.get('bn_position', 'pre_act'),
                                dtype=m.get('dtype', 'float32'), rngs=rngs)
      h, w, c = out_shapes[l]
      shapes.append(h * w * c)
    elif m.kind == 'dense':
      unit = units_lib.DenseUnit(h * w * c if l == 0 else m.widths[l - 1], m.widths[l], norm=norms[l],
                                 full_grad_relu=m.full_grad_relu, init=m.init,
                                 dtype=m.get('dtype', 'float32'), rngs=rngs)
      h, w, c = 1, 1, m.widths[l]
      shapes.append(c)
    else:
      raise ValueError(f"model.kind must be 'conv' or 'dense', got {m.kind!r}")
    units.append(unit)
  kind = config.objective.get('kind', 'threshold')
  if config.method == 'bp' or kind in ONE_PASS:
    head_units = (n - 1,)  # backprop: a softmax layer on the last unit
  else:
    head_units = tuple(range(1 if config.predict.skip_first and n > 1 else 0, n))
  goodness_units = head_units
  if config.predict.get('head_units', 'all') == 'last':
    head_units = (n - 1,)  # a head that does not grow with depth (streamed memory stays flat)
  aux = []
  if kind in ONE_PASS:
    # Every unit reads out its own class logits. The heads and the backprop head on the
    # last unit exist in every mode (ff, hybrid, bp), so the three share one parameter
    # layout and a checkpoint of one can start another; a mode leaves the others' heads
    # untouched (zero gradients).
    chans = [shp[2] for shp in out_shapes]
    if kind == 'spatial':
      trained = config.objective.projection == 'trained'
      aux = [heads_lib.SpatialHead(chans[l], p, num_classes, trained=trained, rngs=rngs)
             for l, p in enumerate(grids(config, image_shape))]
    elif kind == 'per_class':
      aux = [heads_lib.ClassConvHead(ch, num_classes, kernel=config.objective.get('aux_kernel', 3),
                                     rngs=rngs) for ch in chans]
    else:
      aux = [heads_lib.ChannelGroupHead(ch, num_classes) for ch in chans]
  feat = sum(shapes[l] for l in head_units)
  kw = dict(kernel_init=nnx.initializers.zeros) if config.predict.head_zero_init else {}
  head = nnx.Linear(feat, num_classes, use_bias=config.predict.head_bias, rngs=rngs, **kw)
  blocks = block_ids(config)
  cuts = tuple(config.method != 'hybrid' or l == 0 or blocks[l] != blocks[l - 1] for l in range(n))
  scored = tuple(l for l in range(n) if config.method != 'hybrid' or l == n - 1
                 or blocks[l] != blocks[l + 1])
  return Network(units, head, head_units, m.input_norm, aux, remat=m.get('remat', False),
                 cuts=cuts, scored=scored, skips=skips, goodness_units=goodness_units)


def block_ids(config) -> tuple[int, ...]:
  """model.blocks, or every unit its own block."""
  n = len(config.model.widths)
  return tuple(config.model.get('blocks', ())) or tuple(range(n))
