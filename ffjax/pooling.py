"""Pooling over s x s windows with stride s (VALID: rows and columns past the last whole
window are dropped), written as a reshape and the elementwise maximum (or sum) of the
window's s*s strided views.

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


def _slices(y_BxHxWxC, s: int):
  """The s*s strided views y[:, i::s, j::s] of whole windows, row-major (i, j)."""
  w = windows(y_BxHxWxC, s)
  return [w[:, :, i, :, j] for i in range(s) for j in range(s)]


# Forward passes as elementwise maxima / sums of the s*s strided views, not reductions
# over the window axes: XLA:CPU (jaxlib 0.12) hands those reductions to YNNPACK, which
# runs them over few channels at 1-3 GB/s; the elementwise form fuses into one loop,
# 3-9x faster (benchmarks in docs/RESULTS.md 32).
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def avg_pool(y_BxHxWxC, s: int):
  if s == 1:
    return y_BxHxWxC
  f32 = jnp.promote_types(y_BxHxWxC.dtype, jnp.float32)  # bfloat16 summed in float32
  total = functools.reduce(jnp.add, [v.astype(f32) for v in _slices(y_BxHxWxC, s)])
  return (total * (1. / (s * s))).astype(y_BxHxWxC.dtype)


def _avg_fwd(y, s):
  return avg_pool(y, s), jnp.zeros(y.shape[1:3] + (0,), y.dtype)  # y's H and W, no data


def _avg_bwd(s, hw, g_BxHoxWoxC):
  # The reduction's own gradient (each window's share spread over it): autodiff of the
  # views pads each back to full size and sums them, 2-5x slower; a hand-written spread
  # measured no faster and slowed ASGE's backprop step.
  if s == 1:
    return (g_BxHoxWoxC,)
  y0 = jnp.zeros((g_BxHoxWoxC.shape[0],) + hw.shape[:2] + g_BxHoxWoxC.shape[3:], hw.dtype)
  return jax.vjp(lambda y: jnp.mean(windows(y, s), axis=(2, 4)), y0)[1](g_BxHoxWoxC)


avg_pool.defvjp(_avg_fwd, _avg_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def rms_pool(y_BxHxWxC, s: int):
  """sqrt(mean(y^2)) over s x s windows (stride s). It keeps energy: the mean of the
  squared output over any block of windows equals the mean of y^2 over the same
  pixels, so goodness measured after it is the goodness of the unpooled map."""
  return jnp.sqrt(avg_pool(jnp.square(y_BxHxWxC), s) + 1e-12)


def _rms_fwd(y, s):
  out = rms_pool(y, s)
  return out, (y, out)


def _rms_bwd(s, res, g):
  # d out / d y = y / (s^2 out), over y's window. Autodiff's form (2y times the spread of
  # g / 2 out) made XLA:CPU materialize the constant 2 as a full-size array for a YNNPACK
  # fusion of ASGE's backprop step (11 ms a unit); this one has no such constant (ASGE's
  # BP step 835-877 -> 925 images/s, RESULTS 32).
  y, out = res
  gy = jax.vjp(lambda v: avg_pool(v, s), y)[1](g / out)[0]
  return (y * gy,)


rms_pool.defvjp(_rms_fwd, _rms_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool(y_BxHxWxC, s: int):
  return functools.reduce(jnp.maximum, _slices(y_BxHxWxC, s)) if s > 1 else y_BxHxWxC


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
