"""Units: the locally trained pieces of a network, small nnx modules.

A unit maps its input to `(y, h_out)`:
  y      the activations its own loss looks at (after ReLU, and pooling if any);
  h_out  y normalized per example, what the next unit receives. Normalizing
         removes the length (the goodness) so the next unit can only use the
         pattern, not the previous unit's verdict.

A unit never calls `stop_gradient` itself: the network does it where a unit takes
its input (see network.forward), so one place decides what is local.

A unit type (config.model.kind) is its module class, registered by name
(`@registry.unit('conv')`) with what the rest of the trainer asks of it, all from
config.model and the unit's index (the `UnitType` protocol below): its settings'
check, its output shape, its FLOPs, and how to build unit l. A new unit type is a
class in its own file (ffjax/methods/) and nothing else names it.
"""
from __future__ import annotations

import math
from typing import ClassVar, Protocol

import jax
import jax.numpy as jnp
from flax import nnx

from ffjax import bernoulli
from ffjax import conv as ffconv
from ffjax import inits
from ffjax import pooling
from ffjax import registry
from ffjax.errors import need


class UnitType(Protocol):
  """What the trainer needs of a unit type besides calling it: `unit(h, skip=None,
  key=None) -> (a, h_out)` (a: what its loss reads; h_out: what the next unit receives).
  m is config.model, l the unit's index, hwc an (H, W, C) shape."""
  maps: ClassVar[bool]  # outputs H x W x C maps (pooled readouts and spatial heads read them)

  @classmethod
  def check(cls, m, in_ch: int) -> None:
    """Refuses this type's bad settings in m (a ConfigError naming the key)."""

  @classmethod
  def out_shape(cls, m, l: int, in_hwc, activations: bool = False) -> tuple:
    """(H, W, C) of unit l's output (or of what its loss reads: activations=True)."""

  @classmethod
  def flops(cls, m, l: int, in_hwc) -> float:
    """Unit l's forward FLOPs per example (2 x multiply-adds), for pipeline balancing."""

  @classmethod
  def from_config(cls, m, l: int, in_hwc, skip, rngs: nnx.Rngs):
    """Unit l; skip: (channels, stride) of its residual input, or None."""


def setting(m, key: str, l: int, default):
  """Unit l's value of a per-unit model field (empty or missing: default)."""
  v = m.get(key, ())
  if isinstance(v, (tuple, list)):
    return v[l] if v and v[l] is not None else default
  return v


def rms_norm(y, eps: float = 1e-8):
  """Hinton's normalization: divide each example by its root mean square."""
  axes = tuple(range(1, y.ndim))
  return y / (jnp.sqrt(jnp.mean(y * y, axis=axes, keepdims=True)) + eps)


def layer_norm(y, eps: float = 1e-5):
  """Ba et al.'s layer norm (no affine): zero mean, unit std per example."""
  axes = tuple(range(1, y.ndim))
  mu = jnp.mean(y, axis=axes, keepdims=True)
  var = jnp.mean(jnp.square(y - mu), axis=axes, keepdims=True)
  return (y - mu) * jax.lax.rsqrt(var + eps)


def stdnorm(y, eps: float = 1e-10):
  """Per example over everything but the batch axis: minus the mean, over eps + the
  unbiased std (torch.std: the SCFF authors' standardization, and the probe's)."""
  axes = tuple(range(1, y.ndim))
  n = math.prod(y.shape[1:])
  y = y - jnp.mean(y, axis=axes, keepdims=True)
  return y / (eps + jnp.sqrt(jnp.sum(jnp.square(y), axis=axes, keepdims=True) / (n - 1)))


def channel_norm(y, eps: float = 1e-5):
  """Layer norm over channels only, at every position (ASGE): each pixel's feature
  vector gets zero mean and unit std, so the next unit sees where, not how much."""
  mu = jnp.mean(y, axis=-1, keepdims=True)
  var = jnp.mean(jnp.square(y - mu), axis=-1, keepdims=True)
  return (y - mu) * jax.lax.rsqrt(var + eps)


NORMS = {'rms': rms_norm, 'layer': layer_norm, 'channel': channel_norm, 'none': lambda y: y}


def check_model(m, in_ch: int) -> None:
  """config.model's fields that every unit type has (widths, norms, init, dtype, skips,
  blocks), then the type's own (UnitType.check)."""
  n = len(m.widths)
  need(n >= 1, 'model.widths', m.widths, 'needs at least one unit')
  need(all(w > 0 for w in m.widths), 'model.widths', m.widths, 'sizes must be positive')
  need(m.get('dtype', 'float32') in ('float32', 'bfloat16'), 'model.dtype', m.get('dtype'),
       "must be 'float32' or 'bfloat16'")
  need(m.norm in NORMS, 'model.norm', m.norm, f'one of {sorted(NORMS)}')
  if m.get('norms'):
    need(len(m.norms) == n, 'model.norms', m.norms, 'needs one value per unit')
    need(all(x in NORMS for x in m.norms), 'model.norms', m.norms, f'each one of {sorted(NORMS)}')
  need(m.input_norm in NORMS, 'model.input_norm', m.input_norm, f'one of {sorted(NORMS)}')
  need(m.init in ('lecun', 'hinton', 'kaiming', 'xavier'), 'model.init', m.init,
       "must be 'lecun', 'hinton', 'kaiming' or 'xavier'")
  if m.get('skips'):
    need(len(m.skips) == n, 'model.skips', m.skips, 'needs one value per unit')
    need(all(-1 <= j < l for l, j in enumerate(m.skips)), 'model.skips', m.skips,
         'each -1 or the index of an earlier unit')
  if m.get('blocks'):
    need(len(m.blocks) == n, 'model.blocks', m.blocks, 'needs one block id per unit')
    need(all(b1 <= b2 for b1, b2 in zip(m.blocks, m.blocks[1:])), 'model.blocks', m.blocks,
         'block ids must not decrease (a block is a run of consecutive units)')
  if m.get('net'):
    registry.get('net', m.net)  # a network of that name exists (ffjax/nets/)
  registry.get('unit', m.kind).check(m, in_ch)


# Pools by name (ffjax/pooling.py: reshape-and-reduce; lax's reduce_window max pool
# gradient ran at half the FF-CNN's step on a CPU).
POOLS: dict = pooling.POOLS


def dropout(key, y, rate: float):
  """Inverted dropout: each value kept with probability 1 - rate and scaled by its
  inverse (training only: a unit drops nothing without a key)."""
  keep = bernoulli.bernoulli(key, 1. - rate, y.shape)  # jax.random.bernoulli's, fused on a CPU
  return jnp.where(keep, y / (1. - rate), 0.)


def relu(x, full_grad: bool = False):
  """ReLU; with full_grad the backward pass is the identity (the FF-MLP reference
  lets gradient through where the input is negative too)."""
  if full_grad:
    return x + jax.lax.stop_gradient(jax.nn.relu(x) - x)
  return jax.nn.relu(x)


def triangle(z_BxHxWxC):
  """ReLU of the map minus its mean over channels at each position (Coates et al.'s
  "triangle" k-means feature; what the SCFF authors pass on from their first units)."""
  return jax.nn.relu(z_BxHxWxC - jnp.mean(z_BxHxWxC, axis=-1, keepdims=True))


ACTS = {'relu': jax.nn.relu, 'hardswish': jax.nn.hard_swish, 'triangle': triangle,
        'none': lambda z: z}


class SqueezeExcite(nnx.Module):
  """MobileNetV3's channel gate: global mean -> 1x1 (C/4, ReLU) -> 1x1 (C, hard sigmoid)."""

  def __init__(self, ch: int, *, rngs: nnx.Rngs):
    mid = max(8, (ch // 4 + 4) // 8 * 8)  # a quarter of the channels, rounded to 8
    self.reduce = nnx.Linear(ch, mid, rngs=rngs, **inits.DENSE)
    self.expand = nnx.Linear(mid, ch, rngs=rngs, **inits.DENSE)

  def __call__(self, y_BxHxWxC):
    s_BxC = jnp.mean(y_BxHxWxC, axis=(1, 2))
    g_BxC = jax.nn.hard_sigmoid(self.expand(jax.nn.relu(self.reduce(s_BxC))))
    return y_BxHxWxC * g_BxC[:, None, None, :]


@registry.unit('conv')
class ConvUnit(nnx.Module):
  """conv (SAME, optional stride, optionally depthwise) -> [batch norm] -> [+ skip]
  -> activation -> [squeeze-excite] -> optional pool -> (y, normalized y).

  FF-CNN: max pool, layer norm over the whole map. ASGE: RMS pool, layer norm over
  channels at every position. ResNet: batch norm, skips. MobileNetV3: depthwise units,
  hard-swish, squeeze-excite, linear projections (act='none').

  ASGE's published code: goodness_at='pre_pool' (the loss reads the activation before
  the pool), average pooling, dropout on the output (before its normalization), RMS
  normalization. order='conv_norm_act' (the FF-CNN paper's figure): the normalization
  between the conv and the activation, and the output passed on as it is.
  """
  maps: ClassVar[bool] = True

  @classmethod
  def check(cls, m, in_ch: int) -> None:
    n = len(m.widths)
    need(m.goodness_at in ('output', 'pre_pool'), 'model.goodness_at', m.goodness_at,
         "must be 'output' or 'pre_pool'")
    need(0. <= m.dropout < 1., 'model.dropout', m.dropout, 'must be in [0, 1)')
    need(m.order in ('conv_act_norm', 'conv_norm_act'), 'model.order', m.order,
         "must be 'conv_act_norm' or 'conv_norm_act'")
    for key in ('kernels', 'pools') + (('strides',) if m.get('strides') else ()):
      need(len(m[key]) == n, f'model.{key}', m[key], 'needs one value per unit')
      need(all(k > 0 for k in m[key]), f'model.{key}', m[key], 'sizes must be positive')
    need(m.get('pool_kind', 'max') in POOLS, 'model.pool_kind', m.get('pool_kind'),
         f'one of {sorted(POOLS)}')
    for key in ('acts', 'depthwise', 'se', 'groups'):
      if m.get(key):
        need(len(m[key]) == n, f'model.{key}', m[key], 'needs one value per unit')
    need(all(a in ACTS for a in m.get('acts', ())), 'model.acts', m.get('acts'),
         f'each one of {sorted(ACTS)}')
    if m.get('depthwise'):
      ins = (None,) + tuple(m.widths[:-1])
      bad = [l for l in range(n) if m.depthwise[l] and l > 0 and m.widths[l] != ins[l]]
      need(not bad and not m.depthwise[0], 'model.depthwise', m.depthwise,
           f'a depthwise unit keeps its input channels (not the first unit; units {bad} change them)')
    if m.get('groups'):
      ins = (in_ch,) + tuple(m.widths[:-1])
      bad = [l for l, g in enumerate(m.groups) if g < 1 or ins[l] % g or m.widths[l] % g]
      need(not bad, 'model.groups', m.groups,
           f'a unit\'s input and output channels must be multiples of its groups (units {bad})')
    need(m.get('bn_position', 'pre_act') in ('pre_act', 'post_pool'), 'model.bn_position',
         m.get('bn_position'), "must be 'pre_act' or 'post_pool'")
    need(m.get('conv_impl', 'auto') in ('auto', 'lax', 'matmul'), 'model.conv_impl',
         m.get('conv_impl'), "must be 'auto', 'lax' or 'matmul'")

  @classmethod
  def out_shape(cls, m, l: int, in_hwc, activations: bool = False) -> tuple:
    h, w, _ = in_hwc
    s = setting(m, 'strides', l, 1) or 1
    hs, ws = -(-h // s), -(-w // s)  # SAME padding
    if activations and m.get('goodness_at', 'output') == 'pre_pool':
      return hs, ws, m.widths[l]
    return hs // m.pools[l], ws // m.pools[l], m.widths[l]

  @classmethod
  def flops(cls, m, l: int, in_hwc) -> float:
    h, w, c = in_hwc
    g = c if setting(m, 'depthwise', l, False) else setting(m, 'groups', l, 1)
    s = setting(m, 'strides', l, 1) or 1
    return 2. * -(-h // s) * -(-w // s) * m.kernels[l] ** 2 * (c // g) * m.widths[l]

  @classmethod
  def from_config(cls, m, l: int, in_hwc, skip, rngs: nnx.Rngs):
    norm = m.norms[l] if m.get('norms') else m.norm
    return cls(in_hwc[2], m.widths[l], m.kernels[l], stride=setting(m, 'strides', l, 1) or 1,
               pool=m.pools[l], pool_kind=m.get('pool_kind', 'max'), norm=norm,
               batch_norm=m.get('batch_norm', False), skip=skip, act=setting(m, 'acts', l, 'relu'),
               depthwise=bool(setting(m, 'depthwise', l, False)), se=bool(setting(m, 'se', l, False)),
               conv_impl=m.get('conv_impl', 'auto'), groups=setting(m, 'groups', l, 1),
               bn_position=m.get('bn_position', 'pre_act'), dtype=m.get('dtype', 'float32'),
               goodness_at=m.goodness_at, dropout=m.dropout, order=m.order,
               init=m.init if m.init in inits.CONV else 'lecun', rngs=rngs)

  def __init__(self, in_ch: int, width: int, kernel: int, *, stride: int = 1, pool: int = 1,
               pool_kind: str = 'max', norm: str = 'layer', batch_norm: bool = False,
               skip: tuple[int, int] | None = None, act: str = 'relu', depthwise: bool = False,
               se: bool = False, conv_impl: str = 'auto', groups: int = 1,
               bn_position: str = 'pre_act', dtype: str = 'float32', goodness_at: str = 'output',
               dropout: float = 0., init: str = 'lecun', order: str = 'conv_act_norm',
               rngs: nnx.Rngs):
    if depthwise and width != in_ch:
      raise ValueError(f'a depthwise unit keeps its {in_ch} channels, not {width}')
    groups = in_ch if depthwise else groups
    # Mixed precision: dtype 'bfloat16' runs the convolutions (the FLOPs) in bf16 and
    # returns their outputs as float32; parameters, batch norm, goodness and losses
    # stay float32 (a goodness is a sum over thousands of squares).
    self.dtype = jnp.dtype(dtype)
    conv_dtype = None if self.dtype == jnp.float32 else self.dtype
    # conv_impl 'matmul': the same convolution, its weight gradient written as matrix
    # products (ffjax/conv.py), faster under XLA:CPU for small kernels.
    self.conv = nnx.Conv(in_ch, width, (kernel, kernel), strides=stride, padding='SAME',
                         feature_group_count=groups, dtype=conv_dtype,
                         bias_init=inits.zeros, kernel_init=inits.CONV[init], rngs=rngs)
    self.goodness_at, self.dropout, self.order = goodness_at, dropout, order
    if conv_impl == 'auto':  # where conv_grad measured a gain: CPU, kernels up to 3x3,
      # grouped and depthwise convs of any kernel, kernels of 7 and more at stride 1
      cpu = jax.default_backend() == 'cpu'
      conv_impl = 'matmul' if cpu and (kernel <= 3 or groups > 1 or (kernel >= 7 and stride == 1)) else 'lax'
    self.use_matmul = conv_impl == 'matmul'
    self.groups = groups
    # Batch norm between conv and ReLU (bn_position 'pre_act'), or last, after the pool
    # ('post_pool', CwComp): batch statistics in training (running averages updated by
    # the trainer), the running averages in evaluation (net.eval()).
    self.bn = nnx.BatchNorm(width, momentum=0.9, rngs=rngs, **inits.NORM) if batch_norm else None
    self.bn_post = bn_position == 'post_pool'
    # Residual units (ResNet): skip = (channels, stride) of the earlier input added before
    # the ReLU; a 1x1 conv (+ batch norm) projects it when its shape differs.
    project = skip is not None and (skip[0] != width or skip[1] != 1)
    self.proj = (nnx.Conv(skip[0], width, (1, 1), strides=skip[1], use_bias=not batch_norm,
                          dtype=conv_dtype, rngs=rngs, **inits.DENSE)
                 if skip is not None and project else None)
    self.proj_bn = nnx.BatchNorm(width, momentum=0.9, rngs=rngs, **inits.NORM) if project and batch_norm else None
    self.se = SqueezeExcite(width, rngs=rngs) if se else None
    self.pool, self.pool_kind, self.norm, self.act, self.stride = pool, pool_kind, norm, act, stride

  def _conv(self, h):
    if not self.use_matmul:
      return self.conv(h).astype(jnp.float32)  # nnx.Conv casts its input and kernel to dtype
    return ffconv.of_module(self.conv, h, self.stride, self.groups,
                            materialize=self.bn is not None)  # batch norm: long input chains

  def __call__(self, h_BxHxWxC, skip_BxHxWxC=None, key=None):
    z = self._conv(h_BxHxWxC)
    z = self.bn(z) if self.bn is not None and not self.bn_post else z
    if self.order == 'conv_norm_act':
      z = NORMS[self.norm](z)
    if skip_BxHxWxC is not None:
      sk = skip_BxHxWxC
      if self.proj is not None:
        sk = ffconv.apply(self.proj, sk).astype(jnp.float32)
        sk = self.proj_bn(sk) if self.proj_bn is not None else sk
      z = z + sk
    y = ACTS[self.act](z)
    y = self.se(y) if self.se is not None else y
    a = y  # what the loss reads with goodness_at='pre_pool'
    if self.pool > 1:
      y = POOLS[self.pool_kind](y, self.pool)
    y = self.bn(y) if self.bn is not None and self.bn_post else y
    a = a if self.goodness_at == 'pre_pool' else y
    if self.dropout and key is not None:
      y = dropout(key, y, self.dropout)
    return a, (y if self.order == 'conv_norm_act' else NORMS[self.norm](y))


@registry.unit('dense')
class DenseUnit(nnx.Module):
  """flatten -> linear -> ReLU -> (y, normalized y)."""
  maps: ClassVar[bool] = False

  @classmethod
  def check(cls, m, in_ch: int) -> None:
    pass  # widths, norms, init and dtype are every unit type's (check_model)

  @classmethod
  def out_shape(cls, m, l: int, in_hwc, activations: bool = False) -> tuple:
    return 1, 1, m.widths[l]

  @classmethod
  def flops(cls, m, l: int, in_hwc) -> float:
    return 2. * math.prod(in_hwc) * m.widths[l]

  @classmethod
  def from_config(cls, m, l: int, in_hwc, skip, rngs: nnx.Rngs):
    norm = m.norms[l] if m.get('norms') else m.norm
    return cls(math.prod(in_hwc), m.widths[l], norm=norm, full_grad_relu=m.full_grad_relu,
               init=m.init, dtype=m.get('dtype', 'float32'), rngs=rngs)

  def __init__(self, in_features: int, width: int, *, norm: str = 'rms',
               full_grad_relu: bool = False, init: str = 'lecun', dtype: str = 'float32',
               rngs: nnx.Rngs):
    kw = dict(inits.DENSE, kernel_init=inits.normal_over_sqrt_out) if init == 'hinton' else dict(inits.DENSE)
    if jnp.dtype(dtype) != jnp.float32:  # the matrix product in dtype, the rest float32
      kw['dtype'] = jnp.dtype(dtype)
    self.linear = nnx.Linear(in_features, width, rngs=rngs, **kw)
    self.norm, self.full_grad_relu = norm, full_grad_relu

  def __call__(self, h, key=None):
    y = relu(self.linear(h.reshape(h.shape[0], -1)).astype(jnp.float32), self.full_grad_relu)
    return y, NORMS[self.norm](y)
