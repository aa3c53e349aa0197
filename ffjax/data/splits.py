"""What every data source gives the trainer: the dataset names and their shapes, a split, a
dataset, and a configured folder. Imported by the readers (ffjax/data/__init__.py) and the
streamed pipeline (ffjax/data/stream.py) alike; it imports neither."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import ClassVar, Iterator, Protocol, Sequence

import numpy as np

from ffjax import registry
from ffjax.errors import ConfigError, DataError

# name -> (num_classes, H, W, C, official train size, official test size)
DATASETS = {
    'mnist': (10, 28, 28, 1, 60000, 10000),
    'fashion_mnist': (10, 28, 28, 1, 60000, 10000),
    'cifar10': (10, 32, 32, 3, 50000, 10000),
    'cifar100': (100, 32, 32, 3, 50000, 10000),
}


# Image-folder datasets, streamed from disk (ffjax/data/stream.py): name -> classes. Their
# images are data.image_size square, RGB; 'folder' is any tree (data.num_classes).
STREAMED = {'imagenet': 1000, 'imagenet100': 100, 'imagenette': 10, 'folder': 0}
STREAM_SOURCES = ('folder', 'array_record')
# The same names prepared as tensorflow-datasets (data.source='tfds', streamed too):
# tfds name and its held-out split (data.tfds_name overrides the name, and names any
# other prepared image dataset with data.name='folder').
STREAMED_TFDS = {'imagenet': ('imagenet2012', 'validation'), 'imagenette': ('imagenette', 'validation')}


class SourceKind(Protocol):
  """A data source (config.data.source), registered by name in its own file
  (`@registry.source('raw')`): what the checks, the trainer and the loop ask of it."""
  to_device: bool  # its arrays may live on the device when they fit (train.data_on_device)

  @staticmethod
  def streamed(cfg) -> bool:
    """Read from disk a batch at a time (stream.StreamSplit), not loaded whole."""

  @staticmethod
  def check(cfg) -> None:
    """Refuses this source's bad settings in config.data (a ConfigError naming the key)."""

  @staticmethod
  def shape(cfg) -> tuple[int, int, int, int]:
    """(classes, H, W, C), before any data loads (nets are built from it)."""

  @staticmethod
  def load(cfg) -> 'Dataset':
    """config.data -> the Dataset (train, val, test)."""


def source_of(cfg) -> SourceKind:
  return registry.get('source', cfg.source)


def is_streamed(cfg) -> bool:
  """Read from disk a batch at a time (ffjax/data/stream.py), not loaded whole."""
  return source_of(cfg).streamed(cfg)


def shape_of(cfg) -> tuple[int, int, int, int]:
  """(classes, H, W, C) of the images the units see before preprocessing, from
  config.data alone (the checks and the benchmarks build nets before any data loads)."""
  return source_of(cfg).shape(cfg)


def check_name(cfg, names) -> None:
  """data.name is one this source knows."""
  if cfg.name not in names:
    raise ConfigError(f'config.data.name={cfg.name!r}: unknown dataset for '
                      f'data.source={cfg.source!r}; one of {sorted(names)}')


def named_shape(cfg) -> tuple[int, int, int, int]:
  """shape_of for the named datasets (the official files, tfds, the streamed trees)."""
  if cfg.name in DATASETS:
    k, h, w, c, _, _ = DATASETS[cfg.name]
    return k, h, w, c
  if cfg.name in STREAMED:
    k = STREAMED[cfg.name] or int(cfg.get('num_classes', 0))
    return k, int(cfg.image_size), int(cfg.image_size), 3
  raise DataError(f'data.name: unknown dataset {cfg.name!r}; one of '
                  f'{sorted(DATASETS) + sorted(STREAMED)}')


class Split(Protocol):
  """What the loop, the evaluator and the trainer ask of any split, held whole
  (ResidentSplit) or read from disk by batches (stream.StreamSplit)."""
  y: np.ndarray  # N int32: the labels are always in memory
  name: str

  @property
  def streamed(self) -> bool:
    """Read by batches: the loops and the evaluation feed it from the host."""

  @property
  def x(self) -> np.ndarray:
    """N x H x W x C uint8, the images held whole (a streamed split has none: TypeError)."""

  @property
  def bad_files(self) -> Sequence[str]:
    """Files that could not be decoded (data.bad_images='skip'), in the order met."""

  def __len__(self) -> int: ...

  @property
  def image_shape(self) -> tuple: ...

  def subset(self, n: int, name: str) -> 'Split':
    """The first n examples, evaluated as such (the calibration images)."""

  def batches(self, indices_per_batch, seed: int = 0, epoch: int = 0) -> Iterator:
    """(x_u8 B x H x W x C, y_B) for each array of example indices (evaluation's order)."""

  def stream(self, seed: int, start: int, batch_size: int,
             rows: tuple[int, int] | None = None) -> Iterator:
    """Training batches start, start + 1, ... across epochs (rows lo..hi of each)."""


@dataclasses.dataclass
class ResidentSplit:
  """A split held whole (Split's interface), its images in `x`."""
  x: np.ndarray  # N x H x W x C uint8
  y: np.ndarray  # N int32
  name: str
  streamed: ClassVar[bool] = False
  bad_files: ClassVar[tuple] = ()

  def __len__(self):
    return len(self.y)

  @property
  def image_shape(self):
    return self.x.shape[1:]

  def subset(self, n: int, name: str) -> 'ResidentSplit':
    return ResidentSplit(self.x[:n], self.y[:n], name)

  def batches(self, indices_per_batch, seed: int = 0, epoch: int = 0) -> Iterator:
    return ((self.x[ix], self.y[ix]) for ix in map(np.asarray, indices_per_batch))

  def stream(self, seed: int, start: int, batch_size: int,
             rows: tuple[int, int] | None = None) -> Iterator:
    from ffjax.data.order import epoch_order_host
    lo, hi = rows or (0, batch_size)
    spe, s = len(self) // batch_size, start
    while True:
      epoch, i = divmod(s, spe)
      ix = epoch_order_host(seed, epoch, len(self))[i * batch_size + lo:i * batch_size + hi]
      yield self.x[ix], self.y[ix]
      s += 1


@dataclasses.dataclass
class Dataset:
  name: str
  num_classes: int
  train: Split            # ResidentSplit, or stream.StreamSplit: images read by batches
  val: Split | None
  test: Split
  bad_before: list = dataclasses.field(default_factory=list)  # met by this run's earlier processes

  @property
  def image_shape(self):
    return self.train.image_shape

  @property
  def streamed(self) -> bool:
    return self.train.streamed

  def splits(self) -> list:
    return [sp for sp in (self.train, self.val, self.test) if sp is not None]

  def bad_files(self) -> list:
    """Every split's files that could not be decoded, in the order met (this run's earlier
    processes' first: a resumed run counts them too)."""
    return list(dict.fromkeys(self.bad_before + [f for sp in self.splits() for f in sp.bad_files]))


def data_dir(configured: str | None) -> Path:
  d = configured or os.environ.get('FFJAX_DATA_DIR')
  if not d:
    raise DataError('no data directory: set config.data.dir or the FFJAX_DATA_DIR '
                    'environment variable (e.g. FFJAX_DATA_DIR=../shared/data)')
  p = Path(d).expanduser()
  if not p.is_dir():
    raise DataError(f'data directory {p} does not exist')
  return p


def resident_dataset(cfg, num_classes: int, train_xy, test_xy) -> 'Dataset':
  """A Dataset of arrays held whole (the official files, tfds, a user's .npy): checked
  against num_classes, the validation split the LAST cfg.num_val training examples (a
  fixed split; 0 trains on all), then data.train_limit and data.eval_limit."""
  (xtr, ytr), (xte, yte) = train_xy, test_xy
  k = num_classes
  if len(ytr) and (int(np.max(ytr)) >= k or int(np.min(ytr)) < 0) or len(yte) and (
      int(np.max(yte)) >= k or int(np.min(yte)) < 0):
    raise DataError(f'{cfg.name}: labels outside 0..{k - 1}')
  if cfg.num_val >= len(ytr):
    raise DataError(f'data.num_val={cfg.num_val} leaves no training data ({len(ytr)} examples)')
  n_tr = len(ytr) - cfg.num_val
  if cfg.get('train_limit', 0):  # small-data runs and tests
    n_tr = min(n_tr, cfg.train_limit)
  train = ResidentSplit(xtr[:n_tr], ytr[:n_tr], 'train')
  val = ResidentSplit(xtr[len(ytr) - cfg.num_val:], ytr[len(ytr) - cfg.num_val:], 'val') if cfg.num_val else None
  if cfg.get('eval_limit', 0):
    xte, yte = xte[:cfg.eval_limit], yte[:cfg.eval_limit]
    if val is not None:
      val = ResidentSplit(val.x[:cfg.eval_limit], val.y[:cfg.eval_limit], 'val')
  return Dataset(cfg.name, k, train, val, ResidentSplit(xte, yte, 'test'))
