import gzip
import shutil

import numpy as np
import pytest

from conftest import make_cifar100_dir, make_mnist_dir, write_cifar
from ffjax import config_base, data


def _cfg(d, **kw):
  c = config_base.get_base().data
  c.dir = str(d)
  c.verify_md5 = False
  c.num_val = 100
  c.update(kw)
  return c


def test_idx_roundtrip_and_split(tmp_path):
  make_mnist_dir(tmp_path, n_train=300, n_test=50)
  ds = data.load(_cfg(tmp_path))
  assert ds.train.x.shape == (200, 28, 28, 1) and ds.train.x.dtype == np.uint8
  assert len(ds.val) == 100 and len(ds.test) == 50 and ds.num_classes == 10
  # Validation is the LAST num_val official training images.
  full = data.read_idx(tmp_path / 'mnist/train-images-idx3-ubyte.gz', 3)
  np.testing.assert_array_equal(ds.val.x[..., 0], full[200:])
  np.testing.assert_array_equal(ds.train.x[..., 0], full[:200])


def test_bad_magic(tmp_path):
  make_mnist_dir(tmp_path, n_train=10, n_test=10)
  p = tmp_path / 'mnist/train-labels-idx1-ubyte.gz'
  raw = bytearray(gzip.decompress(p.read_bytes()))
  raw[3] = 7
  p.write_bytes(gzip.compress(bytes(raw)))
  with pytest.raises(data.DataError, match=r'train-labels-idx1-ubyte.gz: bad IDX magic'):
    data.load(_cfg(tmp_path, num_val=0))


def test_truncated_idx(tmp_path):
  make_mnist_dir(tmp_path, n_train=10, n_test=10)
  p = tmp_path / 'mnist/t10k-images-idx3-ubyte.gz'
  raw = gzip.decompress(p.read_bytes())
  p.write_bytes(gzip.compress(raw[:-100]))
  with pytest.raises(data.DataError, match=r't10k-images-idx3-ubyte.gz: truncated'):
    data.load(_cfg(tmp_path, num_val=0))


def test_truncated_gzip_stream(tmp_path):
  make_mnist_dir(tmp_path, n_train=10, n_test=10)
  p = tmp_path / 'mnist/train-images-idx3-ubyte.gz'
  p.write_bytes(p.read_bytes()[:-30])
  with pytest.raises(data.DataError, match='not a valid gzip file'):
    data.load(_cfg(tmp_path, num_val=0))


def test_missing_file_and_dir(tmp_path, monkeypatch):
  make_mnist_dir(tmp_path, n_train=10, n_test=10)
  (tmp_path / 'mnist/t10k-labels-idx1-ubyte.gz').unlink()
  with pytest.raises(data.DataError, match='t10k-labels-idx1-ubyte.gz: not found; config.data.dir names'):
    data.load(_cfg(tmp_path, num_val=0))
  # No folder configured: the cache, where (fetching off, as in every test) it says how to fetch.
  monkeypatch.delenv('FFJAX_DATA_DIR', raising=False)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  with pytest.raises(data.DataError, match='cache/ffjax/data/mnist/train-images-idx3-ubyte.gz: not found, and fetching is off'):
    data.load(_cfg('', num_val=0))


def test_md5_mismatch_names_file(tmp_path):
  # Generated files under the official names are not the official files: md5 catches it.
  make_mnist_dir(tmp_path, n_train=10, n_test=10)
  with pytest.raises(data.DataError, match=r'train-images-idx3-ubyte.gz: md5 \w+ is not the official'):
    data.load(_cfg(tmp_path, num_val=0, verify_md5=True))


def test_real_file_with_flipped_byte_is_refused(tmp_path, real_data):
  for f in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
            't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
    (tmp_path / 'mnist').mkdir(exist_ok=True)
    shutil.copy(f'{real_data}/mnist/{f}', tmp_path / 'mnist' / f)
  ds = data.load(_cfg(tmp_path, verify_md5=True, num_val=10000))
  assert len(ds.train) == 50000 and len(ds.val) == 10000 and len(ds.test) == 10000
  p = tmp_path / 'mnist/t10k-labels-idx1-ubyte.gz'
  raw = gzip.decompress(p.read_bytes())
  raw = raw[:-1] + bytes([(raw[-1] + 1) % 10])  # a valid file, one label changed
  p.write_bytes(gzip.compress(raw))
  with pytest.raises(data.DataError, match='t10k-labels-idx1-ubyte.gz: md5'):
    data.load(_cfg(tmp_path, verify_md5=True))


def test_cifar10_format_and_incomplete_test_fallback(tmp_path):
  rng = np.random.default_rng(0)
  sub = tmp_path / 'cifar10/cifar-10-batches-bin'
  xs = []
  for i in range(1, 6):
    x = rng.integers(0, 256, (20, 32, 32, 3)).astype(np.uint8)
    xs.append(x)
    write_cifar(sub / f'data_batch_{i}.bin', x, [np.arange(20) % 10])
  write_cifar(sub / 'test_batch_first1000.bin', xs[0][:7], [np.arange(7) % 10])
  ds = data.load(_cfg(tmp_path, name='cifar10', num_val=10))
  assert ds.train.x.shape == (90, 32, 32, 3)
  np.testing.assert_array_equal(ds.train.x[:20], xs[0])  # planes R, G, B -> H x W x C
  assert len(ds.test) == 7  # the incomplete test file is used, and its size is visible
  (sub / 'data_batch_3.bin').write_bytes((sub / 'data_batch_3.bin').read_bytes()[:-5])
  with pytest.raises(data.DataError, match='data_batch_3.bin: truncated'):
    data.load(_cfg(tmp_path, name='cifar10', num_val=10))


def test_cifar100_fine_labels(tmp_path):
  make_cifar100_dir(tmp_path, n_train=300, n_test=50)
  ds = data.load(_cfg(tmp_path, name='cifar100', num_val=50))
  assert ds.num_classes == 100 and ds.train.x.shape == (250, 32, 32, 3)
  assert ds.train.y.max() > 19  # fine labels (0..99), not the 20 coarse ones


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
  a = data.epoch_order(3, 7, 1000)
  np.testing.assert_array_equal(a, data.epoch_order(3, 7, 1000))
  assert sorted(a.tolist()) == list(range(1000))
  assert not np.array_equal(a, data.epoch_order(3, 8, 1000))
  assert not np.array_equal(a, data.epoch_order(4, 7, 1000))
  np.testing.assert_array_equal(data.batch_indices(3, 7, 1000, 64, 2), a[128:192])


def test_unknown_dataset(tmp_path):
  with pytest.raises(data.DataError, match='unknown dataset'):
    data.load(_cfg(tmp_path, name='svhn'))


def test_tfds_source_reads_a_prepared_dataset():
  tfds = pytest.importorskip('tensorflow_datasets')
  # tfds' own mock stands in for a prepared array_record dataset (building one needs TensorFlow).
  with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
    ds = data.load(_cfg('', source='tfds', num_val=10))
  assert ds.train.x.shape == (30, 28, 28, 1) and ds.train.x.dtype == np.uint8
  assert len(ds.val) == 10 and len(ds.test) == 40 and ds.train.y.dtype == np.int32


def test_tfds_missing_dataset_is_one_line_error(tmp_path):
  pytest.importorskip('tensorflow_datasets')
  with pytest.raises(data.DataError, match=r'tfds mnist/train in .*cannot be read'):
    data.load(_cfg(tmp_path, source='tfds'))
