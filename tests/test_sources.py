"""Data sources as registered pieces (ffjax/data/splits.py's SourceKind): a user's own
arrays in one file (ffjax/data/arrays.py), a source defined in a test found by the
registry alone, and the one-line errors of bad arrays."""
import numpy as np
import pytest

from conftest import learnable_images, load_config
from ffjax import config_args, data, registry, train


def write_arrays(root, shape=(20, 16, 3), k=7, n_train=700, n_test=140, seed=0):
  rng = np.random.default_rng(seed)
  for split, n in (('train', n_train), ('test', n_test)):
    y = rng.integers(0, k, n)
    np.save(root / f'{split}_x.npy', learnable_images(rng, y, shape, k))
    np.save(root / f'{split}_y.npy', y.astype(np.int64))
  return root


def arrays_config(root, arg='tiny'):
  c = load_config('mnist', arg)
  c.data.source, c.data.dir, c.data.name = 'arrays', str(root), 'my_arrays'
  c.data.num_val, c.data.eval_limit = 100, 0
  return c


def test_your_own_arrays_train_at_their_shape_and_number_of_classes(tmp_path):
  c = arrays_config(write_arrays(tmp_path))
  config_args.validate(c)
  assert data.shape_of(c.data) == (7, 20, 16, 3)
  ds = data.load(c.data)
  assert isinstance(ds.train.x, np.memmap) or isinstance(ds.train.x.base, np.memmap)  # read lazily
  assert (len(ds.train), len(ds.val), len(ds.test), ds.num_classes) == (600, 100, 140, 7)
  rec = train.train_and_evaluate(c, tmp_path / 'run')
  assert rec['test']['acc_linear'] > 0.4, rec['test']  # chance 1/7


def test_bad_arrays_are_one_line(tmp_path):
  root = write_arrays(tmp_path, n_train=50, n_test=10)
  c = arrays_config(root)
  c.data.num_val = 10
  np.save(root / 'train_x.npy', np.zeros((50, 20, 16, 3), np.float32))
  with pytest.raises(data.DataError, match=r'train_x.npy: float32 .* uint8 images'):
    data.load(c.data)
  write_arrays(root, n_train=50, n_test=10)
  (root / 'test_y.npy').unlink()
  with pytest.raises(data.DataError, match=r'test_y.npy: not found'):
    config_args.validate(c)
  write_arrays(root, n_train=50, n_test=10)
  c.data.num_classes = 3  # labels go to 6
  with pytest.raises(data.DataError, match=r'labels outside 0..2'):
    data.load(c.data)
  c.data.dir = ''
  with pytest.raises(config_args.ConfigError, match='data.dir'):
    config_args.validate(c)


def test_a_source_defined_here_is_found_by_name_alone():
  @registry.source('test_constant')
  class Constant:  # four images of each of 2 classes, 8x8x1
    to_device = True
    streamed = staticmethod(lambda cfg: False)
    shape = staticmethod(lambda cfg: (2, 8, 8, 1))
    check = staticmethod(lambda cfg: None)

    @staticmethod
    def load(cfg):
      x = np.repeat(np.arange(2, dtype=np.uint8)[:, None, None, None] * 200, 4, 0)
      x = np.broadcast_to(x, (8, 8, 8, 1)).copy()
      y = np.repeat(np.arange(2), 4).astype(np.int32)
      return data.resident_dataset(cfg, 2, (x, y), (x, y))

  c = load_config('mnist', 'tiny')
  c.data.source, c.data.num_val, c.data.eval_limit = 'test_constant', 2, 0
  config_args.validate(c)
  ds = data.load(c.data)
  assert data.shape_of(c.data) == (2, 8, 8, 1) and len(ds.train) == 6 and len(ds.val) == 2
  assert 'test_constant' in registry.names('source') and not data.is_streamed(c.data)
