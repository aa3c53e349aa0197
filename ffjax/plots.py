"""Figures of a run, as PNG files in its workdir (matplotlib, the `plots` extra).

  python -m experiments.plot WORKDIR     all figures of a finished (or interrupted) run

curves.png      per-unit FF loss and discrimination accuracy over training (paper Fig. 3C/3D)
accuracy.png    accuracy per epoch of every predictor
confusion.png   confusion matrix of each predictor on the final evaluation split
labels.png      the class patterns, and images as the network sees them (positive / negative)
cams.png        class activation maps per unit over correctly and wrongly classified images
"""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ffjax import cams as cams_lib
from ffjax import labels as labels_lib


def _plt():
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt


def _units(records, prefix):
  us = {k[len(prefix):] for r in records for k in r if k.startswith(prefix)}
  return sorted((u for u in us if u[0] == 'u' and u[1:].isdigit()), key=lambda u: int(u[1:]))


def training_curves(records, path):
  plt = _plt()
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
  tr = [r for r in records if 'train/loss' in r]
  for split, style in (('train', '-'), ('val', 'o--'), ('test', 'o--')):
    rs = [r for r in records if any(k.startswith(f'{split}/loss_u') for k in r)]
    for u in _units(rs, f'{split}/loss_'):  # u1, u2, ...
      steps = [r['step'] for r in rs]
      a1.plot(steps, [r[f'{split}/loss_{u}'] for r in rs], style, label=f'{split} {u}')
      # Threshold FF: positive-vs-negative discrimination; ASGE: the unit's own accuracy.
      acc = f'{split}/disc_acc_{u}' if f'{split}/disc_acc_{u}' in rs[-1] else f'{split}/acc_{u}'
      if acc in rs[-1]:
        a2.plot(steps, [r.get(acc, np.nan) for r in rs], style, label=f'{split} {u}')
  if not any(k.startswith('train/loss_u') for r in tr for k in r):  # backprop: one loss
    a1.plot([r['step'] for r in tr], [r['train/loss'] for r in tr], label='train loss')
  a1.set(xlabel='step', ylabel='loss', yscale='log', title='loss per unit')
  spatial = any(k.startswith('train/acc_u') for r in tr for k in r)
  a2.set(xlabel='step', ylabel='accuracy', title='each unit alone' if spatial else
         'positive vs negative per unit (discrimination)')
  for a in (a1, a2):
    if a.get_legend_handles_labels()[0]:
      a.legend(fontsize=7)
    a.grid(alpha=.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def accuracy_per_epoch(records, path):
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
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def confusion_matrices(y, preds: dict, num_classes, path):
  plt = _plt()
  fig, axes = plt.subplots(1, len(preds), figsize=(4.6 * len(preds), 4.2), squeeze=False)
  for ax, (name, p) in zip(axes[0], preds.items()):
    m = np.zeros((num_classes, num_classes), int)
    np.add.at(m, (y, p), 1)
    ax.imshow(m, cmap='Blues')
    ax.set(title=f'{name}: {100 * np.mean(y == p):.2f}%', xlabel='predicted', ylabel='true')
    if num_classes <= 20:
      for i in range(num_classes):
        for j in range(num_classes):
          if m[i, j]:
            ax.text(j, i, m[i, j], ha='center', va='center', fontsize=6,
                    color='white' if m[i, j] > m.max() / 2 else 'black')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def _show(ax, img):
  img = np.asarray(img)
  ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap='gray')
  ax.set_xticks([])
  ax.set_yticks([])


def label_gallery(encoder, x_BxHxWxC, y_B, path, seed=0):
  """Row 1: the class patterns; then per image: as it is, with its label, with a wrong one."""
  plt = _plt()
  k = min(encoder.num_classes, 10)
  n = min(len(y_B), 4)
  x = jnp.asarray(x_BxHxWxC[:n])
  y = jnp.asarray(y_B[:n])
  neg = labels_lib.sample_negatives(jax.random.key(seed), y, encoder.num_classes)
  pos_img, neg_img = encoder.embed(x, y), encoder.embed(x, neg)
  fig, axes = plt.subplots(n + 1, max(k, 3), figsize=(1.3 * max(k, 3), 1.4 * (n + 1)), squeeze=False)
  for a in axes.ravel():
    a.axis('off')
  if encoder.patterns_KxHxW is not None:
    for c in range(k):
      _show(axes[0, c], encoder.patterns_KxHxW[c][..., None])
      axes[0, c].set_title(f'label {c}', fontsize=7)
  for i in range(n):
    for j, (img, t) in enumerate(((x[i], f'image ({int(y[i])})'), (pos_img[i], f'positive {int(y[i])}'),
                                  (neg_img[i], f'negative {int(neg[i])}'))):
      _show(axes[i + 1, j], img)
      axes[i + 1, j].set_title(t, fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def cam_figure(net, method, x_BxHxWxC, y_B, pred_B, path):
  """Per image (rows): the image, then each unit's map for the predicted class over it:
  the linear head's CAMs, or (ASGE) each unit's patch votes."""
  plt = _plt()
  x = jnp.asarray(x_BxHxWxC)
  if method.scored:
    maps = cams_lib.spatial_class_maps(net, x, jnp.asarray(pred_B), method.scored)
    titles = [f'unit {l + 1} patches' for l in method.scored]
  else:
    maps = cams_lib.class_activation_maps(net, method.encoder, x, jnp.asarray(pred_B),
                                          method.readout_units)
    titles = [f'unit {l + 1} CAM' for l in method.readout_units]
  n, u = len(y_B), len(maps)
  fig, axes = plt.subplots(n, u + 1, figsize=(1.9 * (u + 1), 1.9 * n), squeeze=False)
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
      lim = np.abs(m_i).max() + 1e-12
      axes[i, j + 1].imshow(m_i, cmap='bwr', vmin=-lim, vmax=lim, alpha=0.6,
                            extent=(-.5, x.shape[2] - .5, x.shape[1] - .5, -.5))
      axes[i, j + 1].set_title(titles[j], fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_run(workdir, split_name: str = 'test', num_cams: int = 3) -> list[Path]:
  """Every figure of a run; returns the paths written."""
  from ffjax import heads, metrics, predict, rundir
  workdir = Path(workdir)
  records = metrics.read(workdir)
  out = [training_curves(records, workdir / 'curves.png'),
         accuracy_per_epoch(records, workdir / 'accuracy.png')]
  r = rundir.restore_run(workdir)
  net, method, dataset = r.net, r.method, r.dataset
  preds_file = workdir / f'predictions_{split_name}.npz'
  split = {'test': dataset.test, 'val': dataset.val}[split_name]
  x = np.asarray(r.parts.preprocess.to_float(jnp.asarray(split.x[:256])))
  y = split.y[:256]
  if preds_file.exists():
    p = np.load(preds_file)
    preds = {k[len('pred_'):]: p[k] for k in p.files if k.startswith('pred_')}
    # Per-unit predictors: the three strategies, not every unit.
    preds = {k: v for k, v in preds.items() if not (k[0] == 'u' and k[1:].isdigit())}
    out.append(confusion_matrices(p['y'], preds, dataset.num_classes, workdir / 'confusion.png'))
    pred = p['pred_linear' if 'pred_linear' in p.files else 'pred_best'][:256]
  elif method.scored:
    pred = np.asarray(jnp.argmax(predict.unit_logits(net, jnp.asarray(x), method.scored)[-1], -1))
  else:
    pred = np.asarray(jnp.argmax(predict.linear_logits(net, method.encoder, jnp.asarray(x),
                                                       method.readout), -1))
  if method.label_in_input:
    out.append(label_gallery(method.encoder, x, y, workdir / 'labels.png'))
  right = np.flatnonzero(pred == y)[:num_cams]
  wrong = np.flatnonzero(pred != y)[:num_cams]
  idx = np.concatenate([right, wrong])
  # CAMs read the linear head, or ASGE's spatial heads; other per-unit heads have no map.
  has_map = (all(isinstance(net.aux[l], heads.SpatialHead) for l in method.scored) if method.scored
             else method.readout is not None)
  if len(idx) and has_map:
    out.append(cam_figure(net, method, x[idx], y[idx], pred[idx], workdir / 'cams.png'))
  return out
