"""The same training step in PyTorch and in ffjax, on the same machine in the same run.

  pip install -e '.[bench]'      # torch (the CPU wheel is enough)
  python -m benchmarks.torch_step configs/mnist.py:cpu configs/mnist.py:cpu,method=bp \\
      configs/asge_mnist.py:cpu configs/asge_mnist.py:cpu,method=bp

One JSON line per config: images/s of ffjax's jitted step (benchmarks.throughput) and
of a PyTorch step written the way the papers' code does it (eager, one backward of the
summed unit losses, inputs detached between units), and their ratio (> 1: ffjax is
faster). The PyTorch step computes what ffjax's does: threshold FF (positives and
negatives through every unit, goodness losses of the trained units, the linear head on
the neutral-label image), ASGE (per-unit spatial goodness -> linear -> cross-entropy),
CwComp (grouped convs, batch norm, class goodness of channel groups -> cross-entropy,
the softmax head on the last unit), SymBa (threshold FF's passes, softplus(-alpha (G_pos -
G_neg))), Hinton's FF-MLP (dense units, one-hot label pixels, peer normalization, SGD), or
backprop (the same units end to end, softmax on the last); ASGE's published VGG8
(recipe=official: RMS-normalized input and outputs, average pools, the loss before the
pool, dropout, a fixed projection); networks of blocks, ResNet-18 and MobileNetV3
(torch_blocks_step_fn: Scalable FF's per-class heads on every unit, or backprop); SCFF
(torch_scff_step_fn: configs/scff.py's CIFAR-10 with the authors' layer, its MNIST with
dense units; the authors' own code is compared in benchmarks/scff_authors_cpu.py). Adam
unless the config says otherwise, same batch size, random uint8 images of the dataset's
shape. Median of --repeats timings of --steps steps after warm-up.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

from benchmarks import throughput
from ffjax import data, labels, malloc_options, network
from ffjax import method as method_lib


def torch_step_fn(config, image_shape, num_classes, device='cpu'):
  import torch
  import torch.nn.functional as F
  from torch import nn

  m, o = config.model, config.objective
  h, w, c = image_shape
  kind = 'bp' if config.method == 'bp' else o.get('kind', 'threshold')
  spatial, groups_obj = kind == 'spatial', kind == 'channel_groups'
  threshold = kind in ('threshold', 'symba')  # label in the image, positives and negatives
  dense = m.get('kind', 'conv') == 'dense'
  if kind not in ('bp', 'spatial', 'channel_groups', 'threshold', 'symba'):
    raise SystemExit(f'error: torch_step has no PyTorch version of objective {kind!r}')
  if dense and kind not in ('bp', 'threshold'):
    raise SystemExit(f'error: torch_step has no PyTorch version of dense units with {kind!r}')
  grids = method_lib.grids(config, image_shape) if spatial else None

  def norm(y):
    if m.norm == 'none':
      return y
    if m.norm == 'rms':  # per example: y / (its root mean square + eps)
      return y / (torch.sqrt((y * y).mean((1, 2, 3), keepdim=True)) + 1e-8)
    if m.norm == 'channel':
      return F.layer_norm(y.permute(0, 2, 3, 1), y.shape[1:2]).permute(0, 3, 1, 2)
    mu = y.mean((1, 2, 3), keepdim=True)
    return (y - mu) / torch.sqrt(((y - mu) ** 2).mean((1, 2, 3), keepdim=True) + 1e-5)

  bn_post = m.get('bn_position', 'pre_act') == 'post_pool'
  pre_pool = m.get('goodness_at', 'output') == 'pre_pool'  # ASGE's code: the loss reads y before the pool
  pools = {'max': F.max_pool2d, 'avg': F.avg_pool2d,
           'rms': lambda y, s: torch.sqrt(F.avg_pool2d(y * y, s) + 1e-12)}

  class Unit(nn.Module):
    def __init__(self, cin, cout, k, pool, groups):
      super().__init__()
      self.conv, self.pool = nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups), pool
      self.bn = nn.BatchNorm2d(cout) if m.get('batch_norm') else None

    def forward(self, x):
      z = self.conv(x)
      z = self.bn(z) if self.bn is not None and not bn_post else z
      y = F.relu(z)
      a = y
      if self.pool > 1:
        y = pools[m.pool_kind](y, self.pool)
      y = self.bn(y) if self.bn is not None and bn_post else y
      if m.get('dropout'):  # on the output, before its normalization (ASGE's code)
        y = F.dropout(y, m.dropout)
      return (a if pre_pool else y), norm(y)

  class DenseUnit(nn.Module):  # the FF-MLP's: rms-normalized input, Linear, ReLU
    def __init__(self, cin, cout):
      super().__init__()
      self.linear = nn.Linear(cin, cout)

    def forward(self, x):
      y = F.relu(self.linear(x.flatten(1)))
      return y, y / torch.sqrt((y * y).mean(1, keepdim=True) + 1e-8)

  units, cin, shapes = nn.ModuleList(), c, network.unit_shapes(config, image_shape)
  groups = tuple(m.get('groups', ())) or (1,) * len(m.widths)
  cin = h * w * c if dense else c
  for l, width in enumerate(m.widths):
    units.append(DenseUnit(cin, width) if dense else Unit(cin, width, m.kernels[l], m.pools[l], groups[l]))
    cin = width
  if spatial:
    heads = nn.ModuleList(nn.Linear(s[2] * p * p, num_classes) for s, p in zip(shapes, grids))
  elif threshold:
    head_units = list(range(1 if config.predict.skip_first else 0, len(units)))
    heads = nn.ModuleList([nn.Linear(sum(int(np.prod(shapes[l])) for l in head_units), num_classes)])
  else:
    heads = nn.ModuleList([nn.Linear(int(np.prod(shapes[-1])), num_classes)])
  lin_head = groups_obj and config.predict.get('linear_head')
  if groups_obj:
    heads = nn.ModuleList([nn.Linear(int(np.prod(shapes[-1])), num_classes)] if lin_head else [])
  sgd_head = lin_head and config.optim.get('head_name') == 'sgd'
  fixed_heads = spatial and o.get('projection', 'trained') != 'trained'  # ASGE's code: not trained
  for p_ in heads.parameters() if fixed_heads else ():
    p_.requires_grad_(False)
  params = list(units.parameters()) + ([] if sgd_head or fixed_heads else list(heads.parameters()))
  units.to(device)
  heads.to(device)
  if config.optim.get('name', 'adam') == 'sgd':  # the FF-MLP's reference: SGD with momentum
    opts = [torch.optim.SGD(params, lr=config.optim.lr, momentum=config.optim.momentum,
                            weight_decay=config.optim.weight_decay)]
  else:
    opts = [torch.optim.Adam(params, lr=1e-3)]
  if sgd_head:  # CwComp: the softmax head has its own SGD
    opts.append(torch.optim.SGD(heads.parameters(), lr=0.01))
  pats = None
  onehot = config.labels.kind == 'onehot'
  if threshold and not onehot:
    enc_pats = labels.fourier_patterns(num_classes, h, w, config.labels.label_set,
                                       tuple(config.labels.cycles))
    pats = torch.tensor(enc_pats, device=device)
  elif threshold:  # Hinton's: the label one-hot in the first pixels (neutral: 1/K each)
    pats = torch.zeros(num_classes, h, w, device=device)
    pats.view(num_classes, -1)[:, :num_classes] = torch.eye(num_classes, device=device)
  kint = config.labels.intensity

  def embed(x, pat):  # (1 - K) x + K L, min-max rescaled per image; one-hot: replaces pixels
    if onehot:
      z = x.clone()
      z.view(z.shape[0], -1)[:, :num_classes] = pat.reshape(pat.shape[0], -1)[:, :num_classes]
      return z
    z = (1 - kint) * x + kint * pat[:, None]
    lo = z.amin((1, 2, 3), keepdim=True)
    hi = z.amax((1, 2, 3), keepdim=True)
    return (z - lo) / (hi - lo).clamp_min(1e-6)

  peer_w = o.get('peer_weight', 0.) if threshold else 0.
  running = [torch.full((wd,), 0.5, device=device) for wd in m.widths] if peer_w else None
  alpha = o.get('symba_alpha', 4.)

  # model.dtype='bfloat16': PyTorch's own mixed precision (autocast: convs and matrix
  # products in bf16, reductions and losses in float32), as ffjax's units do.
  amp = config.model.get('dtype', 'float32') == 'bfloat16'

  def step(x_u8, y):
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
      return _step(x_u8, y)

  def _step(x_u8, y):
    x = x_u8.float() / 255.
    for opt in opts:
      opt.zero_grad(set_to_none=True)
    total = 0.
    if threshold:
      b = x.shape[0]
      y_neg = (y + torch.randint(1, num_classes, y.shape, device=device)) % num_classes
      hcur = torch.cat([embed(x, pats[y]), embed(x, pats[y_neg])])
      if dense and m.get('input_norm') == 'rms':
        hcur = hcur.flatten(1) / torch.sqrt((hcur.flatten(1) ** 2).mean(1, keepdim=True) + 1e-8)
      for l, u in enumerate(units):
        y_l, hcur = u(hcur.detach())
        g = (y_l ** 2).flatten(1).sum(1)
        theta = y_l[0].numel()
        if not (l > 0 or config.objective.train_first_unit):
          continue
        if kind == 'symba':  # softplus(-alpha (G_pos - G_neg)), mean-square goodness
          total = total + F.softplus(-alpha * (g[:b] - g[b:]) / theta).mean()
        elif o.get('reduce', 'sum_pair') == 'mean_all':  # BCE over positives and negatives
          total = total + torch.cat([F.softplus(theta - g[:b]), F.softplus(g[b:] - theta)]).mean()
        else:
          total = total + (F.softplus(theta - g[:b]) + F.softplus(g[b:] - theta)).mean()
        if peer_w:  # peer normalization of the positives (the reference FF-MLP's)
          run = 0.9 * running[l] + 0.1 * y_l[:b].mean(0)
          total = total + peer_w * ((run.mean() - run) ** 2).mean()
          running[l] = run.detach()
      with torch.no_grad():
        hcur, feats = embed(x, pats.mean(0, keepdim=True).expand(b, -1, -1)), []
        if dense and m.get('input_norm') == 'rms':
          hcur = hcur.flatten(1) / torch.sqrt((hcur.flatten(1) ** 2).mean(1, keepdim=True) + 1e-8)
        for l, u in enumerate(units):
          _, hcur = u(hcur)
          if l in head_units:
            feats.append(hcur.flatten(1))
      total = total + F.cross_entropy(heads[0](torch.cat(feats, 1)), y)
    elif spatial:
      hcur = x
      if m.get('input_norm', 'none') == 'rms':
        hcur = hcur / (torch.sqrt((hcur * hcur).mean((1, 2, 3), keepdim=True)) + 1e-8)
      for l, u in enumerate(units):
        y_l, hcur = u(hcur.detach())
        g = F.adaptive_avg_pool2d(y_l * y_l, grids[l]).permute(0, 2, 3, 1).flatten(1)
        total = total + F.cross_entropy(heads[l](g), y)
    elif groups_obj:  # CwComp: class goodness = mean square of each channel group
      hcur = x
      for u in units:
        y_l, hcur = u(hcur.detach())
        b, ch, hh, ww = y_l.shape
        g = (y_l * y_l).reshape(b, num_classes, ch // num_classes, hh, ww).mean((2, 3, 4))
        total = total + F.cross_entropy(g, y)
      if lin_head:
        total = total + F.cross_entropy(heads[0](hcur.detach().flatten(1)), y)
    else:
      hcur = x
      for u in units:
        _, hcur = u(hcur)
      total = F.cross_entropy(heads[0](hcur.flatten(1)), y)
    total.backward()
    for opt in opts:
      opt.step()
    return total

  return step


def torch_blocks_step_fn(config, image_shape, num_classes, device='cpu'):
  """Networks of blocks (ResNet-18, MobileNetV3): ffjax's conv units (a conv, depthwise or
  not, with stride -> batch norm -> + the block's input, projected by a 1x1 conv and batch
  norm where its shape differs -> activation -> squeeze-excite -> (y, its norm)), the
  input cut (detached) where a block starts; Scalable FF's per-class heads on every unit
  (a KxK conv to one channel per class, each channel's mean square a logit,
  cross-entropy), or backprop (no cut, softmax on the last unit)."""
  import torch
  import torch.nn.functional as F
  from torch import nn

  m, o = config.model, config.objective
  kind = 'bp' if config.method == 'bp' else o.get('kind', 'threshold')
  if kind not in ('bp', 'per_class'):
    raise SystemExit(f'error: torch_step has no PyTorch version of blocks with objective {kind!r}')
  n = len(m.widths)
  per = lambda key, l, default: (m.get(key) or (default,) * n)[l]
  ins = network.input_shapes(config, image_shape)
  outs = network.unit_shapes(config, image_shape)
  blocks = method_lib.block_ids(config)
  skips = tuple(m.get('skips', ())) or (-1,) * n
  acts = {'relu': F.relu, 'hardswish': F.hardswish, 'none': lambda z: z}

  def layer_norm(y):
    mu = y.mean((1, 2, 3), keepdim=True)
    return (y - mu) / torch.sqrt(((y - mu) ** 2).mean((1, 2, 3), keepdim=True) + 1e-5)

  class SE(nn.Module):  # MobileNetV3's gate, as units.SqueezeExcite
    def __init__(self, ch):
      super().__init__()
      mid = max(8, (ch // 4 + 4) // 8 * 8)
      self.reduce, self.expand = nn.Linear(ch, mid), nn.Linear(mid, ch)

    def forward(self, y):
      g = F.hardsigmoid(self.expand(F.relu(self.reduce(y.mean((2, 3))))))
      return y * g[:, :, None, None]

  class Unit(nn.Module):
    def __init__(self, l):
      super().__init__()
      cin, width, k = ins[l][2], m.widths[l], m.kernels[l]
      stride = per('strides', l, 1) or 1
      dw = bool(per('depthwise', l, False))
      self.conv = nn.Conv2d(cin, width, k, stride, padding=k // 2, groups=cin if dw else 1)
      self.bn = nn.BatchNorm2d(width) if m.get('batch_norm') else None
      self.proj = None
      if skips[l] >= 0:
        src_h, _, src_c = ins[skips[l]]
        s = src_h // outs[l][0]
        if src_c != width or s != 1:
          self.proj = nn.Sequential(nn.Conv2d(src_c, width, 1, s, bias=self.bn is None),
                                    *([nn.BatchNorm2d(width)] if self.bn is not None else []))
      self.se = SE(width) if per('se', l, False) else None
      self.act = acts[per('acts', l, 'relu')]
      self.norm = layer_norm if (m.norms[l] if m.get('norms') else m.norm) == 'layer' else (lambda y: y)

    def forward(self, h, skip=None):
      z = self.conv(h)
      z = self.bn(z) if self.bn is not None else z
      if skip is not None:
        z = z + (self.proj(skip) if self.proj is not None else skip)
      y = self.act(z)
      y = self.se(y) if self.se is not None else y
      return y, self.norm(y)

  units = nn.ModuleList(Unit(l) for l in range(n)).to(device)
  if kind == 'per_class':
    heads = nn.ModuleList(nn.Conv2d(outs[l][2], num_classes, o.aux_kernel, padding=o.aux_kernel // 2)
                          for l in range(n)).to(device)
  else:
    heads = nn.ModuleList([nn.Linear(int(np.prod(outs[-1])), num_classes)]).to(device)
  opt = torch.optim.Adam(list(units.parameters()) + list(heads.parameters()), lr=1e-3)

  def step(x_u8, y):
    x = x_u8.float() / 255.
    opt.zero_grad(set_to_none=True)
    h, seen, total = x, [], 0.
    for l, u in enumerate(units):
      cut = kind != 'bp' and (l == 0 or blocks[l] != blocks[l - 1])
      h = h.detach() if cut else h
      seen.append(h)
      a, h = u(h, seen[skips[l]] if skips[l] >= 0 else None)
      if kind == 'per_class':
        total = total + F.cross_entropy((heads[l](a) ** 2).mean((2, 3)), y)
    if kind == 'bp':
      total = F.cross_entropy(heads[0](h.flatten(1)), y)
    total.backward()
    opt.step()
    return total

  return step


def torch_scff_step_fn(config, image_shape, num_classes, device='cpu'):
  """SCFF (ffjax/methods/scff.py): what ffjax's step computes. Dense units
  (configs/scff.py's MNIST): the pairs made once at the input, pair(s, s) and pair(s, s
  shifted by k) of the standardized images (one C-channel image each), Linear -> ReLU ->
  layer norm passed on, the loss on the ReLU's output. The authors' layer
  (model.kind='scff_conv', configs/scff.py's CIFAR-10): a pairing unit standardizes the
  positives it receives (unbiased std) and makes [x | x] and [x | x shifted by k];
  every unit pads (reflect), standardizes each example over both halves, and convolves
  the halves' sum (W * (x1 + x2) + 2b); its loss: per position g = mean over channels
  of relu(z)^2, softplus(theta+ - g+) + softplus(g- - theta-) + lambda ||g+||_2; it
  passes on pool(act(z)). The readout: a second pass (no pairs made, every row a
  positive) under no_grad, every unit's output -> one linear layer -> cross-entropy.
  AdamW for the units (their per-unit rates and weight decays), Adam for the readout;
  the input standardized with the config's constants and flipped at random."""
  import torch
  import torch.nn.functional as F
  from torch import nn

  m, o = config.model, config.objective
  n = len(m.widths)
  per = lambda key, l, default: (tuple(m.get(key, ())) or (default,) * n)[l]
  th_pos, th_neg, lams = (tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
                          for v in (o.scff_theta_pos, o.scff_theta_neg, o.scff_lambda))
  c = image_shape[2]
  shapes = network.unit_shapes(config, image_shape)
  standardized = config.data.normalize == 'standardize'
  mean = torch.tensor(config.data.mean if standardized else (0.,) * c, device=device).view(1, c, 1, 1)
  std = torch.tensor(config.data.std if standardized else (1.,) * c, device=device).view(1, c, 1, 1)

  def stdnorm(y):  # per example, unbiased std (torch.std), as the authors
    y = y - y.mean((1, 2, 3), keepdim=True)
    return y / (1e-10 + y.std((1, 2, 3), keepdim=True))

  def triangle(z):
    return F.relu(z - z.mean(1, keepdim=True))

  class Unit(nn.Module):
    def __init__(self, l, cin):
      super().__init__()
      self.conv = nn.Conv2d(cin, m.widths[l], m.kernels[l])
      self.first, self.pair, self.pad = l == 0, bool(m.pair_at[l]), per('pads', l, 0)
      self.act = triangle if per('acts', l, 'relu') == 'triangle' else F.relu
      k = m.pools[l]
      kind, s, p = per('pool_kinds', l, 'max'), per('pool_strides', l, k), per('pool_pads', l, 0)
      self.pool = ((lambda y: F.max_pool2d(y, k, s, p)) if kind == 'max' else
                   (lambda y: F.avg_pool2d(y, k, s, p)))

    def forward(self, x, shift=None):
      if self.pair:
        pos = x if self.first or shift is None else x[:x.shape[0] // 2]
        s = stdnorm(pos)
        x = torch.cat([s, s], 1)
        if shift is not None:
          x = torch.cat([x, torch.cat([s, torch.roll(s, -shift, 0)], 1)])
      if self.pad:
        x = F.pad(x, (self.pad,) * 4, mode='reflect')
      x = stdnorm(x)
      if self.pair:
        half = x.shape[1] // 2
        z = self.conv(x[:, :half] + x[:, half:]) + self.conv.bias[:, None, None]
      else:
        z = self.conv(x)
      return F.relu(z), self.pool(self.act(z))

  class DenseUnit(nn.Module):  # flatten -> Linear -> ReLU -> (y, layer norm of y)
    def __init__(self, cin, cout):
      super().__init__()
      self.linear, self.pair = nn.Linear(cin, cout), False

    def forward(self, x, shift=None):
      y = F.relu(self.linear(x.flatten(1)))
      mu = y.mean(1, keepdim=True)
      return y, (y - mu) / torch.sqrt(((y - mu) ** 2).mean(1, keepdim=True) + 1e-5)

  def standardize(x):  # biased std (ffjax's scff.standardize)
    x = x - x.mean((1, 2, 3), keepdim=True)
    return x / (torch.sqrt((x * x).mean((1, 2, 3), keepdim=True)) + 1e-10)

  def pair(a, b):  # (A + B - 2 m) / s, m and s of both halves per example (scff.pair)
    mu = 0.5 * (a.mean((1, 2, 3), keepdim=True) + b.mean((1, 2, 3), keepdim=True))
    var = 0.5 * (((a - mu) ** 2).mean((1, 2, 3), keepdim=True) +
                 ((b - mu) ** 2).mean((1, 2, 3), keepdim=True))
    return (a + b - 2. * mu) / (torch.sqrt(var) + 1e-10)

  dense = m.get('kind') == 'dense'
  units, cin = nn.ModuleList(), c * image_shape[0] * image_shape[1] if dense else c
  for l in range(n):
    units.append(DenseUnit(cin, m.widths[l]) if dense else Unit(l, cin))
    cin = m.widths[l]
  head = nn.Linear(sum(int(np.prod(s)) for s in shapes), num_classes)
  units.to(device)
  head.to(device)
  lr = config.optim.lr
  scales = tuple(config.optim.get('unit_lr_scale', ())) or (1.,) * n
  wds = tuple(config.optim.get('unit_weight_decay', ())) or (config.optim.weight_decay,) * n
  opts = [torch.optim.AdamW(u.parameters(), lr=lr * s_, weight_decay=wd)
          for u, s_, wd in zip(units, scales, wds)]
  opts.append(torch.optim.Adam(head.parameters(), lr=config.optim.get('head_lr', 1e-3)))

  def step(x_u8, y):
    x = (x_u8.float() / 255. - mean) / std
    if config.data.augment == 'flip':
      flip = torch.rand(x.shape[0], 1, 1, 1, device=device) < 0.5
      x = torch.where(flip, x.flip(3), x)
    for opt in opts:
      opt.zero_grad(set_to_none=True)
    b, total, hcur = x.shape[0], 0., x
    if dense:  # the pairs, made once at the input
      s_ = standardize(x)
      k = int(torch.randint(1, max(2, b), ()))
      hcur = torch.cat([pair(s_, s_), pair(s_, torch.roll(s_, k, 0))])
    for l, u in enumerate(units):
      shift = int(torch.randint(1, max(2, b), ())) if u.pair else None
      a, hcur = u(hcur.detach(), shift)
      g = (a * a).mean(1).reshape(a.shape[0], -1)  # per position (dense: one)
      g_pos, g_neg = g[:b], g[b:]
      total = total + (F.softplus(th_pos[l] - g_pos).mean() + F.softplus(g_neg - th_neg[l]).mean()
                       + lams[l] * g_pos.norm(dim=1).mean())
    with torch.no_grad():
      hcur, feats = (pair(standardize(x), standardize(x)) if dense else x), []
      for u in units:
        _, hcur = u(hcur)
        feats.append(hcur.flatten(1))
    total = total + F.cross_entropy(head(torch.cat(feats, 1)), y)
    total.backward()
    for opt in opts:
      opt.step()
    return total

  return step


def measure_torch(config, steps, repeats, device='cpu'):
  import torch
  if device == 'cuda':
    torch.backends.cudnn.benchmark = True  # let cuDNN pick its fastest kernels (as users do)
  k, h, w, c = data.shape_of(config.data)
  bsz = config.train.batch_size
  fn = (torch_blocks_step_fn if config.model.get('blocks') else
        torch_scff_step_fn if config.objective.get('kind') == 'scff' else torch_step_fn)
  step = fn(config, (h, w, c), k, device)
  rng = np.random.default_rng(0)
  xs = [torch.tensor(rng.integers(0, 256, (bsz, c, h, w), dtype=np.uint8), device=device)
        for _ in range(4)]
  ys = [torch.tensor(rng.integers(0, k, bsz), device=device) for _ in range(4)]
  for i in range(3):
    step(xs[i % 4], ys[i % 4])

  def run():
    for i in range(steps):
      loss = step(xs[i % 4], ys[i % 4])
    float(loss.detach())  # waits for the device

  r0 = resource.getrusage(resource.RUSAGE_SELF)
  med, spread = throughput.timed(run, repeats)
  r1 = resource.getrusage(resource.RUSAGE_SELF)
  return dict(images_per_sec=steps * bsz / med, spread=spread,
              page_faults_per_step=(r1.ru_minflt - r0.ru_minflt) / (steps * repeats))


def main():
  import torch
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--steps', type=int, default=10)
  ap.add_argument('--repeats', type=int, default=5)
  ap.add_argument('--batch', type=int, default=0, help="train.batch_size (default: the config's)")
  ap.add_argument('--torch_device', default='',
                  help="'cpu' | 'cuda' (default: cuda when JAX runs on a GPU and torch sees one)")
  a = ap.parse_args()
  if len(a.configs) > 1:
    # One process per config: each with its own XLA:CPU options, as its run sets them.
    opts = ['--steps', str(a.steps), '--repeats', str(a.repeats), '--batch', str(a.batch),
            '--torch_device', a.torch_device]
    failed = [spec for spec in a.configs
              if subprocess.run([sys.executable, '-m', 'benchmarks.torch_step', spec] + opts).returncode]
    sys.exit(f'failed: {failed}' if failed else 0)
  configs = [throughput.load(spec) for spec in a.configs]
  throughput.apply_config_options(configs)
  import jax
  dev = jax.devices()[0]
  tdev = a.torch_device or ('cuda' if dev.platform == 'gpu' and torch.cuda.is_available() else 'cpu')
  for spec, config in zip(a.configs, configs):
    if a.batch:
      config.train.batch_size = a.batch
    j = throughput.measure(config, a.steps, a.repeats)
    t = measure_torch(config, a.steps, a.repeats, tdev)
    print(json.dumps({
        'bench': 'torch_step', 'config': spec, 'method': config.method,
        'objective': 'bp' if config.method == 'bp' else config.objective.get('kind', 'threshold'),
        'batch_size': config.train.batch_size,
        'device': f'{dev.platform}:{dev.device_kind}', 'cores': os.cpu_count(),
        'dtype': config.model.get('dtype', 'float32'), 'torch_device': tdev,
        'jax': jax.__version__, 'torch': torch.__version__, 'torch_threads': torch.get_num_threads(),
        'xla_flags': os.environ.get('XLA_FLAGS', ''),
        'malloc_options': ' '.join(malloc_options.applied()),
        'ffjax_images_per_sec': round(j['images_per_sec'], 1),
        'torch_images_per_sec': round(t['images_per_sec'], 1),
        'ratio_ffjax_over_torch': round(j['images_per_sec'] / t['images_per_sec'], 3),
        'spread_ffjax': round(j['spread'], 3), 'spread_torch': round(t['spread'], 3),
        'page_faults_per_step_ffjax': round(j['page_faults_per_step']),
        'page_faults_per_step_torch': round(t['page_faults_per_step'])}), flush=True)


if __name__ == '__main__':
  main()
