"""Convolution whose weight gradient is patches x matrix.

A FF unit's loss needs the gradient of its conv weights only: its input is under
stop_gradient. XLA lowers that weight gradient to a convolution of the input by the
output gradient, which XLA:CPU runs far below its matrix-product speed (measured by
benchmarks/conv_grad.py). Written as im2col patches (B*H*W, Cin*k*k) transposed times
the output gradient (B*H*W, Cout), it is one large matrix product instead.

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


def patches(x_BxHxWxC, k: int, stride: int = 1):
  """im2col: every output position's k x k x C input window, channel-major
  (feature index = c * k * k + i * k + j), as lax.conv_general_dilated_patches orders it."""
  return jax.lax.conv_general_dilated_patches(x_BxHxWxC, (k, k), (stride, stride), 'SAME',
                                              dimension_numbers=('NHWC', 'OIHW', 'NHWC'))


def conv_patches(x_BxHxWxC, w_KxKxCxO, stride: int = 1):
  """The same convolution as patches x matrix (for measuring; conv() keeps lax's forward)."""
  k, _, c, o = w_KxKxCxO.shape
  w_PxO = jnp.transpose(w_KxKxCxO, (2, 0, 1, 3)).reshape(c * k * k, o)
  return patches(x_BxHxWxC, k, stride) @ w_PxO


def weight_grad_patches(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1):
  """d(sum(g * conv(x, w)))/dw = patches(x)^T g, as one matrix product."""
  c, o = x_BxHxWxC.shape[-1], g_BxHxWxO.shape[-1]
  p_NxP = patches(x_BxHxWxC, k, stride).reshape(-1, c * k * k)
  dw_PxO = p_NxP.T @ g_BxHxWxO.reshape(-1, o)
  return jnp.transpose(dw_PxO.reshape(c, k, k, o), (1, 2, 0, 3))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv(x_BxHxWxC, w_KxKxCxO, stride: int = 1):
  """lax's SAME convolution; backward: weight gradient as patches x matrix."""
  return conv_lax(x_BxHxWxC, w_KxKxCxO, stride)


def _conv_fwd(x, w, stride):
  return conv_lax(x, w, stride), (x, w)


def _conv_bwd(stride, res, g):
  x, w = res
  dw = weight_grad_patches(x, g, w.shape[0], stride)
  # Input gradient by XLA's transpose (dead code, removed, when the input is a constant
  # or under stop_gradient, as in every FF unit).
  _, vjp_x = jax.vjp(lambda x_: conv_lax(x_, w, stride), x)
  return vjp_x(g)[0], dw


conv.defvjp(_conv_fwd, _conv_bwd)
