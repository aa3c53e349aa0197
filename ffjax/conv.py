"""Convolution whose weight gradient is written as matrix products.

A FF unit's loss needs the gradient of its conv weights only: its input is under
stop_gradient. XLA lowers that weight gradient to a convolution with the roles swapped
(channels as batch, the output gradient as an H x W kernel), which XLA:CPU runs at
6-50 GFLOP/s where its forward convolution runs at 80-110 (benchmarks/conv_grad.py).
weight_grad picks a form per shape (dw_form): one matrix product over im2col patches
(1x1 kernels, and few input channels), a cross-correlation through FFTs (7x7 and more),
or XLA's own over batch chunks (dw_chunks: it slows once its operands leave the caches);
`apply` gives an nnx.Conv (heads, skip projections) the same backward pass.

`conv(x, w, stride, groups)` computes lax's SAME convolution (grouped, or depthwise,
when groups > 1), its backward pass written by hand (`jax.custom_vjp`). The input
gradient is the transpose of lax's forward (or of the patches product below); when
nothing uses it (FF units) the compiler removes it. On a CPU the forward too takes a
form per shape (_forward): grouped convolutions, which XLA:CPU runs slowly, as one plain
convolution per group (grouped_conv_split); depthwise ones as multiply-adds of shifted
inputs (grouped_conv_shifted); a map smaller than its kernel as patches x matrix; at
most 8 output channels two output columns at a time (conv_column_pairs). The values
are lax's, summed in another order at most (within 1e-5).
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


def _fft_size(n: int) -> int:
  """The least m >= n whose prime factors are 2, 3 and 5 (sizes FFTs run fast at)."""
  m = n
  while True:
    r = m
    for q in (2, 3, 5):
      while r % q == 0:
        r //= q
    if r == 1:
      return m
    m += 1


def weight_grad_fft(x_BxHxWxC, g_BxHxWxO, k: int):
  """The weight gradient of a stride-1 SAME convolution as a cross-correlation in the
  frequency domain: dW[a, b, c, o] = sum_n,i,j x[n, i+a-p, j+b-p, c] g[n, i, j, o] is
  IFFT(sum_n FFT(x_nc) conj(FFT(g_no))) at the k x k lags around 0 (p = (k-1)//2; both
  maps zero-padded to at least H + p so no lag wraps onto the map). Its cost does not grow
  with k^2: for the FF-CNN's 7x7 kernels on XLA:CPU, 16 -> 16 at 28 x 28: 14.3 -> 11.0 ms
  (batch 100), 9.3 -> 4.9 (batch 50); 128 -> 128 (the paper's net, batch 150): 3.7 s ->
  0.35 s (docs/RESULTS.md 29). Float32 throughout; rounds differently from a direct sum,
  by ~3e-6 of the largest entry."""
  b, h, w, c = x_BxHxWxC.shape
  p = (k - 1) // 2
  ph, pw = _fft_size(h + p), _fft_size(w + p)
  f32 = jnp.float32
  x_f = jnp.fft.rfft2(jnp.transpose(x_BxHxWxC.astype(f32), (0, 3, 1, 2)), s=(ph, pw))
  g_f = jnp.fft.rfft2(jnp.transpose(g_BxHxWxO.astype(f32), (0, 3, 1, 2)), s=(ph, pw))
  s_f = jnp.einsum('bchw,bohw->cohw', x_f, jnp.conj(g_f))
  r_CxOxPHxPW = jnp.fft.irfft2(s_f, s=(ph, pw))
  lags_h, lags_w = (jnp.arange(k) - p) % ph, (jnp.arange(k) - p) % pw
  r = r_CxOxPHxPW[:, :, lags_h][:, :, :, lags_w]
  return jnp.transpose(r, (2, 3, 0, 1)).astype(x_BxHxWxC.dtype)


# XLA:CPU's own weight gradient (YNNPACK's kernel on jaxlib 0.12) runs at 30-100 GFLOP/s
# once C * O * (B H W) passes about 1e8 (its working set leaves the caches), and at
# 100-160 on batch chunks of at most DW_CHUNK each, summed: 1.3-3x faster than the whole
# batch, and 1.1-2x faster than the k^2 shifted products this replaced (B=128, 3x3, 8x8
# to 32x32 maps, 32 to 128 channels; benchmarks/conv_grad.py, docs/RESULTS.md 30).
DW_CHUNK = 4e7
DW_MAX_CHUNKS = 16


def dw_chunks(b: int, per_example: float) -> int:
  """The number of equal batch chunks (a divisor of b, at most DW_MAX_CHUNKS) for a
  weight gradient of `per_example` = C * O * H_out * W_out: the fewest under DW_CHUNK."""
  ds = [d for d in range(1, min(b, DW_MAX_CHUNKS) + 1) if b % d == 0]
  return next((d for d in ds if per_example * b / d <= DW_CHUNK), ds[-1])


def weight_grad_chunked(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1, chunks: int = 1):
  """XLA's own weight gradient summed over `chunks` equal batch chunks (a Python loop:
  one convolution each; inside a scan XLA:CPU's convolutions run slower, jax#12868)."""
  if chunks == 1:
    return weight_grad_lax(x_BxHxWxC, g_BxHxWxO, k, stride)
  xs, gs = jnp.split(x_BxHxWxC, chunks), jnp.split(g_BxHxWxO, chunks)
  dw = weight_grad_lax(xs[0], gs[0], k, stride)
  for x_i, g_i in zip(xs[1:], gs[1:]):
    dw = dw + weight_grad_lax(x_i, g_i, k, stride)
  return dw


def dw_form(k: int, c: int, stride: int) -> str:
  """weight_grad's form for a k x k kernel on c input channels: 'fft', 'patches' or
  'lax' (XLA's own, over batch chunks)."""
  if k >= 7 and stride == 1 and c >= 4:
    return 'fft'
  if k == 1 or (k <= 3 and c * k * k <= 36):
    return 'patches'
  return 'lax'


def weight_grad(x_BxHxWxC, g_BxHxWxO, k: int, stride: int = 1):
  """The fastest form on XLA:CPU for this shape (benchmarks/conv_grad.py and
  benchmarks/xla_flags.py, 2-core CPU): kernels of 7 and more at stride 1 (4 or more
  input channels): in the frequency domain, 1.3-10x faster than lax; few input channels (C k^2 <= 36, a first unit)
  and every 1x1 kernel: patches x matrix, 2-2.6x faster than lax (a 1x1's: one product of
  the input and the output gradient, where lax's transposes the input, 10-50 ms a
  projection or head of ResNet-18, RESULTS 30); otherwise XLA's own over batch chunks
  (dw_chunks: one chunk for small shapes)."""
  c, o = x_BxHxWxC.shape[-1], g_BxHxWxO.shape[-1]
  form = dw_form(k, c, stride)
  if form == 'fft':
    return weight_grad_fft(x_BxHxWxC, g_BxHxWxO, k)
  if form == 'patches':
    return weight_grad_patches(x_BxHxWxC, g_BxHxWxO, k, stride)
  b = g_BxHxWxO.shape[0]
  return weight_grad_chunked(x_BxHxWxC, g_BxHxWxO, k, stride,
                             dw_chunks(b, c * o * g_BxHxWxO[0, ..., 0].size))


def grouped_conv_shifted(x_BxHxWxC, w_KxKxCgxO, stride: int = 1, groups: int = 1):
  """lax's SAME grouped convolution (feature_group_count=groups; depthwise when every
  group has one input and one output channel) as a sum over the k*k kernel offsets of
  shifted inputs times each offset's weights: batched matrix products per group, or
  plain multiply-adds for depthwise. Its gradients are jax's own of these products (the
  same forms). XLA:CPU runs grouped convolutions at 0.4-1.3 GFLOP/s
  (benchmarks/conv_grad.py); this is what units use there instead."""
  k, _, cg, o_all = w_KxKxCgxO.shape
  og = o_all // groups
  views = shifted(x_BxHxWxC, k, stride)
  b, ho, wo, _ = views[0].shape
  y = jnp.zeros((b, ho, wo, o_all), x_BxHxWxC.dtype)
  for p, v in enumerate(views):
    w_p = w_KxKxCgxO[p // k, p % k]  # Cg x O
    if cg == 1 and og == 1:  # depthwise: channel c times its own weight
      y = y + v * w_p[0]
    else:
      v_NxGxCg = v.reshape(-1, groups, cg)
      w_CgxGxOg = w_p.reshape(cg, groups, og)
      y = y + jnp.einsum('ngc,cgo->ngo', v_NxGxCg, w_CgxGxOg).reshape(b, ho, wo, o_all)
  return y


def _conv_lax_grouped(x, w, stride, groups):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), 'SAME', dimension_numbers=DIMS,
                                      feature_group_count=groups)


def _is_depthwise(w, groups):
  return groups > 1 and w.shape[2] == 1 and w.shape[3] == groups


def _group_major(a_BxHxWxC, groups: int):
  """B x H x W x (G * c) -> G x B x H x W x c: each group's channels contiguous (one
  transpose; a channel slice per group would be a strided copy each)."""
  b, h, w, c = a_BxHxWxC.shape
  return jnp.transpose(a_BxHxWxC.reshape(b, h, w, groups, c // groups), (3, 0, 1, 2, 4))


def _group_major_w(w_KxKxCgxO, groups: int):
  """K x K x Cg x (G * Og) -> G x K x K x Cg x Og: each group's kernel."""
  k, _, cg, o = w_KxKxCgxO.shape
  return jnp.transpose(w_KxKxCgxO.reshape(k, k, cg, groups, o // groups), (3, 0, 1, 2, 4))


def grouped_conv_split(x_BxHxWxC, w_KxKxCgxO, stride: int = 1, groups: int = 1):
  """lax's SAME grouped convolution as `groups` plain convolutions, one per group's channels
  (the same products and sums: equal to lax's to the bit). XLA:CPU's grouped convolution
  (YNNPACK's, on jaxlib 0.12) runs CwComp's 240 -> 480 (10 groups, 14 x 14, batch 128) in
  150 ms, the ten plain ones in 70 (PyTorch: 67-71); 20 -> 80 at 28 x 28: 44 ms -> 14."""
  xg, wg = _group_major(x_BxHxWxC, groups), _group_major_w(w_KxKxCgxO, groups)
  ys = [conv_lax(xg[g], wg[g], stride) for g in range(groups)]
  b, ho, wo, _ = ys[0].shape
  return jnp.stack(ys, axis=-2).reshape(b, ho, wo, w_KxKxCgxO.shape[-1])


def grouped_split_grads(x_BxHxWxC, w_KxKxCgxO, g_BxHxWxO, stride: int, groups: int):
  """(input gradient, weight gradient) of grouped_conv_split, group by group: each group's
  weight gradient by weight_grad (its form picked per shape), its input gradient the
  transpose of its own convolution, the groups' pieces put side by side (jax's own
  gradient of the channel slices is a zero-padded copy per group, summed: 30 ms a layer
  in CwComp's backprop step). The input gradient is dead code, removed, under FF."""
  k, _, cg, o = w_KxKxCgxO.shape
  xg, gg = _group_major(x_BxHxWxC, groups), _group_major(g_BxHxWxO, groups)
  wg = _group_major_w(w_KxKxCgxO, groups)
  dws = [weight_grad(xg[i], gg[i], k, stride) for i in range(groups)]
  dxs = [jax.vjp(lambda x_, w_=wg[i]: conv_lax(x_, w_, stride), xg[i])[1](gg[i])[0]
         for i in range(groups)]
  dw = jnp.stack(dws, axis=-2).reshape(k, k, cg, o)
  return jnp.stack(dxs, axis=-2).reshape(x_BxHxWxC.shape), dw


def _on_cpu() -> bool:
  return jax.default_backend() == 'cpu'


@functools.cache
def _avx512() -> bool:
  """Whether this CPU has AVX-512 (16 float32 a register), from /proc/cpuinfo (Linux)."""
  try:
    with open('/proc/cpuinfo') as f:
      return ' avx512f' in f.read()
  except OSError:
    return False


def conv_column_pairs(x_BxHxWxC, w_KxKxCxO):
  """lax's SAME stride-1 convolution computed two output columns at a time: one
  convolution of stride 2 along W whose 2*O output channels are the even and the odd
  columns (its K x (K+1) kernel is w with a zero column after it, then before it).
  K/(K+1) of its products are the convolution's; the rest multiply zeros."""
  k, _, c, o = w_KxKxCxO.shape
  b, h, wd, _ = x_BxHxWxC.shape
  (ph, _), _ = same_pads(h, k, 1)
  (pw, _), _ = same_pads(wd, k, 1)
  w_pairs = jnp.concatenate([jnp.pad(w_KxKxCxO, ((0, 0), (0, 1), (0, 0), (0, 0))),
                             jnp.pad(w_KxKxCxO, ((0, 0), (1, 0), (0, 0), (0, 0)))], axis=-1)
  even = wd + wd % 2  # columns computed (one more, cropped, for an odd width)
  xp = jnp.pad(x_BxHxWxC, ((0, 0), (ph, k - 1 - ph), (pw, k - 1 - pw + even - wd), (0, 0)))
  y = jax.lax.conv_general_dilated(xp, w_pairs, (1, 2), 'VALID', dimension_numbers=DIMS)
  return y.reshape(b, h, even, o)[:, :, :wd]


def _column_pairs_pay(x, w, stride: int, groups: int) -> bool:
  """Where conv_column_pairs is faster (benchmarks/conv_grad.py, 'column pairs'; RESULTS 32):
  XLA:CPU's oneDNN convolution of at most 8 output channels fills half an AVX-512
  register, so 2 x O channels run in about the time of O: 1.3-1.7x faster for C <= 16
  input channels, C k^2 >= 16 (FF-CNN quick's 8 -> 8 7x7 at 28 x 28, batch 100: 4.33 ->
  2.73 ms; 3x3 8 -> 8: 1.09 -> 0.71; on jaxlib 0.10.2 1.7-1.9x), equal to lax's to the
  bit there on jaxlib 0.12.1 (0.10.2 sums in another order: within 1e-5); slower from 24
  input channels (the products grow, the kernel changes). Not measured without AVX-512."""
  k, _, c, o = w.shape
  return (stride == 1 and groups == 1 and o <= 8 and c <= 16 and c * k * k >= 16
          and _on_cpu() and _avx512())


def _forward(x, w, stride, groups, pairs: bool = True):
  # Depthwise: multiply-adds of shifted inputs run 10-17x faster than XLA:CPU's grouped
  # convolution; other grouped convolutions on a CPU: one plain convolution per group.
  # Otherwise (and on GPUs, whose grouped kernels are fast) XLA's forward convolution.
  if _is_depthwise(w, groups):
    return grouped_conv_shifted(x, w, stride, groups)
  if groups > 1 and _on_cpu():
    return grouped_conv_split(x, w, stride, groups)
  if groups == 1 and _on_cpu() and (x.shape[1] < w.shape[0] or x.shape[2] < w.shape[1]):
    # A map smaller than the kernel (the official VGG8's 3x3 at 2 x 2): XLA swaps the
    # operands' roles and runs it at ~5 GFLOP/s; as patches x matrix 8.7x faster, and its
    # transpose (backprop's input gradient) 14x (RESULTS 32).
    return conv_patches(x, w, stride)
  if pairs and _column_pairs_pay(x, w, stride, groups):
    return conv_column_pairs(x, w)
  return _conv_lax_grouped(x, w, stride, groups)


def of_module(module, x_BxHxWxC, stride: int = 1, groups: int = 1, materialize: bool = False):
  """An nnx.Conv's SAME convolution through conv() (its kernel and bias, its dtype for the
  product), returned as float32."""
  cd = module.dtype or jnp.float32
  z = conv(x_BxHxWxC.astype(cd), module.kernel[...].astype(cd), stride, groups, materialize)
  z = z.astype(jnp.float32)
  return z + module.bias[...] if module.bias is not None else z


def apply(module, x_BxHxWxC):
  """An nnx.Conv (SAME padding, ungrouped) with conv()'s weight gradient on a CPU, where
  XLA's transposes the whole input for it; elsewhere the module itself."""
  if not _on_cpu() or module.padding != 'SAME' or module.feature_group_count != 1:
    return module(x_BxHxWxC)
  s = module.strides
  stride = s if isinstance(s, int) else (s[0] if s and len(set(s)) == 1 else None)
  return module(x_BxHxWxC) if stride is None else of_module(module, x_BxHxWxC, stride)


def materialized(x_BxHxWxC):
  """x as its product with the identity: the same values (x_c * 1 plus zeros; an inf or
  NaN spreads to its pixel's channels), made by a matrix product, which XLA cannot fuse
  into what reads it. XLA:CPU otherwise fuses the elementwise chain that made x (batch
  norms, residual sums, layer norms) into the transpose its weight gradient reads x
  through, recomputing it per element in transposed order at a few hundred MB/s:
  ResNet-18's step 312 -> 250 ms (the chain's length, C^2 per pixel for the product,
  at most 1/9 of a 3x3 conv's weight gradient; RESULTS 30). Not where the chain is short
  (ASGE: 2-5% slower)."""
  return jnp.dot(x_BxHxWxC, jnp.eye(x_BxHxWxC.shape[-1], dtype=x_BxHxWxC.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv(x_BxHxWxC, w_KxKxCgxO, stride: int = 1, groups: int = 1, materialize: bool = False):
  """lax's SAME convolution (grouped if groups > 1); backward: the weight gradient as
  matrix products (weight_grad; for grouped convs, those of grouped_conv_shifted).
  materialize: the weight gradient reads `materialized(x)` where XLA's own transposes it
  (units with batch norm, whose inputs come out of long elementwise chains)."""
  return _forward(x_BxHxWxC, w_KxKxCgxO, stride, groups)


def _conv_fwd(x, w, stride, groups, materialize):
  return _forward(x, w, stride, groups), (x, w)


def _conv_bwd(stride, groups, materialize, res, g):
  x, w = res
  if groups > 1 and not _is_depthwise(w, groups) and _on_cpu():
    return grouped_split_grads(x, w, g, stride, groups)
  if groups == 1:
    k = w.shape[0]
    lax_dw = dw_form(k, x.shape[-1], stride) == 'lax'
    dw = weight_grad(materialized(x) if materialize and lax_dw else x, g, k, stride)
  else:
    dw = jax.vjp(lambda w_: grouped_conv_shifted(x, w_, stride, groups), w)[1](g)[0]
  # Input gradient: the transpose of lax's forward (dead code, removed, when the input is
  # a constant or under stop_gradient, as in every FF unit); that of column pairs is a
  # strided transposed convolution, 15-25x slower on XLA:CPU.
  _, vjp_x = jax.vjp(lambda x_: _forward(x_, w, stride, groups, pairs=False), x)
  return vjp_x(g)[0], dw


conv.defvjp(_conv_fwd, _conv_bwd)
