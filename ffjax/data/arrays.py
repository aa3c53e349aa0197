"""Your own arrays (data.source='arrays'): images and labels as .npy files in data.dir,

  train_x.npy   N x H x W x C uint8 (or N x H x W: one channel), any size and channels
  train_y.npy   N integer labels in 0..K-1
  test_x.npy    M x H x W x C uint8, the same H, W, C
  test_y.npy    M integer labels

read memory-mapped (np.load(mmap_mode='r'): only what a batch or an upload touches is
read), with any number of classes (data.num_classes; 0: the largest label + 1). data.name
is yours (it names the run's data in the records). The validation split is the last
data.num_val training examples, as for the official files. A source in one file: nothing
else in ffjax names it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ffjax import registry
from ffjax.data.splits import Dataset, resident_dataset
from ffjax.errors import DataError, need

FILES = ('train_x', 'train_y', 'test_x', 'test_y')


def _open(cfg, stem: str) -> np.ndarray:
  p = Path(cfg.dir).expanduser() / f'{stem}.npy'
  if not p.is_file():
    raise DataError(f'{p}: not found (data.source=arrays reads {", ".join(f + ".npy" for f in FILES)} '
                    'from data.dir)')
  try:
    a = np.load(p, mmap_mode='r', allow_pickle=False)
  except (ValueError, OSError) as e:
    raise DataError(f'{p}: not a .npy array ({str(e).splitlines()[0]})') from None
  if stem.endswith('_x'):
    if a.dtype != np.uint8 or a.ndim not in (3, 4):
      raise DataError(f'{p}: {a.dtype} of shape {a.shape}; ffjax reads uint8 images (0-255), '
                      'N x H x W x C or N x H x W')
    return a if a.ndim == 4 else a[..., None]
  if not np.issubdtype(a.dtype, np.integer) or a.ndim != 1:
    raise DataError(f'{p}: {a.dtype} of shape {a.shape}; labels are N integers')
  return np.asarray(a, np.int32)


def _num_classes(cfg, ys) -> int:
  return int(cfg.num_classes) or int(max(int(y.max()) for y in ys if len(y)) + 1)


@registry.source('arrays')
class Arrays:
  to_device = True  # resident: on the device when they fit

  @staticmethod
  def streamed(cfg) -> bool:
    return False

  @staticmethod
  def check(cfg) -> None:
    need(bool(cfg.dir), 'data.dir', cfg.dir, 'data.source=arrays reads its .npy files from data.dir')
    need(cfg.num_classes >= 0, 'data.num_classes', cfg.num_classes, 'must be >= 0 (0: from the labels)')

  @staticmethod
  def shape(cfg) -> tuple[int, int, int, int]:
    x = _open(cfg, 'train_x')  # the header only: memory-mapped
    _, h, w, c = x.shape
    return _num_classes(cfg, [_open(cfg, 'train_y'), _open(cfg, 'test_y')]), h, w, c

  @staticmethod
  def load(cfg) -> Dataset:
    xtr, ytr, xte, yte = (_open(cfg, f) for f in FILES)
    for x, y, split in ((xtr, ytr, 'train'), (xte, yte, 'test')):
      if len(x) != len(y):
        raise DataError(f'{cfg.dir}: {split}_x.npy holds {len(x)} images, {split}_y.npy {len(y)} labels')
    if xte.shape[1:] != xtr.shape[1:]:
      raise DataError(f'{cfg.dir}: test images {xte.shape[1:]}, training images {xtr.shape[1:]}')
    return resident_dataset(cfg, _num_classes(cfg, [ytr, yte]), (xtr, ytr), (xte, yte))
