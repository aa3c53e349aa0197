"""Streamed image data (ffjax/data/stream.py): an image-folder tree made here, with the faulty
files ImageNet has; the order, the crops, the rows of each process, bad files."""
import io

import numpy as np
import pytest

from ffjax import data
from ffjax.data import stream

PIL = pytest.importorskip('PIL')
pytest.importorskip('simplejpeg')
from PIL import Image  # noqa: E402


def _jpeg(rng, h=40, w=52, mode='RGB'):
  img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
  buf = io.BytesIO()
  (img.convert('CMYK') if mode == 'CMYK' else img).save(buf, format='JPEG', quality=90)
  return buf.getvalue()


def _class_jpeg(rng, c, classes, h, w):
  """A picture whose class is its colour (any crop keeps it): hue c / classes, noise."""
  import colorsys
  rgb = np.asarray(colorsys.hsv_to_rgb(c / classes, 0.9, 0.9)) * 200
  img = np.clip(rgb + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
  buf = io.BytesIO()
  Image.fromarray(img).save(buf, format='JPEG', quality=90)
  return buf.getvalue()


def make_tree(root, classes=12, per_class=3, seed=0, val_per_class=1, learnable=False):
  """root/train/<class>/*.JPEG and root/val/<class>/*.JPEG of random pictures (or, with
  learnable, of pictures whose colour is their class), of varied sizes."""
  rng = np.random.default_rng(seed)
  for split, n in (('train', per_class), ('val', val_per_class)):
    for c in range(classes):
      d = root / split / f'n{c:08d}'
      d.mkdir(parents=True)
      for i in range(n):
        h, w = 30 + (i % 5) * 7, 40 + c
        data_ = _class_jpeg(rng, c, classes, h, w) if learnable else _jpeg(rng, h, w)
        (d / f'img_{c}_{i}.JPEG').write_bytes(data_)
  return root


def _cfg(root, **kw):
  c = dict(dir=str(root), source='folder', image_size=16, bad_images='stop', workers=2,
           num_val=0, train_limit=0, eval_limit=0, name='folder')
  c.update(kw)
  import ml_collections
  return ml_collections.ConfigDict(c)


def test_decoding_converts_cmyk_reads_a_png_named_jpeg_and_refuses_broken_files():
  rng = np.random.default_rng(0)
  rgb = Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
  buf = io.BytesIO()
  rgb.convert('CMYK').save(buf, format='JPEG', quality=95)
  cmyk = buf.getvalue()
  got = stream.decode(cmyk, 'cmyk.JPEG')
  want = np.asarray(Image.open(io.BytesIO(cmyk)).convert('RGB'))
  assert got.shape == (24, 24, 3) and np.abs(got.astype(int) - want).mean() < 2.
  png = io.BytesIO()
  rgb.save(png, format='PNG')
  np.testing.assert_array_equal(stream.decode(png.getvalue(), 'png.JPEG'), np.asarray(rgb))
  good = _jpeg(rng)
  with pytest.raises(stream.BadImage, match='truncated.JPEG'):
    stream.decode(good[:len(good) // 2], 'truncated.JPEG')
  with pytest.raises(stream.BadImage, match='text.JPEG: not an image'):
    stream.decode(b'this is not an image', 'text.JPEG')


def test_a_tree_is_scanned_by_class_and_its_faults_are_named(tmp_path):
  make_tree(tmp_path / 'ok', classes=5, per_class=2)
  files, y, classes = stream.scan_folder(tmp_path / 'ok', 'train')
  assert len(files) == 10 and list(y) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and len(classes) == 5
  _, vy, _ = stream.scan_folder(tmp_path / 'ok', 'val', classes)
  assert list(vy) == [0, 1, 2, 3, 4]
  (tmp_path / 'ok' / 'train' / 'n_empty').mkdir()
  with pytest.raises(data.DataError, match='n_empty: an empty class folder'):
    stream.scan_folder(tmp_path / 'ok', 'train')
  (tmp_path / 'ok' / 'train' / 'n_empty').rmdir()
  (tmp_path / 'ok' / 'val' / 'n_stranger').mkdir()
  with pytest.raises(data.DataError, match=r"class folders \['n_stranger'\] are not in the training split"):
    stream.scan_folder(tmp_path / 'ok', 'val', classes)


def test_crops_are_fixed_by_seed_epoch_and_index_whatever_the_workers(tmp_path):
  make_tree(tmp_path, classes=6, per_class=4)
  ds1 = stream.load(_cfg(tmp_path, workers=1))
  ds3 = stream.load(_cfg(tmp_path, workers=3))
  assert ds1.num_classes == 6 and ds1.image_shape == (16, 16, 3) and len(ds1.train) == 24
  batches = [np.arange(0, 8), np.arange(8, 16), np.arange(16, 24)]
  a = list(ds1.train.batches(batches, seed=3, epoch=1))
  b = list(ds3.train.batches(batches, seed=3, epoch=1))
  for (xa, ya), (xb, yb) in zip(a, b):
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
  assert a[0][0].shape == (8, 16, 16, 3) and a[0][0].dtype == np.uint8
  # One example alone is the same as in its batch; another epoch crops differently.
  x5, y5 = ds1.train.example(5, seed=3, epoch=1)
  np.testing.assert_array_equal(x5, a[0][0][5])
  assert not np.array_equal(ds1.train.example(5, seed=3, epoch=2)[0], x5)
  # Evaluation: center crops, no randomness.
  np.testing.assert_array_equal(ds1.test.example(2, 0, 0)[0], ds1.test.example(2, 9, 9)[0])


def test_each_process_reads_its_rows_and_together_they_are_the_batch():
  assert stream.rows(8, 0, 2) == (0, 4) and stream.rows(8, 1, 2) == (4, 8)
  assert stream.rows(8, 0, 1) == (0, 8)


def test_a_bad_file_stops_with_its_name_or_is_replaced_and_counted(tmp_path):
  make_tree(tmp_path, classes=4, per_class=3)
  bad = tmp_path / 'train' / 'n00000002' / 'img_2_1.JPEG'
  bad.write_bytes(bad.read_bytes()[:200])  # truncated
  ds = stream.load(_cfg(tmp_path))
  i = [k for k in range(len(ds.train)) if 'img_2_1' in ds.train.source.name(k)][0]
  with pytest.raises(data.DataError, match=r"img_2_1.JPEG: not a decodable JPEG.*bad_images='stop'.*'skip' takes the next good"):
    ds.train.example(i)
  ds = stream.load(_cfg(tmp_path, bad_images='skip'))
  x, y = ds.train.example(i)
  x_next, y_next = ds.train.example(i + 1)
  assert y == y_next  # the next good file, with its own label
  assert ds.train.bad_files == [str(bad)]
  list(ds.train.batches([np.arange(len(ds.train))]))  # a whole pass: still one bad file
  assert ds.train.bad_files == [str(bad)]


def test_a_held_out_split_is_a_fixed_random_subset_of_training(tmp_path):
  make_tree(tmp_path, classes=5, per_class=4)
  ds = stream.load(_cfg(tmp_path, num_val=6))
  assert len(ds.train) == 14 and len(ds.val) == 6 and len(ds.test) == 5
  held = {ds.val.source.name(i) for i in range(6)}
  train = {ds.train.source.name(i) for i in range(14)}
  assert not held & train and len({n.split('/')[-2] for n in held}) > 1  # several classes
  again = stream.load(_cfg(tmp_path, num_val=6))
  assert held == {again.val.source.name(i) for i in range(6)}


def test_top5_on_hand_made_scores():
  import jax.numpy as jnp
  from ffjax import evaluate
  scores = jnp.asarray([[9., 8., 7., 6., 5., 4., 3.],    # y = 4: 5th highest -> hit
                        [9., 8., 7., 6., 5., 4., 3.],    # y = 5: 6th -> miss
                        [0., 0., 0., 0., 0., 0., 1.]])   # y = 6: highest -> hit
  np.testing.assert_array_equal(evaluate.top5_hits(scores, jnp.asarray([4, 5, 6])),
                                [True, False, True])


def test_a_reduced_scale_decode_crops_the_same_region():
  # A smooth picture 400 x 300: decoded at 1/4 scale for a 64-pixel crop of its center,
  # it matches the full decode cropped and resized (up to the two resamplings).
  yy, xx = np.mgrid[0:300, 0:400]
  img = np.stack([xx * 0.6, yy * 0.8, (xx + yy) * 0.35], -1).astype(np.uint8)
  buf = io.BytesIO()
  Image.fromarray(img).save(buf, format='JPEG', quality=95)
  box_of = lambda h, w: (50, 80, 200, 240)
  fast = stream.decode_for(buf.getvalue(), 'x.JPEG', box_of, 48)
  full = stream.cut(stream.decode(buf.getvalue()), box_of(300, 400), 48)
  assert fast.shape == full.shape == (48, 48, 3)
  assert np.abs(fast.astype(int) - full).mean() < 3., np.abs(fast.astype(int) - full).mean()


_TFDS_BUILDER = '''
import pathlib
import numpy as np
import tensorflow_datasets as tfds

TREE = None  # set by the test: the image-folder tree to prepare as a tfds dataset


class FolderTree(tfds.core.GeneratorBasedBuilder):
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    classes = sorted(p.name for p in (TREE / 'train').iterdir())
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        'image': tfds.features.Image(shape=(None, None, 3)),
        'label': tfds.features.ClassLabel(names=classes)}))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples('train'), 'validation': self._generate_examples('val')}

  def _generate_examples(self, split):
    for d in sorted((TREE / split).iterdir()):
      for f in sorted(d.iterdir()):  # a file object: tfds stores its bytes as they are
        yield f'{d.name}/{f.name}', {'image': f.open('rb'), 'label': d.name}
'''


def test_a_prepared_tfds_dataset_streams_the_files_of_its_folder_tree(tmp_path, monkeypatch):
  # A tfds dataset (array_record, prepared here without TensorFlow from the tree's JPEG
  # files; tfds shuffles their order) read through tfds.data_source: every file once,
  # with its class, decoded and cropped as the folder source decodes it.
  pytest.importorskip('tensorflow_datasets')
  import importlib
  import sys
  tree = make_tree(tmp_path / 'tree', classes=5, per_class=3)
  pkg = tmp_path / 'builders' / 'folder_tree'
  pkg.mkdir(parents=True)
  (pkg / '__init__.py').write_text(_TFDS_BUILDER)
  monkeypatch.syspath_prepend(str(tmp_path / 'builders'))
  mod = importlib.import_module('folder_tree')
  mod.TREE = tree
  try:
    mod.FolderTree(data_dir=str(tmp_path / 'tfds'), file_format='array_record').download_and_prepare()
  finally:
    sys.modules.pop('folder_tree', None)
  folder = stream.load(_cfg(tree), 5)
  ours = stream.load(_cfg(tmp_path / 'tfds', source='tfds', tfds_name='folder_tree', num_val=4), 5)
  assert ours.num_classes == 5 and (len(ours.train), len(ours.val), len(ours.test)) == (11, 4, 5)
  file_of = {}  # bytes -> (the folder split, index)
  for sp in (folder.train, folder.test):
    for i in range(len(sp)):
      file_of[sp.source[i]] = (sp, i)
  seen = set()
  for sp in (ours.train, ours.val, ours.test):
    for i in range(len(sp)):
      f_sp, j = file_of[sp.source[i]]  # a KeyError: bytes changed on the way
      seen.add((id(f_sp), j))
      assert sp.y[i] == f_sp.y[j] and (f_sp is folder.test) == (sp is ours.test)
      center = lambda split: split.subset(len(split), 'center')  # evaluation's crops
      np.testing.assert_array_equal(center(sp).example(i)[0], center(f_sp).example(j)[0])
  assert len(seen) == len(folder.train) + len(folder.test)  # every file, once
  x, y = next(ours.train.batches([np.arange(4)], seed=1))
  assert x.shape == (4, 16, 16, 3) and x.dtype == np.uint8 and list(y) == list(ours.train.y[:4])
  # The labels read at the first start are kept beside the dataset; a later start reads
  # three records to check them, not all; a stale file is read again, not trusted.
  kept = sorted((tmp_path / 'tfds').rglob('ffjax-labels-*.npy'))
  assert [f.name for f in kept] == ['ffjax-labels-train.npy', 'ffjax-labels-validation.npy']
  reads = []
  src = stream.TfdsSource('folder_tree', 'train', str(tmp_path / 'tfds'))
  monkeypatch.setattr(type(src._src), '__getitem__',
                      lambda self, i, _g=type(src._src).__getitem__: reads.append(i) or _g(self, i))
  y_all = src.labels()
  assert len(reads) == 3 and len(y_all) == 15
  np.save(kept[0], (y_all + 1) % 5)
  reads.clear()
  np.testing.assert_array_equal(src.labels(), y_all)
  assert len(reads) > 15 and (np.load(kept[0]) == y_all).all()  # read again, and rewritten
  with pytest.raises(data.DataError, match='never downloads'):
    stream.load(_cfg(tmp_path / 'tfds', source='tfds', tfds_name='no_such_dataset'), 5)


def test_packed_labels_are_read_from_their_file_and_checked_against_the_records(tmp_path):
  pytest.importorskip('array_record')
  from experiments import pack
  root = make_tree(tmp_path / 'tree', classes=5, per_class=4, val_per_class=2)
  out = tmp_path / 'packed'
  out.mkdir()
  n, skipped, classes = pack.pack_split(root, out, 'train', None, shard_size=7, max_side=0, quality=90)
  assert n == 20 and not skipped
  shards = sorted(out.glob('train-*.array_record'))
  src = stream.ArrayRecordSource(shards, out / 'train-labels.npy')
  from_records = np.asarray([src.record(i)[0] for i in range(len(src))])
  np.testing.assert_array_equal(from_records, np.repeat(np.arange(5), 4))  # sorted by class
  np.testing.assert_array_equal(src.labels(), from_records)
  # Shards packed before the labels file existed: read from the records.
  np.testing.assert_array_equal(stream.ArrayRecordSource(shards, out / 'none.npy').labels(), from_records)
  # A labels file from another packing is one line naming it, never a silent relabelling.
  for wrong in (from_records[:-1], (from_records + 1) % 5):
    np.save(out / 'train-labels.npy', wrong.astype(np.int32))
    with pytest.raises(data.DataError, match='train-labels.npy: does not match its shards'):
      src.labels()


def test_the_decoding_threads_default_to_the_cores_this_process_may_use(monkeypatch):
  import os
  monkeypatch.delenv('SLURM_CPUS_PER_TASK', raising=False)
  assert stream.usable_cpus() == len(os.sched_getaffinity(0))
  monkeypatch.setenv('SLURM_CPUS_PER_TASK', '3')  # the scheduler's allocation wins
  assert stream.usable_cpus() == 3


def test_a_bad_file_is_named_in_the_same_words_every_time():
  pytest.importorskip('PIL')
  words = []
  for _ in range(2):
    with pytest.raises(stream.BadImage) as e:
      stream.decode(b'GIF89a' + bytes(range(40)), 'bad.JPEG')  # a header, then garbage
    words.append(str(e.value))
  assert words[0] == words[1] and '0x' not in words[0] and words[0].startswith('bad.JPEG: not an')


def test_a_train_limit_keeps_many_classes_not_the_first_ones(tmp_path):
  make_tree(tmp_path, classes=20, per_class=4)
  ds = stream.load(_cfg(tmp_path, train_limit=20))
  assert len(ds.train) == 20
  assert len(set(ds.train.y.tolist())) >= 10  # the first 20 sorted files hold 5 classes
  again = stream.load(_cfg(tmp_path, train_limit=20))
  assert ds.train.y.tolist() == again.train.y.tolist()  # the same subset every run


def test_images_held_ahead_are_bounded_in_bytes(tmp_path):
  make_tree(tmp_path, classes=2, per_class=2)
  sp = stream.load(_cfg(tmp_path, image_size=224)).train
  assert sp.prefetch_mb == 0 and sp.window(128) == 4 * 128  # the default: four batches ahead
  image = 224 * 224 * 3
  sp = stream.load(_cfg(tmp_path, image_size=224, prefetch_mb=96)).train
  assert sp.workers.count == 2
  room = ((96 - stream.SLACK_MB) << 20) - 2 * stream.WORKSPACE * image
  assert sp.window(128) == room // image - 128 == 425  # 61 MiB ahead, 18.4 handed out, 4.6 decoding
  assert sp.window(32) == 4 * 32  # four batches fit
  from ffjax import config_args
  # A setting that cannot hold two batches ahead, the one handed out and the decoders: refused.
  assert stream.budget_mb(128, 224, 2) == 72  # 3 x 18.4 MiB + 2 x 2.3 MiB, rounded up, + 12
  stream.check_budget(_cfg(tmp_path, image_size=224, prefetch_mb=72), 128)
  with pytest.raises(config_args.ConfigError, match=r'data.prefetch_mb=71: less than .* at least 72'):
    stream.check_budget(_cfg(tmp_path, image_size=224, prefetch_mb=71), 128)
  with pytest.raises(config_args.ConfigError, match='data.prefetch_mb'):
    stream.check_streamed(_cfg(tmp_path, image_size=224, prefetch_mb=-1))


def _take(split, seed, start, b, n):
  it = split.stream(seed, start, b)
  return [next(it) for _ in range(n)]


@pytest.mark.parametrize('kw', [dict(workers=1), dict(processes=1), dict(processes=2)])
def test_threads_and_processes_give_the_same_batches_across_an_epoch_end(tmp_path, kw):
  make_tree(tmp_path, classes=6, per_class=4)  # 24 images, batches of 5: 4 a epoch
  want = _take(stream.load(_cfg(tmp_path, workers=2)).train, 3, 2, 5, 6)  # steps 2..7: epochs 0, 1
  got = _take(stream.load(_cfg(tmp_path, **kw)).train, 3, 2, 5, 6)
  for (xa, ya), (xb, yb) in zip(want, got):
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
  ds = stream.load(_cfg(tmp_path, **kw))
  for s, (x, y) in zip(range(2, 8), got):  # each batch is its epoch's order, image by image
    epoch, i = divmod(s, 4)
    order = data.epoch_order_host(3, epoch, 24)[i * 5:(i + 1) * 5]
    np.testing.assert_array_equal(x, np.stack([ds.train.example(int(j), 3, epoch)[0] for j in order]))
    np.testing.assert_array_equal(y, ds.train.y[order])
  resumed = _take(ds.train, 3, 5, 5, 3)  # a stream started at step 5 reads on as the first did
  for (xa, _), (xb, _) in zip(got[3:], resumed):
    np.testing.assert_array_equal(xa, xb)


def test_no_more_images_are_held_ahead_than_the_window(tmp_path):
  """A slow consumer: the images submitted and not yet taken never pass the window."""
  import concurrent.futures as cf
  make_tree(tmp_path, classes=4, per_class=5)
  split = stream.load(_cfg(tmp_path)).train

  class Counting:
    chunk, held, most, processes = 1, 0, 0, 0

    def submit(self, jobs, into=None):
      self.held += len(jobs)
      self.most = max(self.most, self.held)
      f = cf.Future()
      f.set_result([split.workers.decoder.example(*j) for j in jobs])
      return f

  w = Counting()
  batches = ([('train', i % 20, 0, 0, True) for i in range(k * 4, k * 4 + 4)] for k in range(30))
  for x, y, _ in stream.ahead(w, batches, 10, split.image_shape):
    w.held -= len(y)
    assert w.held >= 0
  assert w.most == 8  # two batches of 4 fit in 10 images; a third does not


def test_a_check_reads_every_file_of_every_split_and_names_the_bad_ones(tmp_path):
  make_tree(tmp_path, classes=4, per_class=3)
  bad_val = sorted((tmp_path / 'val' / 'n00000001').iterdir())[0]
  bad_val.write_bytes(b'')
  bad_train = tmp_path / 'train' / 'n00000002' / 'img_2_1.JPEG'
  bad_train.write_bytes(bad_train.read_bytes()[:300])
  ds = stream.load(_cfg(tmp_path, num_val=2, processes=1))
  lines = []
  n, bad = stream.check_dataset(ds.train.workers, lines.append)
  assert n == 12 + 4  # train (with the held-out val) and the tree's val
  assert sorted(f for f, _ in bad) == sorted([str(bad_train), str(bad_val)])
  assert lines[-1] == 'checking files: 16/16 (100%), ' + lines[-1].split(', ')[1] + ', 2 bad'


def test_worker_processes_do_not_run_the_main_script_again(tmp_path):
  import subprocess
  import sys
  from conftest import REPO
  make_tree(tmp_path / 'tree', classes=3, per_class=2)
  script = tmp_path / 'user_script.py'  # no __main__ guard, as a quick script has none
  script.write_text(f"""
print('script ran', flush=True)
import ml_collections
from ffjax.data import stream
c = ml_collections.ConfigDict(dict(dir={str(tmp_path / 'tree')!r}, source='folder', name='folder',
    image_size=16, bad_images='stop', workers=0, processes=2, num_val=0, train_limit=0, eval_limit=0))
sp = stream.load(c).train
x, y = next(sp.stream(0, 0, 4))
print('batch', x.shape, flush=True)
print('workers', *sp.workers._ex._processes, flush=True)
import os
os._exit(0)  # as a prompt stop ends: no pool shutdown
""")
  r = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, r.stderr[-2000:]
  assert r.stdout.count('script ran') == 1 and 'batch (4, 16, 16, 3)' in r.stdout, r.stdout
  import time
  pids = [int(p) for p in r.stdout.split('workers')[1].split()]
  assert len(pids) == 2
  def alive(pid):  # a zombie waiting for its new parent to reap it has ended
    try:
      return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
      return False
  for _ in range(40):  # the workers end with their parent, however it ended
    if not any(map(alive, pids)):
      break
    time.sleep(0.25)
  assert not any(map(alive, pids)), 'worker processes outlived the run'
