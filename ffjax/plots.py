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
compare_runs draws several runs' accuracy on one plot (FF against backprop, say). The
figures of the records alone (curves, accuracy, confusion, compare_runs) are in
record_plots.py, without JAX: plot_run has another process draw them meanwhile.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ffjax import cams as cams_lib
from ffjax import labels as labels_lib
from ffjax import metrics as metrics_lib
from ffjax.method import Method
from ffjax.record_plots import (  # noqa: F401
  _done,
  _plt,
  accuracy_per_epoch,
  compare_runs,
  confusion_matrices,
  training_curves,
)


def _compiled(fn, net, *arrays):
  """fn(net, *arrays) as one compiled program: run op by op, each of its few hundred ops
  is compiled alone (about 3 s of a first run's figures on a CPU)."""
  from flax import nnx
  graphdef, state = nnx.split(net)
  return jax.jit(lambda st, *a: fn(nnx.merge(graphdef, st), *a))(state, *arrays)


def _show(ax, img):
  img = np.asarray(img)
  ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap='gray')
  ax.set_xticks([])
  ax.set_yticks([])


def label_gallery(encoder, x_BxHxWxC, y_B, path=None, seed=0):
  """Row 1: the class patterns; then per image: as it is, with its label, with a wrong one."""
  return _draw_gallery(encoder, *_gallery_arrays(encoder, x_BxHxWxC, y_B, seed), path)


def _gallery_arrays(encoder, x_BxHxWxC, y_B, seed=0):
  """(x, y, wrong labels, positive images, negative images) of up to 4 images."""
  n = min(len(y_B), 4)

  def images(x, y):
    neg = labels_lib.sample_negatives(jax.random.key(seed), y, encoder.num_classes)
    return neg, encoder.embed(x, y), encoder.embed(x, neg)

  arrays = jax.jit(images)(jnp.asarray(x_BxHxWxC[:n]), jnp.asarray(y_B[:n]))
  return (np.asarray(x_BxHxWxC[:n]), np.asarray(y_B[:n]), *(np.asarray(a) for a in arrays))


def _draw_gallery(encoder, x, y, neg, pos_img, neg_img, path=None):
  plt = _plt()
  k, n = min(encoder.num_classes, 10), len(y)
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
  return _draw_goodness(x_BxHxWxC, y_B, _goodness_arrays(net, method, x_BxHxWxC), path)


def _goodness_arrays(net, method: Method, x_BxHxWxC):
  from ffjax import predict
  return np.asarray(_compiled(lambda n, x: predict.goodness_scores(
      n, method.encoder, x, method.goodness_units, method.goodness_per_theta), net,
      jnp.asarray(x_BxHxWxC)))


def _draw_goodness(x_BxHxWxC, y_B, g, path=None):
  plt = _plt()
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
  return _draw_cams(x_BxHxWxC, y_B, pred_B, *_cam_arrays(net, method, x_BxHxWxC, pred_B),
                    path, predictor)


def _cam_arrays(net, method: Method, x_BxHxWxC, pred_B) -> tuple[list, list]:
  """(each unit's maps, their titles)."""
  if method.scored:
    maps = _compiled(lambda n, x, c: cams_lib.spatial_class_maps(n, x, c, method.scored),
                     net, jnp.asarray(x_BxHxWxC), jnp.asarray(pred_B))
    titles = [f'unit {l + 1} patches' for l in method.scored]
  else:
    maps = _compiled(lambda n, x, c: cams_lib.class_activation_maps(
        n, method.encoder, x, c, method.readout_units), net, jnp.asarray(x_BxHxWxC),
        jnp.asarray(pred_B))
    titles = [f'unit {l + 1}' for l in method.readout_units]
  return [np.asarray(m) for m in maps], titles


def _draw_cams(x_BxHxWxC, y_B, pred_B, maps, titles, path=None, predictor: str = ''):
  plt = _plt()
  x = np.asarray(x_BxHxWxC)
  y_B, pred_B = np.asarray(y_B), np.asarray(pred_B)
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
  """Every figure of a run; returns the paths written. The records' figures (curves,
  accuracy, confusion: record_plots.py) are drawn by a second Python process while this
  one computes and draws the network's (labels, goodness, maps): matplotlib holds the
  GIL, so one process would draw them on one core (the first run's figures 4.1 s ->
  3.2: docs/RESULTS.md 33)."""
  workdir = Path(workdir).resolve()
  r = _read_back(workdir, split_name, num_cams)
  records = _RecordPlots(workdir, split_name, r.num_classes, untrained_units(r.method))
  out = []
  try:
    if r.method.label_in_input:
      x, y = r.images
      out.append(label_gallery(r.method.encoder, x, y, workdir / 'labels.png'))
      out.append(goodness_per_label(r.net, r.method, x[:4], y[:4], workdir / 'goodness.png'))
    if r.cam_images is not None:
      out.append(cam_figure(r.net, r.method, *r.cam_images, workdir / 'cams.png', r.predictor))
  except BaseException:
    records.stop()
    raise
  return records.result() + out


class _RecordPlots:
  """record_plots.draw in another Python process; result() waits for its paths. Where
  that process fails (no matplotlib, a full disk, no second interpreter), result() draws
  them here instead, so the error is this process's own."""

  def __init__(self, workdir: Path, split: str, num_classes: int, untrained):
    import json
    import os
    import subprocess
    import sys

    import ffjax
    self.args = (workdir, split, num_classes, sorted(untrained))
    env = dict(os.environ)  # where this process found ffjax (a notebook's sys.path too)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in [str(Path(ffjax.__file__).resolve().parent.parent),
                    *env.get('PYTHONPATH', '').split(os.pathsep)] if p)
    spec = json.dumps({'workdir': str(workdir), 'split': split, 'num_classes': num_classes,
                       'untrained': sorted(untrained)})
    self.proc: subprocess.Popen | None = None
    try:
      self.proc = subprocess.Popen([sys.executable, '-m', 'ffjax.record_plots', spec], env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    except OSError:
      pass

  def result(self) -> list[Path]:
    import json

    from ffjax import record_plots
    if self.proc is not None:
      stdout, _ = self.proc.communicate()
      if self.proc.returncode == 0:
        return [Path(p) for p in json.loads(stdout)]
    return record_plots.draw(*self.args)

  def stop(self):
    if self.proc is not None:
      self.proc.kill()
      self.proc.wait()


@dataclasses.dataclass
class _Figures:
  """A run read back for its figures."""
  net: object               # the network with the checkpoint's parameters
  method: Method
  num_classes: int
  images: tuple             # (x, y): the split's first 256 images, as the units see them
  # (x, y, pred) of right and wrong predictions, or None:
  cam_images: tuple[np.ndarray, np.ndarray, np.ndarray] | None
  predictor: str            # whose predictions


def _read_back(workdir, split_name: str, num_cams: int) -> _Figures:
  from ffjax import heads, predict, readback
  r = readback.restore_run(workdir)
  net, method, dataset = r.net, r.method, r.dataset
  split = {'test': dataset.test, 'val': dataset.val}[split_name]
  assert split is not None, split_name
  x = np.asarray(jax.jit(r.parts.preprocess.to_float)(jnp.asarray(split.x[:256])))
  y = split.y[:256]
  preds_file = Path(workdir) / f'predictions_{split_name}.npz'
  if preds_file.exists():
    p = np.load(preds_file)
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
  right = np.flatnonzero(pred == y)[:num_cams]
  wrong = np.flatnonzero(pred != y)[:num_cams]
  idx = np.concatenate([right, wrong])
  # CAMs read the linear head, or ASGE's spatial heads; other per-unit heads have no map.
  has_map = (all(isinstance(net.aux[l], heads.SpatialHead) for l in method.scored) if method.scored
             else method.readout is not None)
  cam_images = (x[idx], y[idx], pred[idx]) if len(idx) and has_map else None
  return _Figures(net, method, dataset.num_classes, (x, y), cam_images, name)
