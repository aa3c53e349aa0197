"""Per-unit read-outs that a unit's objective owns (small nnx modules).

A head reads only its own unit's activations `y`, and its gradient comes only from
that unit's loss, so it is as local as the unit it serves.

ClassConvHead (scalable FF, papers/002): an auxiliary conv with one output channel per
class; the mean square of channel k is class k's goodness, used as its logit.
ChannelGroupHead (channel-wise competitive FF, CwComp): no parameters; the unit's own
channels are cut into one group per class and a group's mean square is its goodness.
SpatialHead (ASGE): spatial goodness of y on the unit's grid -> linear map -> class
logits. The map is trained (default) or a fixed random projection, as the paper
reports; a fixed one is stored (it is part of the model) but never updated: it is a
`FixedProjection` variable, not an `nnx.Param`, so the trainer neither differentiates
nor optimizes it (it splits the state by variable type, ffjax/step.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ffjax import conv as ffconv
from ffjax import goodness as gd
from ffjax import inits


class FixedProjection(nnx.Variable):
  """A random matrix that is part of the model but not trained."""


class SpatialHead(nnx.Module):

  def __init__(self, channels: int, grid: int, num_classes: int, *, trained: bool = True,
               bias: bool = False, rngs: nnx.Rngs):
    """trained=False: a fixed random map, N(0, 1/dim) (logits of unit scale for goodness
    of unit scale); with bias (ASGE's published code): map and bias N(0, 1/K), both fixed."""
    self.grid = grid
    dim = channels * grid * grid
    self.proj = nnx.Linear(dim, num_classes, rngs=rngs, **inits.DENSE) if trained else None
    scale = jnp.sqrt(num_classes) if bias else jnp.sqrt(dim)
    self.fixed_proj = None if trained else FixedProjection(
        inits.normal(rngs.params(), (dim, num_classes), scale))
    self.fixed_bias = FixedProjection(
        inits.normal(rngs.params(), (num_classes,), jnp.sqrt(num_classes))) if bias else None

  def kernel(self):
    """The (P*P*C) x K map from spatial goodness to logits (for class maps)."""
    return self.proj.kernel[...] if self.proj is not None else self.fixed_proj[...]

  def __call__(self, y_BxHxWxC):
    g = gd.spatial_goodness(y_BxHxWxC, self.grid)
    if self.proj is not None:
      return self.proj(g)
    logits = g @ jax.lax.stop_gradient(self.fixed_proj[...])
    return logits + jax.lax.stop_gradient(self.fixed_bias[...]) if self.fixed_bias is not None else logits


class ClassConvHead(nnx.Module):

  def __init__(self, channels: int, num_classes: int, *, kernel: int = 3, rngs: nnx.Rngs):
    self.conv = nnx.Conv(channels, num_classes, (kernel, kernel), padding='SAME', rngs=rngs,
                         **inits.DENSE)

  def __call__(self, y_BxHxWxC):
    return gd.class_goodness(ffconv.apply(self.conv, y_BxHxWxC))


class ChannelGroupHead(nnx.Module):

  def __init__(self, channels: int, num_classes: int):
    if channels % num_classes:
      raise ValueError(f'objective.kind=channel_groups: a unit of {channels} channels cannot be cut '
                       f'into {num_classes} equal class groups; use widths that are multiples of '
                       f'{num_classes}')
    self.num_classes = num_classes

  def __call__(self, y_BxHxWxC):
    b, h, w, c = y_BxHxWxC.shape
    return gd.class_goodness(y_BxHxWxC.reshape(b, h, w, self.num_classes, c // self.num_classes))


class PooledSumHead(nnx.Module):
  """ASGE's published classifier: one linear map per unit on its globally averaged
  output, the logits summed (one cross-entropy trains them all, on stop_gradient
  features: it teaches no unit)."""

  def __init__(self, channels, num_classes: int, *, kernel_init=None, rngs: nnx.Rngs):
    kw = dict(inits.DENSE, kernel_init=kernel_init or inits.LECUN)
    self.maps = nnx.List([nnx.Linear(c, num_classes, rngs=rngs, **kw) for c in channels])

  def __call__(self, feats):
    return sum(m(f) for m, f in zip(self.maps, feats))
