"""Datasets from their official raw files (or prepared tfds datasets), splits and batching.

Layout under the data directory (config.data.dir, else $FFJAX_DATA_DIR, else the per-user
cache where ffjax/data/fetch.py fetches the official files on first use):
  mnist/ and fashion_mnist/      the four official IDX .gz files
  cifar10/cifar-10-batches-bin/  data_batch_1..5.bin and test_batch.bin
                                 (test_batch_first1000.bin is used, loudly, if that is all there is)
  cifar100/cifar-100-binary/     train.bin and test.bin

Every file is parsed with its format's checks (magic number, sizes, record
length), then checked against its official md5 where that is known; any problem
raises `DataError` whose one-line message names the file and what is wrong.

Images are kept as uint8 N x H x W x C (on the host, and when they fit, on the
device: ffjax/loop.py); ffjax/data/preprocess.py turns them into floats on the device. The
training order is a pure function of (seed, epoch).
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
from absl import logging

from ffjax import registry
from ffjax.data import fetch
from ffjax.data.splits import (DATASETS, STREAM_SOURCES, STREAMED, STREAMED_TFDS, Dataset,  # noqa: F401
                               ResidentSplit, Split, check_name, data_dir, is_streamed, named_shape, resident_dataset,
                               shape_of, source_of)
from ffjax.data.order import batch_indices, epoch_order, epoch_order_host  # noqa: F401
from ffjax.errors import DataError, need


# Official md5s (the four IDX files of MNIST and Fashion-MNIST, CIFAR-10 binary version).
KNOWN_MD5 = {
    'mnist/train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
    'mnist/train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
    'mnist/t10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
    'mnist/t10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c',
    'fashion_mnist/train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
    'fashion_mnist/train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
    'fashion_mnist/t10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79',
    'fashion_mnist/t10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310',
    'cifar10/cifar-10-batches-bin/data_batch_1.bin': '5dd7e06a14cb22eb9f671a540d1b7c25',
    'cifar10/cifar-10-batches-bin/data_batch_2.bin': '5ea93a67294ea407fff1d09f752e9692',
    'cifar10/cifar-10-batches-bin/data_batch_3.bin': '942cd6a4bcdd0dd3c604fbe906cb4421',
    'cifar10/cifar-10-batches-bin/data_batch_4.bin': 'ae636b3ba5c66a11e91e8cb52e771fcb',
    'cifar10/cifar-10-batches-bin/data_batch_5.bin': '53f37980c15c3d472c316c40844f3f0d',
    'cifar10/cifar-10-batches-bin/test_batch.bin': '803d5f7f4d78ea53de84dbe85f74fb6d',
    # Not an official file: the first 1,000 official test records, as found on these machines.
    'cifar10/cifar-10-batches-bin/test_batch_first1000.bin': '371f65da31ad652f5e24b3699a3e6515',
}

def check(cfg) -> None:
  """config.data's own settings: the source's (its kind's check: the name, a streamed
  source's fields), the split sizes, preprocessing (per-channel constants, colour jitter:
  the images' channels)."""
  from ffjax.data.augment import AUGMENTS
  source_of(cfg).check(cfg)  # an unknown source is one line naming the known ones
  need(cfg.get('augment', 'none') in AUGMENTS, 'data.augment', cfg.get('augment'),
       f'one of {sorted(AUGMENTS)}')
  num_channels = shape_of(cfg)[3]
  if cfg.get('augment') == 'crop_flip_jitter':
    need(num_channels == 3, 'data.augment', cfg.augment, 'colour jitter needs RGB images')
  for key in ('num_val', 'train_limit', 'eval_limit', 'resize'):
    need(cfg[key] >= 0, f'data.{key}', cfg[key], 'must be >= 0 (0: none, all, or as stored)')
  if cfg.get('mean') or cfg.get('std'):
    need(len(cfg.mean) == num_channels and len(cfg.std) == num_channels
         and all(x > 0 for x in cfg.std), 'data.mean/std', (cfg.mean, cfg.std),
         f'one value per channel ({num_channels}), std > 0')


# ----------------------------------------------------------------------------- files


def raw_root(cfg) -> Path:
  """The folder holding cfg.name's official files: config.data.dir, else $FFJAX_DATA_DIR
  (read, never written), else the per-user cache, where a missing dataset is fetched on
  first use (ffjax/data/fetch.py) unless data.download=False or FFJAX_DOWNLOAD=0."""
  root, configured = fetch.root(cfg.dir)
  if configured and not root.is_dir():
    raise DataError(f'data directory {root} does not exist')
  lacking = fetch.missing(cfg.name, root)
  if not lacking:
    return root
  if configured:
    where = 'config.data.dir' if cfg.dir else 'FFJAX_DATA_DIR'
    raise DataError(f'{root / lacking[0]}: not found; {where} names {root}, a folder ffjax reads '
                    f'but never writes into: fetch {cfg.name} there with `python -m '
                    f'experiments.fetch_data {cfg.name} --data_dir={root}`, or unset {where} to '
                    f'use the cache ({fetch.cache_dir()}), where it is fetched on first use')
  if not fetch.enabled(cfg.get('download', True)):
    raise DataError(f'{root / lacking[0]}: not found, and fetching is off (data.download=False or '
                    f'FFJAX_DOWNLOAD=0): ' + fetch.by_hand(cfg.name, root))
  return fetch.fetch(cfg.name, root, check=check_raw)


def check_raw(root: Path, require_md5: bool = False, name: str | None = None) -> None:
  """Raises DataError unless root holds a readable copy of a dataset (the one fetch is
  installing: `name`, else the only one under root) whose files match the md5 table; with
  require_md5, every file the reader reads must be in the table (fetch: an archive that is
  not the official one byte for byte is accepted only as the official files repacked)."""
  name = name or next(n for n in fetch.REMOTES if (root / n).is_dir())
  if require_md5:
    unknown = [p for alts in fetch.REMOTES[name].needs for p in alts
               if (root / p).is_file() and p not in KNOWN_MD5]
    if unknown:
      raise DataError(f'{unknown[0]}: the archive is not the official one and ffjax has no md5 '
                      'of this file to check it by')
  load_raw(name, root, verify_md5=True, warn=False)


def _read_bytes(path: Path) -> bytes:
  if not path.is_file():
    raise DataError(f'{path}: file not found')
  raw = path.read_bytes()
  if path.suffix == '.gz':
    try:
      return gzip.decompress(raw)
    except (OSError, EOFError) as e:  # truncated or corrupted gzip stream
      raise DataError(f'{path}: not a valid gzip file ({e})') from None
  return raw


def _check_md5(path: Path, rel: str, verify: bool):
  want = KNOWN_MD5.get(rel)
  if not verify or want is None:
    return
  got = hashlib.md5(path.read_bytes()).hexdigest()
  if got != want:
    raise DataError(f'{path}: md5 {got} is not the official {want} (corrupted or '
                    'altered file; set data.verify_md5=False to use it anyway)')


def read_idx(path: Path, expect_ndim: int) -> np.ndarray:
  """An IDX file (uint8 data): magic 0x00000801 labels, 0x00000803 images."""
  buf = _read_bytes(path)
  if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] != 0x08 or buf[3] != expect_ndim:
    raise DataError(f'{path}: bad IDX magic {buf[:4].hex()} (expected 000008{expect_ndim:02x})')
  header = 4 + 4 * expect_ndim
  if len(buf) < header:
    raise DataError(f'{path}: truncated IDX header')
  dims = tuple(int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], 'big') for i in range(expect_ndim))
  n = int(np.prod(dims))
  if len(buf) - header != n:
    raise DataError(f'{path}: truncated or padded: header says {dims} = {n} bytes of data, '
                    f'found {len(buf) - header}')
  return np.frombuffer(buf, np.uint8, n, header).reshape(dims)


def read_cifar_bin(path: Path, label_bytes: int, label_index: int):
  """CIFAR binary records: label byte(s) then 3,072 bytes of R, G, B planes."""
  buf = _read_bytes(path)
  rec = label_bytes + 3072
  if len(buf) == 0 or len(buf) % rec:
    raise DataError(f'{path}: truncated: {len(buf)} bytes is not a whole number of '
                    f'{rec}-byte records')
  a = np.frombuffer(buf, np.uint8).reshape(-1, rec)
  y = a[:, label_index].astype(np.int32)
  x = a[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(x), y


def _load_idx_pair(root: Path, name: str, prefix: str, verify: bool):
  paths = {}
  for kind, ndim in (('images', 3), ('labels', 1)):
    rel = f'{name}/{prefix}-{kind}-idx{ndim}-ubyte.gz'
    paths[kind] = (root / rel, rel, ndim)
  x = read_idx(paths['images'][0], 3)
  y = read_idx(paths['labels'][0], 1).astype(np.int32)
  for p, rel, _ in paths.values():
    _check_md5(p, rel, verify)
  if len(x) != len(y):
    raise DataError(f'{paths["images"][0]}: {len(x)} images but {len(y)} labels')
  if y.max() > 9:
    raise DataError(f'{paths["labels"][0]}: label {y.max()} outside 0..9')
  return x[..., None], y


def load_raw(name: str, root: Path, verify_md5: bool = True, warn: bool = True):
  """(train_x, train_y), (test_x, test_y) from the official raw files."""
  if name in ('mnist', 'fashion_mnist'):
    return _load_idx_pair(root, name, 'train', verify_md5), _load_idx_pair(root, name, 't10k', verify_md5)
  if name == 'cifar10':
    sub = 'cifar10/cifar-10-batches-bin'
    parts = []
    for i in range(1, 6):
      rel = f'{sub}/data_batch_{i}.bin'
      parts.append(read_cifar_bin(root / rel, 1, 0))
      _check_md5(root / rel, rel, verify_md5)
    train = tuple(np.concatenate(p) for p in zip(*parts))
    rel = f'{sub}/test_batch.bin'
    if not (root / rel).is_file() and (root / f'{sub}/test_batch_first1000.bin').is_file():
      rel = f'{sub}/test_batch_first1000.bin'
      if warn:
        logging.warning('CIFAR-10: %s not found; using %s: the test set is INCOMPLETE',
                        root / f'{sub}/test_batch.bin', root / rel)
    test = read_cifar_bin(root / rel, 1, 0)
    _check_md5(root / rel, rel, verify_md5)
    return train, test
  if name == 'cifar100':
    c100 = root / 'cifar100/cifar-100-binary'
    # Records: coarse label, fine label, pixels. No official per-file md5 is published
    # (only the tarball's), so only the format is checked.
    return read_cifar_bin(c100 / 'train.bin', 2, 1), read_cifar_bin(c100 / 'test.bin', 2, 1)
  raise DataError(f'unknown dataset {name!r}')


def load_tfds(name: str, data_dir_: str | None):
  """Train and test splits of a PREPARED tfds dataset (array_record), no TensorFlow needed.
  ffjax never downloads or prepares one (download=False): data_dir_ is tfds' data
  directory (config.data.dir, else $TFDS_DATA_DIR, else tfds' default), not the folder
  of raw files."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise DataError('data.source=tfds needs tensorflow-datasets: pip install -e .[tfds]') from None
  out = []
  for split in ('train', 'test'):
    try:
      src = tfds.data_source(name, split=split, data_dir=data_dir_, download=False)
    except Exception as e:  # tfds raises many kinds; all mean "not prepared here"
      where = data_dir_ or "tfds' default data directory"
      raise DataError(f'tfds {name}/{split} in {where}: cannot be read ({type(e).__name__}: '
                      f'{str(e).splitlines()[0] if str(e) else ""}); ffjax reads prepared tfds '
                      'datasets and never downloads (see README, "Data")') from None
    ex = [src[i] for i in range(len(src))]
    x = np.stack([np.asarray(e['image'], np.uint8) for e in ex])
    y = np.asarray([e['label'] for e in ex], np.int32)
    out.append((x.reshape(x.shape[:3] + (-1,)) if x.ndim == 3 else x, y))
  return tuple(out)


def load(cfg) -> Dataset:
  """config.data -> Dataset with train / val / test splits, by its source (the
  registered SourceKind: data/splits.py)."""
  ds = source_of(cfg).load(cfg)
  logging.info('%s (%s): %d train, %d val, %d test examples', cfg.name, cfg.source, len(ds.train),
               len(ds.val) if ds.val is not None else 0, len(ds.test))
  return ds


def _resident(cfg, train_xy, test_xy) -> Dataset:
  k, h, w, c = named_shape(cfg)
  if train_xy[0].shape[1:] != (h, w, c):
    raise DataError(f'{cfg.name}: images of shape {train_xy[0].shape[1:]}, expected {(h, w, c)}')
  return resident_dataset(cfg, k, train_xy, test_xy)


@registry.source('raw')
class RawFiles:
  """The official files of the named datasets (fetched on first use into the cache)."""
  to_device = True
  streamed = staticmethod(lambda cfg: False)
  shape = staticmethod(named_shape)

  @staticmethod
  def check(cfg) -> None:
    check_name(cfg, DATASETS)

  @staticmethod
  def load(cfg) -> Dataset:
    if cfg.name not in DATASETS:  # load without validate (a notebook): still one line
      raise DataError(f'data.name: unknown dataset {cfg.name!r} for data.source=raw; one of '
                      f'{sorted(DATASETS)}')
    return _resident(cfg, *load_raw(cfg.name, raw_root(cfg), cfg.verify_md5))


@registry.source('tfds')
class Tfds:
  """A prepared tensorflow-datasets dataset: the small ones held whole, the image-folder
  names (imagenet, imagenette) streamed by tfds.data_source (ffjax/data/stream.py)."""
  to_device = False  # fed from the host
  shape = staticmethod(named_shape)

  @staticmethod
  def streamed(cfg) -> bool:
    return cfg.name in STREAMED

  @staticmethod
  def check(cfg) -> None:
    check_name(cfg, dict(DATASETS, **STREAMED))
    if cfg.name in STREAMED:
      from ffjax.data import stream
      stream.check_streamed(cfg)
      need(cfg.get('tfds_name') or cfg.name in STREAMED_TFDS, 'data.tfds_name', cfg.get('tfds_name'),
           f"data.name={cfg.name!r} has no tensorflow-datasets name: give the prepared dataset's")

  @staticmethod
  def load(cfg) -> Dataset:
    if cfg.name in STREAMED:
      from ffjax.data import stream
      return stream.load(cfg, named_shape(cfg)[0])
    return _resident(cfg, *load_tfds(cfg.name, cfg.dir or os.environ.get('TFDS_DATA_DIR')))


def prepare_run(dataset: Dataset, cfg, workdir: Path, resuming: bool, say=print) -> None:
  """Streamed data before training: the bad files this run met before, data.check_files's
  pass (stream.prepare_run). Nothing for data held whole."""
  if dataset.streamed:
    from ffjax.data import stream
    stream.prepare_run(dataset, cfg, workdir, resuming, say)


def nbytes(dataset: Dataset) -> int:
  """Bytes of every split's images and labels (what resident data takes on a device)."""
  if dataset.streamed:
    return 1 << 62  # never resident
  splits = [dataset.train, dataset.test] + ([dataset.val] if dataset.val is not None else [])
  return sum(sp.x.nbytes + sp.y.nbytes for sp in splits)
