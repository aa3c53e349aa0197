"""Figures of a run, as PNG files in its workdir (matplotlib, the `plots` extra).

  python -m experiments.plot WORKDIR     all figures of a finished (or interrupted) run

curves.png      per-unit FF loss and discrimination accuracy over training (paper Fig. 3C/3D);
                a unit the method measures but does not train is marked so
accuracy.png    accuracy per epoch of every predictor
confusion.png   confusion matrix of each predictor on the split it names
labels.png      the class patterns, and images as the network sees them (positive / negative)
goodness.png    goodness per candidate label for a few test images (label-in-input methods)
cams.png        class activation maps per unit over correctly and wrongly classified images,
                for the predicted label, with their colour scales

Each function draws into a new figure: given a path it writes the PNG there and returns
the path; given none it returns the figure (a notebook shows it; the tests read its axes).
compare_runs draws several runs' accuracy on one plot (FF against backprop, say).
"""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ffjax import metrics as metrics_lib
from ffjax import cams as cams_lib
from ffjax import labels as labels_lib
from ffjax.method import Method


def _plt():
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt


def _compiled(fn, net, *arrays):
  """fn(net, *arrays) as one compiled program: run op by op, each of its few hundred ops
  is compiled alone (about 3 s of a first run's figures on a CPU)."""
  from flax import nnx
  graphdef, state = nnx.split(net)
  return jax.jit(lambda st, *a: fn(nnx.merge(graphdef, st), *a))(state, *arrays)


def _done(fig, path):
  """Writes and closes fig at path (returns path), or returns fig when path is None."""
  if path is None:
    return fig
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  _plt().close(fig)
  return path


def _units(records, prefix):
  keys = metrics_lib.unit_keys({k for r in records for k in r}, prefix.rstrip('_'))
  return [metrics_lib.unit_tag(metrics_lib.unit_of(k) or 0) for k in keys]


def training_curves(records, path=None, untrained=()):
  """untrained: units ('u1', ...) whose loss is measured, not trained (the FF-CNN's
  first): left out of the loss panel (a fixed unit's goodness dwarfs the others' losses)
  and drawn grey, dotted, in the accuracy panel."""
  plt = _plt()
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
  tr = [r for r in records if 'train/loss' in r]
  for split, style in (('train', '-'), ('val', 'o--'), ('test', 'o--')):
    rs = [r for r in records if metrics_lib.unit_keys(r, f'{split}/loss')]
    for u in _units(rs, f'{split}/loss_'):  # u1, u2, ...
      steps = [r['step'] for r in rs]
      # Threshold FF: positive-vs-negative discrimination; ASGE: the unit's own accuracy.
      acc = f'{split}/disc_acc_{u}' if f'{split}/disc_acc_{u}' in rs[-1] else f'{split}/acc_{u}'
      color = f'C{((metrics_lib.unit_of(u) or 0) + 1) % 10}'  # one colour per unit, whatever the split
      if u in untrained:
        if split == 'train' and acc in rs[-1]:
          a2.plot(steps, [r.get(acc, np.nan) for r in rs], ':', color='grey',
                  label=f'{u} (not trained)')
        continue
      a1.plot(steps, [r[f'{split}/loss_{u}'] for r in rs], style, color=color, label=f'{split} {u}')
      if acc in rs[-1]:
        a2.plot(steps, [r.get(acc, np.nan) for r in rs], style, color=color, label=f'{split} {u}')
  if not any(metrics_lib.unit_keys(r, 'train/loss') for r in tr):  # backprop: one loss
    a1.plot([r['step'] for r in tr], [r['train/loss'] for r in tr], label='train loss')
  a1.set(xlabel='step', ylabel='loss', yscale='log', title='loss per trained unit')
  spatial = any(metrics_lib.unit_keys(r, 'train/acc') for r in tr)
  a2.set(xlabel='step', ylabel='accuracy', title='each unit alone' if spatial else
         'positive vs negative per unit (discrimination)')
  for a in (a1, a2):
    if a.get_legend_handles_labels()[0]:
      a.legend(fontsize=7)
    a.grid(alpha=.3)
  return _done(fig, path)


def accuracy_per_epoch(records, path=None):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6, 4))
  for split in ('val', 'test'):
    rs = [r for r in records if any(k.startswith(f'{split}/acc_') for k in r)]
    keys = sorted({k for r in rs for k in r if k.startswith(f'{split}/acc_')})
    for k in keys:
      ax.plot([r['epoch'] for r in rs], [100 * r[k] for r in rs], 'o-', label=k)
  ax.set(xlabel='epoch', ylabel='accuracy (%)', title='accuracy per epoch')
  ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole
  ax.grid(alpha=.3)
  ax.legend(fontsize=8)
  return _done(fig, path)


def compare_runs(runs: dict, path=None, split: str = 'val'):
  """runs: {name: workdir}. Every predictor's accuracy per epoch of each run on one plot
  (e.g. FF against backprop on the same budget), and each run's images/s."""
  from ffjax import metrics
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for (name, wd), marker in zip(runs.items(), 'osD^v<>'):
    recs = metrics.read(wd)
    rs = [r for r in recs if any(k.startswith(f'{split}/acc_') for k in r)]
    ips = [r['images_per_sec'] for r in recs if 'images_per_sec' in r]
    speed = f', {np.median(ips):,.0f} img/s' if ips else ''
    for k in sorted({k for r in rs for k in r if k.startswith(f'{split}/acc_')}):
      ax.plot([r['epoch'] for r in rs], [100 * r.get(k, np.nan) for r in rs], marker + '-',
              label=f'{name}: {k[len(split) + 5:]}{speed}')
  ax.set(xlabel='epoch', ylabel=f'{split} accuracy (%)', title='the runs side by side')
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.grid(alpha=.3)
  ax.legend(fontsize=8)
  return _done(fig, path)


def confusion_matrices(y, preds: dict, num_classes, path=None, split: str = 'test'):
  """One matrix per predictor, every class labelled (up to 20; above, every k-th), the
  split and its size in the title."""
  plt = _plt()
  fig, axes = plt.subplots(1, len(preds), figsize=(4.6 * len(preds), 4.4), squeeze=False)
  ticks = np.arange(0, num_classes, max(1, -(-num_classes // 20)))
  for ax, (name, p) in zip(axes[0], preds.items()):
    m = np.zeros((num_classes, num_classes), int)
    np.add.at(m, (y, p), 1)
    ax.imshow(m, cmap='Blues')
    ax.set(title=f'{name} on {split} ({len(y)} images): {100 * np.mean(y == p):.2f}%',
           xlabel='predicted', ylabel='true', xticks=ticks, yticks=ticks)
    ax.tick_params(labelsize=7 if num_classes > 10 else 9)
    if num_classes <= 20:
      for i in range(num_classes):
        for j in range(num_classes):
          if m[i, j]:
            ax.text(j, i, m[i, j], ha='center', va='center', fontsize=6,
                    color='white' if m[i, j] > m.max() / 2 else 'black')
  return _done(fig, path)


def _show(ax, img):
  img = np.asarray(img)
  ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap='gray')
  ax.set_xticks([])
  ax.set_yticks([])


def label_gallery(encoder, x_BxHxWxC, y_B, path=None, seed=0):
  """Row 1: the class patterns; then per image: as it is, with its label, with a wrong one."""
  plt = _plt()
  k = min(encoder.num_classes, 10)
  n = min(len(y_B), 4)
  x = jnp.asarray(x_BxHxWxC[:n])
  y = jnp.asarray(y_B[:n])

  def images(x, y):
    neg = labels_lib.sample_negatives(jax.random.key(seed), y, encoder.num_classes)
    return neg, encoder.embed(x, y), encoder.embed(x, neg)

  neg, pos_img, neg_img = (np.asarray(a) for a in jax.jit(images)(x, y))
  x, y = np.asarray(x), np.asarray(y)
  rows, cols = n + 1, max(k, 3)
  fig = plt.figure(figsize=(1.3 * cols, 1.4 * rows))

  def cell(r, c, img, title):  # only the cells that show something (each axes costs ~10 ms)
    ax = fig.add_subplot(rows, cols, r * cols + c + 1)
    _show(ax, img)
    ax.set_title(title, fontsize=7)

  if encoder.patterns_KxHxW is not None:
    for c in range(k):
      cell(0, c, encoder.patterns_KxHxW[c][..., None], f'label {c}')
  for i in range(n):
    for j, (img, t) in enumerate(((x[i], f'image ({int(y[i])})'), (pos_img[i], f'positive {int(y[i])}'),
                                  (neg_img[i], f'negative {int(neg[i])}'))):
      cell(i + 1, j, img, t)
  return _done(fig, path)


def goodness_per_label(net, method: Method, x_BxHxWxC, y_B, path=None):
  """Per image: its goodness with every candidate label in it (what goodness inference
  compares), the true label green, a wrong winner red, the winner's margin over the
  runner-up in the title."""
  from ffjax import predict
  plt = _plt()
  g = np.asarray(_compiled(lambda n, x: predict.goodness_scores(
      n, method.encoder, x, method.goodness_units, method.goodness_per_theta), net,
      jnp.asarray(x_BxHxWxC)))
  n, k = g.shape
  fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 4.2), squeeze=False,
                           gridspec_kw={'height_ratios': [1, 1.3]})
  for i in range(n):
    _show(axes[0, i], x_BxHxWxC[i])
    axes[0, i].set_title(f'true label {int(y_B[i])}', fontsize=8)
    win = int(np.argmax(g[i]))
    colors = ['tab:green' if c == y_B[i] else ('tab:red' if c == win else 'tab:gray') for c in range(k)]
    axes[1, i].bar(range(k), g[i], color=colors)
    lo = g[i].min() - 0.1 * (np.ptp(g[i]) + 1e-9)
    axes[1, i].set_ylim(lo, g[i].max() + 0.1 * (np.ptp(g[i]) + 1e-9))
    margin = g[i][win] - np.sort(g[i])[-2]
    axes[1, i].set_title(f'wins: {win} ({"right" if win == y_B[i] else "wrong"}) by {margin:.3g}',
                         fontsize=8)
    axes[1, i].set(xlabel='label in the image', xticks=range(k))
    axes[1, i].tick_params(labelsize=7)
  axes[1, 0].set_ylabel('goodness')
  return _done(fig, path)


def cam_figure(net, method: Method, x_BxHxWxC, y_B, pred_B, path=None, predictor: str = ''):
  """Per image (rows): the image, then each unit's map for the predicted label over it:
  the linear head's CAMs, or (ASGE) each unit's patch votes. Red is evidence for the
  label, blue against it; each map has its own colour bar (the map sums, with the
  head's bias, to the unit's share of the label's logit)."""
  plt = _plt()
  x = np.asarray(x_BxHxWxC)
  y_B, pred_B = np.asarray(y_B), np.asarray(pred_B)
  if method.scored:
    maps = _compiled(lambda n, x, c: cams_lib.spatial_class_maps(n, x, c, method.scored),
                     net, jnp.asarray(x), jnp.asarray(pred_B))
    titles = [f'unit {l + 1} patches' for l in method.scored]
  else:
    maps = _compiled(lambda n, x, c: cams_lib.class_activation_maps(
        n, method.encoder, x, c, method.readout_units), net, jnp.asarray(x), jnp.asarray(pred_B))
    titles = [f'unit {l + 1}' for l in method.readout_units]
  maps = [np.asarray(m) for m in maps]
  n, u = len(y_B), len(maps)
  fig, axes = plt.subplots(n, u + 1, figsize=(2.3 * (u + 1), 1.95 * n + 0.5), squeeze=False)
  for i in range(n):
    _show(axes[i, 0], x[i])
    ok = 'right' if y_B[i] == pred_B[i] else 'WRONG'
    axes[i, 0].set_title(f'true {y_B[i]}, pred {pred_B[i]} ({ok})', fontsize=7)
    for j, m in enumerate(maps):
      m_i = np.asarray(m[i])
      if m_i.shape[0] == 1:  # dense unit: no spatial map
        axes[i, j + 1].plot(m_i[0])
        continue
      _show(axes[i, j + 1], x[i])
      lim = float(np.abs(m_i).max()) + 1e-12
      im = axes[i, j + 1].imshow(m_i, cmap='bwr', vmin=-lim, vmax=lim, alpha=0.6,
                                 extent=(-.5, x.shape[2] - .5, x.shape[1] - .5, -.5))
      axes[i, j + 1].set_title(f'{titles[j]}: map of label {pred_B[i]}', fontsize=7)
      cb = fig.colorbar(im, ax=axes[i, j + 1], fraction=0.046, pad=0.03, ticks=[-lim, 0, lim])
      cb.ax.set_yticklabels([f'{-lim:.2g}', '0', f'{lim:.2g}'])
      cb.ax.tick_params(labelsize=6)
  by = f' (predicted by {predictor})' if predictor else ''
  fig.suptitle(f'maps of the predicted label{by}: red is evidence for it, blue against it',
               fontsize=8)
  return _done(fig, path)


def untrained_units(method: Method) -> set:
  """'u1', ...: units whose loss the method measures but does not train."""
  return {metrics_lib.unit_tag(l) for l, (o, t) in enumerate(zip(method.objectives, method.trained))
          if o is not None and not t}


def plot_run(workdir, split_name: str = 'test', num_cams: int = 3) -> list[Path]:
  """Every figure of a run; returns the paths written."""
  from ffjax import heads, metrics, predict, readback
  workdir = Path(workdir)
  records = metrics.read(workdir)
  r = readback.restore_run(workdir)
  net, method, dataset = r.net, r.method, r.dataset
  out = [training_curves(records, workdir / 'curves.png', untrained_units(method)),
         accuracy_per_epoch(records, workdir / 'accuracy.png')]
  preds_file = workdir / f'predictions_{split_name}.npz'
  split = {'test': dataset.test, 'val': dataset.val}[split_name]
  assert split is not None, split_name
  x = np.asarray(jax.jit(r.parts.preprocess.to_float)(jnp.asarray(split.x[:256])))
  y = split.y[:256]
  if preds_file.exists():
    p = np.load(preds_file)
    preds = {k[len('pred_'):]: p[k] for k in p.files if k.startswith('pred_')}
    # Per-unit predictors: the three strategies, not every unit.
    preds = {k: v for k, v in preds.items() if metrics_lib.unit_of(k) is None}
    out.append(confusion_matrices(p['y'], preds, dataset.num_classes, workdir / 'confusion.png',
                                  split_name))
    name = 'linear' if 'pred_linear' in p.files else 'best'
    pred = p[f'pred_{name}'][:256]
  elif method.scored:
    name = 'last'
    pred = np.asarray(jnp.argmax(_compiled(lambda n, x: predict.unit_logits(n, x, method.scored),
                                           net, jnp.asarray(x))[-1], -1))
  else:
    name = 'linear'
    pred = np.asarray(jnp.argmax(_compiled(lambda n, x: predict.linear_logits(
        n, method.encoder, x, method.readout), net, jnp.asarray(x)), -1))
  if method.label_in_input:
    out.append(label_gallery(method.encoder, x, y, workdir / 'labels.png'))
    out.append(goodness_per_label(net, method, x[:4], y[:4], workdir / 'goodness.png'))
  right = np.flatnonzero(pred == y)[:num_cams]
  wrong = np.flatnonzero(pred != y)[:num_cams]
  idx = np.concatenate([right, wrong])
  # CAMs read the linear head, or ASGE's spatial heads; other per-unit heads have no map.
  has_map = (all(isinstance(net.aux[l], heads.SpatialHead) for l in method.scored) if method.scored
             else method.readout is not None)
  if len(idx) and has_map:
    out.append(cam_figure(net, method, x[idx], y[idx], pred[idx], workdir / 'cams.png', name))
  return out
