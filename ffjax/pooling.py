"""Pooling over s x s windows with stride s (VALID: rows and columns past the last whole
window are dropped), written as a reshape and a reduction.

Why not lax.reduce_window (what nnx.max_pool runs): on XLA:CPU its max pool's gradient
is a variadic reduce-window that carries four index arrays (iotas of the input's size)
and a scatter; in the FF-CNN's step (16 channels at 28 x 28, batch 100) that was 28 of
62 ms, against ~2 ms for these (docs/RESULTS.md 29). The values are lax's exactly; the
max pool's gradient goes, as lax's does, to the first maximum of each window (row-major),
so ties (ReLU's zeros) are routed the same way.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp


def windows(y_BxHxWxC, s: int):
  """y cropped to whole windows, as B x H/s x s x W/s x s x C."""
  b, h, w, c = y_BxHxWxC.shape
  ho, wo = h // s, w // s
  return y_BxHxWxC[:, :ho * s, :wo * s].reshape(b, ho, s, wo, s, c)


def avg_pool(y_BxHxWxC, s: int):
  return jnp.mean(windows(y_BxHxWxC, s), axis=(2, 4)) if s > 1 else y_BxHxWxC


def rms_pool(y_BxHxWxC, s: int):
  """sqrt(mean(y^2)) over s x s windows (stride s). It keeps energy: the mean of the
  squared output over any block of windows equals the mean of y^2 over the same
  pixels, so goodness measured after it is the goodness of the unpooled map."""
  return jnp.sqrt(avg_pool(jnp.square(y_BxHxWxC), s) + 1e-12)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool(y_BxHxWxC, s: int):
  return jnp.max(windows(y_BxHxWxC, s), axis=(2, 4)) if s > 1 else y_BxHxWxC


def _max_fwd(y, s):
  out = max_pool(y, s)
  return out, (y, out)


def _max_bwd(s, res, g_BxHoxWoxC):
  y, out = res
  if s == 1:
    return (g_BxHoxWoxC,)
  w = windows(y, s)
  taken = jnp.zeros(out.shape, bool)
  rows = []
  for i in range(s):  # the first maximum in row-major order takes the gradient
    cols = []
    for j in range(s):
      first = (w[:, :, i, :, j] == out) & ~taken
      taken = taken | first
      cols.append(jnp.where(first, g_BxHoxWoxC, 0.))
    rows.append(jnp.stack(cols, axis=3))
  dw = jnp.stack(rows, axis=2).reshape(w.shape[0], w.shape[1] * s, w.shape[3] * s, w.shape[5])
  b, h, wd, c = y.shape
  return (jnp.pad(dw, ((0, 0), (0, h - dw.shape[1]), (0, wd - dw.shape[2]), (0, 0))).astype(y.dtype),)


max_pool.defvjp(_max_fwd, _max_bwd)

POOLS: dict[str, Callable] = {'max': max_pool, 'rms': rms_pool, 'avg': avg_pool}
