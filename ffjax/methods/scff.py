"""SCFF: self-contrastive Forward-Forward (Chen et al., Nature Communications 2025).

Unsupervised: no label enters the network. Positives and negatives are made of the
images themselves, and a linear readout on the (detached) unit outputs is the only
thing that sees labels. Read from the authors' public code (not copied):

  pairs        an image beside itself (positive) and beside another image of the batch
               (negative: image i with image i + k mod B, one shift k in 1..B-1 drawn
               anew each step), side by side on 2C channels, standardized jointly per
               example; a unit applies the same filters to both halves and adds them
  goodness     per position, the mean over channels of relu(z)^2 (before the pool)
  loss         mean softplus(theta+ - g+) + mean softplus(g- - theta-) over examples and
               positions, + lambda * mean over examples of ||g+||_2 (over positions):
               thresholds and lambda one per unit (objective.scff_theta_pos / _neg /
               scff_lambda)

Two ways to run it:
  ScffConv     (model.kind='scff_conv', configs/scff.py's CIFAR-10): the authors' layer,
               proven against their code (tests/test_scff_authors.py): each unit makes
               its pairs where model.pair_at says, reflect padding, standardization after
               the padding (unbiased std), the halves' convs added (so the bias counts
               twice: W * (x1 + x2) + 2b), triangle or ReLU passed on, pools with padding.
  pair()       with ffjax's other units (conv, dense; configs/scff.py's MNIST): pairs made
               once, at the input, as one C-channel image (A + B - 2 mean) / std: what a
               unit's filters see of [A | B] up to the bias, which the authors' layer adds
               twice and an ordinary unit once; later units see both streams.
The readout trained with the units is a monitor; the authors read frozen units with
their own readout after training: ffjax/probe.py (config.probe).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from ffjax import inits
from ffjax import objectives
from ffjax import registry
from ffjax import units
from ffjax.errors import need
from ffjax.units import setting, stdnorm


def standardize(x_BxHxWxC, eps: float = 1e-10):
  """Per example, over everything but the batch axis: zero mean, unit std."""
  axes = tuple(range(1, x_BxHxWxC.ndim))
  mu = jnp.mean(x_BxHxWxC, axis=axes, keepdims=True)
  sd = jnp.sqrt(jnp.mean(jnp.square(x_BxHxWxC - mu), axis=axes, keepdims=True))
  return (x_BxHxWxC - mu) / (sd + eps)


def pair(a_BxHxWxC, b_BxHxWxC, eps: float = 1e-10):
  """(A + B - 2 m) / s, with m and s the mean and std of [A, B] (both halves) per
  example: what a unit sees of the two images side by side, its filters shared."""
  axes = tuple(range(1, a_BxHxWxC.ndim))
  m = 0.5 * (jnp.mean(a_BxHxWxC, axes, keepdims=True) + jnp.mean(b_BxHxWxC, axes, keepdims=True))
  var = 0.5 * (jnp.mean(jnp.square(a_BxHxWxC - m), axes, keepdims=True) +
               jnp.mean(jnp.square(b_BxHxWxC - m), axes, keepdims=True))
  return (a_BxHxWxC + b_BxHxWxC - 2. * m) / (jnp.sqrt(var) + eps)


@dataclasses.dataclass(frozen=True)
class SelfContrast:
  """The label encoder of SCFF: no label; pairs of images instead. in_units: the units
  make the pairs themselves (scff_conv, the authors' layer): the images go in as they are."""
  num_classes: int
  kind: str = 'self_contrast'
  in_units: bool = False
  label_in_input: ClassVar[bool] = False

  def pairs(self, x_BxHxWxC, key):
    """[positives; negatives], 2B rows: pair(x, x) and pair(x, x shifted by k)."""
    if self.in_units:
      return x_BxHxWxC
    s = standardize(x_BxHxWxC)
    k = jax.random.randint(key, (), 1, max(2, s.shape[0]))
    return jnp.concatenate([pair(s, s), pair(s, jnp.roll(s, k, axis=0))])

  def embed_neutral(self, x_BxHxWxC):
    """What the readout reads the units on: the image paired with itself."""
    if self.in_units:
      return x_BxHxWxC
    s = standardize(x_BxHxWxC)
    return pair(s, s)

  def embed(self, x_BxHxWxC, y_B):
    raise TypeError('SCFF puts no label into the input')

  def embed_all(self, x_BxHxWxC):
    raise TypeError('SCFF puts no label into the input')


@registry.encoder('self_contrast')
class _SelfContrastKind:
  label_in_input = False
  makes_pairs = True
  hparams = ()

  @staticmethod
  def check(cfg):
    pass

  @staticmethod
  def make(cfg, num_classes, height, width):
    return SelfContrast(num_classes)


def position_goodness(a):
  """g: the mean over channels (the last axis) of a^2, at every position: B x H x W for
  conv units, B for dense ones."""
  return jnp.mean(jnp.square(a), axis=-1)


def scff_parts(g_pos, g_neg, theta_pos, theta_neg, lam):
  """Per example, the loss's three terms: softplus(theta+ - g+) and softplus(g- - theta-)
  averaged over its positions, and lambda * ||g+||_2 over its positions."""
  over = lambda v: jnp.mean(v.reshape(v.shape[0], -1), axis=1)
  norm = jnp.sqrt(jnp.sum(jnp.square(g_pos.reshape(g_pos.shape[0], -1)), axis=1))
  return (over(jax.nn.softplus(theta_pos - g_pos)), over(jax.nn.softplus(g_neg - theta_neg)),
          lam * norm)


def scff_terms(g_pos, g_neg, theta_pos, theta_neg, lam):
  """Per example: the sum of scff_parts."""
  return sum(scff_parts(g_pos, g_neg, theta_pos, theta_neg, lam))


def _per_unit(value, unit: int) -> float:
  """A setting given once for every unit, or once per unit."""
  if isinstance(value, (tuple, list)):
    return float(value[unit])
  return float(value)


@registry.objective('scff')
@dataclasses.dataclass(frozen=True)
class SCFF(objectives.Objective):
  theta_pos: float = 1.
  theta_neg: float = 2.
  lam: float = 0.
  pairs: ClassVar[bool] = True
  label_in_input: ClassVar[bool] = False
  predictors: ClassVar[tuple] = ('linear',)

  @classmethod
  def check(cls, config, num_classes):
    o, n = config.objective, len(config.model.widths)
    for key in ('scff_theta_pos', 'scff_theta_neg', 'scff_lambda'):
      v = o.get(key, 0.)
      if isinstance(v, (tuple, list)):
        need(len(v) == n, f'objective.{key}', v, f'needs one value per unit ({n})')
    lam = o.get('scff_lambda', 0.)
    need(all(x >= 0 for x in (lam if isinstance(lam, (tuple, list)) else (lam,))),
         'objective.scff_lambda', lam, 'must be >= 0')

  @classmethod
  def from_config(cls, config, unit):
    o = config.objective
    return cls(_per_unit(o.get('scff_theta_pos', 1.), unit),
               _per_unit(o.get('scff_theta_neg', 2.), unit),
               _per_unit(o.get('scff_lambda', 0.), unit))

  def _split(self, a_2Bx):
    return objectives.halves(position_goodness(a_2Bx))

  def _disc(self, g_pos, g_neg):
    """Per pair: 0, 0.5 or 1 of the two judged right, an example's mean goodness
    against the middle of the two thresholds."""
    mid = 0.5 * (self.theta_pos + self.theta_neg)
    mean = lambda v: jnp.mean(v.reshape(v.shape[0], -1), axis=1)
    return 0.5 * ((mean(g_pos) > mid).astype(jnp.float32) + (mean(g_neg) <= mid))

  def loss(self, a_2Bx, y_B, head, state):
    g_pos, g_neg = self._split(a_2Bx)
    pos, neg, reg = (jnp.mean(t) for t in scff_parts(g_pos, g_neg, self.theta_pos,
                                                      self.theta_neg, self.lam))
    loss = pos + neg + reg
    # The terms apart (loss = pos + neg + reg) and the mean goodness of each side.
    return loss, {'loss': loss, 'loss_pos': pos, 'loss_neg': neg, 'loss_reg': reg,
                  'g_pos': jnp.mean(g_pos), 'g_neg': jnp.mean(g_neg),
                  'disc_acc': jnp.mean(self._disc(g_pos, g_neg))}, state

  def per_example(self, a_2Bx, y_B, head):
    g_pos, g_neg = self._split(a_2Bx)
    return {'loss': scff_terms(g_pos, g_neg, self.theta_pos, self.theta_neg, self.lam),
            'disc_acc': self._disc(g_pos, g_neg)}


# The authors' layer (ContrastFF_CIFAR.py's Conv2d and its loop), as a unit type.

def draw_shift(key, b: int):
  """The negatives' shift k in 1..B-1: image i is paired with image (i + k) mod B."""
  return jax.random.randint(key, (), 1, max(2, b))


def halves(s_BxHxWxC, key=None):
  """[s | s] on 2C channels (the positives), and with a key [s | s]; [s | s shifted]
  (the negatives: image i beside image i + k mod B): get_pos_neg_batch_imgcats(s, s)."""
  pos = jnp.concatenate([s_BxHxWxC, s_BxHxWxC], -1)
  if key is None:
    return pos
  k = draw_shift(key, s_BxHxWxC.shape[0])
  neg = jnp.concatenate([s_BxHxWxC, jnp.roll(s_BxHxWxC, -k, axis=0)], -1)
  return jnp.concatenate([pos, neg])


def pool2d(y_BxHxWxC, kind: str, k: int, stride: int, pad: int):
  """torch's MaxPool2d / AvgPool2d(k, stride, pad) (max pads with -inf, the average
  counts the padding); output (H + 2 pad - k) // stride + 1, which equals torch's
  ceil_mode=True wherever the window tiles the padded map (the recipes' shapes)."""
  pads = ((0, 0), (pad, pad), (pad, pad), (0, 0))
  win, st = (1, k, k, 1), (1, stride, stride, 1)
  if kind == 'max':
    return jax.lax.reduce_window(y_BxHxWxC, -jnp.inf, jax.lax.max, win, st, pads)
  return jax.lax.reduce_window(y_BxHxWxC, 0., jax.lax.add, win, st, pads) / (k * k)


@registry.unit('scff_conv')
class ScffConv(nnx.Module):
  """The SCFF authors' conv layer. A pairing unit (model.pair_at) standardizes the
  positives it receives and makes [x | x] and [x | x shifted] on 2C channels; every unit
  then pads (reflect), standardizes each example over all its channels (unbiased std),
  and convolves (VALID): a pair's halves each through the same filters and added, as the
  authors do, which is W * (x1 + x2) + 2b. Its loss reads relu(z) before the pool; it
  passes on pool(act(z)), not normalized (the next unit standardizes after its padding).

  Rows: the first unit receives images (B rows); with a key (training, the evaluation's
  diagnostic pass) it makes [positives; negatives] (2B rows) and a later pairing unit
  remakes them from the first B rows it receives (the positives), discarding the
  negatives, as the authors' loop does; without a key (the readout's pass) every row is
  a positive and a pairing unit makes [x | x] only."""
  maps: ClassVar[bool] = True
  draws_pairs: ClassVar[bool] = True

  @classmethod
  def check(cls, m, in_ch: int) -> None:
    n = len(m.widths)
    for key in ('kernels', 'pools', 'pair_at', 'pads', 'pool_kinds', 'pool_strides',
                'pool_pads', 'acts'):  # the first three always, the others or empty
      v = m.get(key, ())
      need(len(v) == n or (not v and key not in ('kernels', 'pools', 'pair_at')),
           f'model.{key}', v, 'needs one value per unit')
    need(m.pair_at[0], 'model.pair_at', m.pair_at, 'the first unit receives images: it must '
         'make its pairs (1)')
    need(all(a in ('relu', 'triangle') for a in m.get('acts', ())), 'model.acts', m.get('acts'),
         "each 'relu' or 'triangle'")
    need(all(k in ('max', 'avg') for k in m.get('pool_kinds', ())), 'model.pool_kinds',
         m.get('pool_kinds'), "each 'max' or 'avg'")
    need(m.get('pad_mode', 'reflect') in ('reflect', 'zeros'), 'model.pad_mode',
         m.get('pad_mode'), "'reflect' or 'zeros'")
    need(not m.get('skips') and not m.get('batch_norm') and not m.dropout, 'model.kind',
         m.kind, 'scff_conv units have no skips, batch norm or dropout')
    need(m.goodness_at == 'pre_pool', 'model.goodness_at', m.goodness_at,
         "scff_conv units: the loss reads the map before the pool ('pre_pool')")

  @staticmethod
  def _conv_hw(m, l: int, in_hwc):
    p, k = setting(m, 'pads', l, 0), m.kernels[l]
    return in_hwc[0] + 2 * p - k + 1, in_hwc[1] + 2 * p - k + 1

  @classmethod
  def out_shape(cls, m, l: int, in_hwc, activations: bool = False) -> tuple:
    h, w = cls._conv_hw(m, l, in_hwc)
    if activations:
      return h, w, m.widths[l]
    k = m.pools[l]
    s, p = setting(m, 'pool_strides', l, k), setting(m, 'pool_pads', l, 0)
    return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, m.widths[l]

  @classmethod
  def flops(cls, m, l: int, in_hwc) -> float:
    h, w = cls._conv_hw(m, l, in_hwc)
    return 2. * h * w * m.kernels[l] ** 2 * in_hwc[2] * m.widths[l]

  @classmethod
  def from_config(cls, m, l: int, in_hwc, skip, rngs: nnx.Rngs):
    k = m.pools[l]
    return cls(in_hwc[2], m.widths[l], m.kernels[l], first=l == 0,
               pair=bool(m.pair_at[l]), pad=setting(m, 'pads', l, 0),
               pad_mode=m.get('pad_mode', 'reflect'), act=setting(m, 'acts', l, 'relu'),
               pool=(setting(m, 'pool_kinds', l, 'max'), k, setting(m, 'pool_strides', l, k),
                     setting(m, 'pool_pads', l, 0)),
               init=m.init, rngs=rngs)

  def __init__(self, in_ch: int, width: int, kernel: int, *, first: bool, pair: bool,
               pad: int = 0, pad_mode: str = 'reflect', act: str = 'relu',
               pool: tuple = ('max', 1, 1, 0), init: str = 'xavier', rngs: nnx.Rngs):
    fan_in = in_ch * kernel * kernel
    bias = inits.torch_bias(fan_in) if init == 'xavier' else inits.zeros
    self.conv = nnx.Conv(in_ch, width, (kernel, kernel), padding='VALID', bias_init=bias,
                         kernel_init=inits.CONV.get(init, inits.LECUN), rngs=rngs)
    self.first, self.pair, self.pad, self.pad_mode = first, pair, pad, pad_mode
    self.act, self.pool = act, tuple(pool)

  def preact(self, h_BxHxWxC, key=None):
    """z: the conv's output, before any activation (B or 2B rows, see the class)."""
    h = h_BxHxWxC
    if self.pair:  # the positives: all rows of images or of the readout's pass, else the first half
      pos = h if self.first or key is None else objectives.halves(h)[0]
      h = halves(stdnorm(pos), None if key is None else jax.random.fold_in(key, 0x5CF))
    if self.pad:
      p = ((0, 0), (self.pad, self.pad), (self.pad, self.pad), (0, 0))
      h = jnp.pad(h, p, mode='reflect' if self.pad_mode == 'reflect' else 'constant')
    h = stdnorm(h)
    if self.pair:  # conv(x1) + conv(x2) = W * (x1 + x2) + 2b: half the FLOPs, the same sum
      c = h.shape[-1] // 2
      z = self.conv(h[..., :c] + h[..., c:]) + self.conv.bias[...]
    else:
      z = self.conv(h)
    return z

  def __call__(self, h_BxHxWxC, skip=None, key=None):
    z = self.preact(h_BxHxWxC, key)
    y = pool2d(units.ACTS[self.act](z), *self.pool) if self.pool[1] > 1 else units.ACTS[self.act](z)
    return jax.nn.relu(z), y

