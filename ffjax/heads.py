"""Per-unit read-outs that a unit's objective owns (small nnx modules).

A head reads only its own unit's activations `y`, and its gradient comes only from
that unit's loss, so it is as local as the unit it serves.

SpatialHead (ASGE): spatial goodness of y on the unit's grid -> linear map -> class
logits. The map is trained (default) or a fixed random projection, as the paper
reports; a fixed one is stored (it is part of the model) but never updated: it
lives under the name `fixed_proj`, which the optimizer leaves alone (train.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ffjax import objectives


class FixedProjection(nnx.Variable):
  """A random matrix that is part of the model but not trained."""


class SpatialHead(nnx.Module):

  def __init__(self, channels: int, grid: int, num_classes: int, *, trained: bool = True,
               rngs: nnx.Rngs):
    self.grid = grid
    dim = channels * grid * grid
    if trained:
      self.proj = nnx.Linear(dim, num_classes, rngs=rngs)
    else:
      # N(0, 1/dim): logits of unit scale for goodness of unit scale.
      w = jax.random.normal(rngs.params(), (dim, num_classes)) / jnp.sqrt(dim)
      self.fixed_proj = FixedProjection(w)

  def __call__(self, y_BxHxWxC):
    g = objectives.spatial_goodness(y_BxHxWxC, self.grid)
    if hasattr(self, 'proj'):
      return self.proj(g)
    return g @ jax.lax.stop_gradient(self.fixed_proj[...])
