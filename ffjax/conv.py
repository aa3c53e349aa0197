"""Convolution whose weight gradient is written as matrix products.

A FF unit's loss needs the gradient of its conv weights only: its input is under
stop_gradient. XLA lowers that weight gradient to a convolution with the roles swapped
(channels as batch, the output gradient as an H x W kernel), which XLA:CPU runs at
6-50 GFLOP/s where its forward convolution runs at 80-110 (benchmarks/conv_grad.py).
Written as matrix products over the B*H*W positions (one per kernel offset, or one over
im2col patches) it is up to 6x faster for small kernels; weight_grad picks per shape.

`conv(x, w, stride)` computes exactly lax's SAME convolution; only its backward pass is
written by hand (`jax.custom_vjp`). The input gradient stays XLA's own transposed
convolution; when nothing uses it (FF units) the compiler removes it.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

DIMS = ('NHWC', 'HWIO', 'NHWC')


def conv_lax(x_BxHxWxC, w_KxKxCxO, stride: int = 1):
  """XLA's SAME convolution (what nnx.Conv computes, without the bias)."""
  return jax.lax.conv_general_dilated(x_BxHxWxC, w_KxKxCxO, (stride, stride), 'SAME',
                                      dimension_numbers=DIMS)


def same_pads(n: int, k: int, stride: int):
  """XLA's SAME padding (low, high) of one spatial axis, and the output length."""
  out = -(-n // stride)
  total = max((out - 1) * stride + k - n, 0)
  return (total // 2, total - total // 2), out


def shifted(x_BxHxWxC, k: int, stride: int = 1):
  """The k*k views x[i::s, j::s] of the SAME-padded input, one per kernel offset (i, j)."""
  (ph, oh), (pw, ow) = same_pads(x_BxHxWxC.shape[1], k, stride), same_pads(x_BxHxWxC.shape[2], k, stride)
  xp = jnp.pad(x_BxHxWxC, ((0, 0), ph, pw, (0, 0)))
  return [xp[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride, :]
          for i in range(k) for j in range(k)]


def patches(x_BxHxWxC, k: int, stride: int = 1):
  """im2col by slicing (data movement only; lax.conv_general_dilated_patches is itself a
  convolution, k^2 / Cout of the conv's cost): every output position's k x k x C window,
  offset-major (feature index = (i * k + j) * C + c), so HWIO weights reshape to it."""
  return jnp.concatenate(shifted(x_BxHxWxC, k, stride), axis=-1)


def conv_patches(x_BxHxWxC, w_KxKxCxO, stride: int = 1):
  """The same convolution as patches x matrix (for measuring; conv() keeps lax's forward)."""
  k, _, c, o = w_KxKxCxO.shape
  return patches(x_BxHxWxC, k, stride) @ w_KxKxCxO.reshape(k * k * c, o)


def weight_grad_patches(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1):
  """d(sum(g * conv(x, w)))/dw = patches(x)^T g, as one matrix product."""
  c, o = x_BxHxWxC.shape[-1], g_BxHxWxO.shape[-1]
  # Made once the output gradient exists, not hoisted into the forward pass.
  p_NxP = patches(x_BxHxWxC + _zero_from(g_BxHxWxO), k, stride).reshape(-1, k * k * c)
  return (p_NxP.T @ g_BxHxWxO.reshape(-1, o)).reshape(k, k, c, o)


def _zero_from(a):
  """A scalar zero that depends on a. XLA:CPU drops optimization barriers, so ordering
  is made a data dependency (0 * a[0] cannot be folded: a[0] may be NaN)."""
  return 0. * a.reshape(-1)[0]


def weight_grad_shifted(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1):
  """The same as k*k products, one per kernel offset (no k*k-times-larger patches array):
  g^T (O, N) times the shifted input (N, C); the output gradient is transposed once, so
  every product is a plain row-major one (XLA:CPU runs a transposed operand at half speed).
  Each shifted copy is made after the previous product (a data dependency), so one copy
  is alive at a time and none is made before the backward pass reaches this unit."""
  c, o = x_BxHxWxC.shape[-1], g_BxHxWxO.shape[-1]
  g_OxN = jnp.transpose(g_BxHxWxO.reshape(-1, o))
  (ph, oh), (pw, ow) = same_pads(x_BxHxWxC.shape[1], k, stride), same_pads(x_BxHxWxC.shape[2], k, stride)
  dep, dw = _zero_from(g_OxN), []
  for i in range(k):
    for j in range(k):
      xp = jnp.pad(x_BxHxWxC + dep, ((0, 0), ph, pw, (0, 0)))
      v = xp[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride, :]
      dw.append(g_OxN @ v.reshape(-1, c))
      dep = _zero_from(dw[-1])
  return jnp.transpose(jnp.stack(dw), (0, 2, 1)).reshape(k, k, c, o)


def weight_grad_lax(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1):
  """XLA's own weight gradient (the swapped-role convolution jax.grad emits)."""
  w0 = jnp.zeros((k, k, x_BxHxWxC.shape[-1], g_BxHxWxO.shape[-1]), x_BxHxWxC.dtype)
  return jax.vjp(lambda w_: conv_lax(x_BxHxWxC, w_, stride), w0)[1](g_BxHxWxO)[0]


def weight_grad(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1):
  """The fastest of the three on XLA:CPU for this shape (benchmarks/conv_grad.py, 2-core
  CPU): few input channels (C k^2 <= 36, e.g. a first unit): patches x matrix, 6x faster
  than lax; kernels up to 3x3: shifted products, 1.1-2.8x; larger kernels: XLA's own
  (the k^2 shifted products lose there)."""
  c = x_BxHxWxC.shape[-1]
  if k > 3:
    return weight_grad_lax(x_BxHxWxC, g_BxHxWxO, k, stride)
  if c * k * k <= 36:
    return weight_grad_patches(x_BxHxWxC, g_BxHxWxO, k, stride)
  return weight_grad_shifted(x_BxHxWxC, g_BxHxWxO, k, stride)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv(x_BxHxWxC, w_KxKxCxO, stride: int = 1):
  """lax's SAME convolution; backward: the weight gradient by weight_grad."""
  return conv_lax(x_BxHxWxC, w_KxKxCxO, stride)


def _conv_fwd(x, w, stride):
  return conv_lax(x, w, stride), (x, w)


def _conv_bwd(stride, res, g):
  x, w = res
  dw = weight_grad(x, g, w.shape[0], stride)
  # Input gradient by XLA's transpose (dead code, removed, when the input is a constant
  # or under stop_gradient, as in every FF unit).
  _, vjp_x = jax.vjp(lambda x_: conv_lax(x_, w, stride), x)
  return vjp_x(g)[0], dw


conv.defvjp(_conv_fwd, _conv_bwd)
