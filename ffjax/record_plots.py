"""Figures of a run's records alone (metrics.jsonl, predictions_*.npz): numpy and
matplotlib, no JAX, so that another process draws them while the run's own process
computes the figures of its network (plots.plot_run).

  python -m ffjax.record_plots '{"workdir": ..., "split": "test", "num_classes": 10,
                                 "untrained": ["u1"]}'
draws curves.png, accuracy.png and confusion.png (where predictions were recorded) and
prints their paths as a JSON list.
"""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np

from ffjax import metrics as metrics_lib


def _plt():
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt


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


def draw(workdir, split: str, num_classes: int, untrained=()) -> list[Path]:
  """curves.png, accuracy.png, and confusion.png where the split's predictions were
  recorded; returns the paths written."""
  workdir = Path(workdir)
  records = metrics_lib.read(workdir)
  out = [training_curves(records, workdir / 'curves.png', set(untrained)),
         accuracy_per_epoch(records, workdir / 'accuracy.png')]
  preds_file = workdir / f'predictions_{split}.npz'
  if preds_file.exists():
    p = np.load(preds_file)
    preds = {k[len('pred_'):]: p[k] for k in p.files if k.startswith('pred_')}
    # Per-unit predictors: the three strategies, not every unit.
    preds = {k: v for k, v in preds.items() if metrics_lib.unit_of(k) is None}
    out.append(confusion_matrices(p['y'], preds, num_classes, workdir / 'confusion.png', split))
  return out


if __name__ == '__main__':
  signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent says what an interruption means
  args = json.loads(sys.argv[1])
  print(json.dumps([str(p) for p in draw(args['workdir'], args['split'], args['num_classes'],
                                         args['untrained'])]))
