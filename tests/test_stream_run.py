"""Training on streamed data end to end (configs/asge_imagenet.py on a tree made here):
it learns, a stopped run resumes exactly, packed shards equal the folder they came from,
the loop reads the order of (seed, epoch), and bad files are counted in the records."""
import json

import numpy as np
import pytest

from conftest import load_config
from ffjax import data, train

pytest.importorskip('simplejpeg')
pytest.importorskip('grain')
from test_stream import make_tree  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
  return make_tree(tmp_path_factory.mktemp('tree'), classes=12, per_class=16, val_per_class=4,
                   learnable=True)


def _config(tree, **over):
  c = load_config('asge_imagenet', 'tiny,dataset=folder,classes=12,epochs=3')
  c.data.dir = str(tree)
  c.train.batch_size, c.train.eval_batch_size, c.train.log_every_steps = 24, 24, 4
  for k, v in over.items():
    c[k.split('.')[0]][k.split('.')[1]] = v
  return c


def _accs(wd):
  rec = json.loads((wd / 'eval.json').read_text())
  return {k: v for k, v in rec['test'].items() if k.startswith('acc_')}


def test_a_streamed_run_learns_and_resumes_exactly(tree, tmp_path):
  full = train.train_and_evaluate(_config(tree), tmp_path / 'full')
  assert full['test']['acc_fusion'] >= 0.3, full['test']  # chance 1/12; colours are easy
  # Stopped in the middle of epoch 2 (step 11 of 8 per epoch x 3), then resumed: the same.
  assert train.train_and_evaluate(_config(tree), tmp_path / 'cut', stop_at_step=11) == {}
  train.train_and_evaluate(_config(tree), tmp_path / 'cut')
  assert _accs(tmp_path / 'cut') == _accs(tmp_path / 'full')


def test_packed_shards_train_as_the_folder_they_came_from(tree, tmp_path):
  import subprocess
  import sys
  from conftest import REPO
  r = subprocess.run([sys.executable, '-m', 'experiments.pack', f'--src={tree}',
                      f'--out={tmp_path / "packed"}', '--shard_size=50'], cwd=REPO,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  assert 'train: 192 images in 4 shards, 0 skipped' in r.stdout
  assert np.load(tmp_path / 'packed' / 'train-labels.npy').shape == (192,)  # read at start-up
  c = _config(tree)
  c.train.num_epochs = 1
  a = train.train_and_evaluate(c, tmp_path / 'folder')
  c.data.source, c.data.dir = 'array_record', str(tmp_path / 'packed')
  b = train.train_and_evaluate(c, tmp_path / 'array_record')
  assert _accs(tmp_path / 'folder') == _accs(tmp_path / 'array_record'), (a['test'], b['test'])


def test_the_loop_reads_the_order_of_seed_and_epoch(tree):
  from ffjax import loop, parallel
  c = _config(tree)
  ds = data.load(c.data)
  hl = loop.HostLoop(lambda s, x, y: (s, {}), parallel.make_mesh(), ds.train, 24, len(ds.train) // 24)
  for seed, epoch, i in ((0, 0, 0), (0, 1, 3), (5, 1, 3)):
    x, y = hl._streamed(seed, epoch, i)
    order = data.epoch_order_host(seed, epoch, len(ds.train))[i * 24:(i + 1) * 24]
    want = [ds.train.example(int(j), seed, epoch) for j in order]
    np.testing.assert_array_equal(x, np.stack([w[0] for w in want]))
    np.testing.assert_array_equal(y, [w[1] for w in want])


def test_skipped_bad_files_are_counted_in_the_records(tree, tmp_path):
  import shutil
  bad_tree = tmp_path / 'tree'
  shutil.copytree(tree, bad_tree)
  victim = sorted((bad_tree / 'train' / 'n00000003').iterdir())[0]
  victim.write_bytes(b'not a jpeg at all')
  c = _config(bad_tree, **{'data.bad_images': 'skip'})
  c.train.num_epochs = 1
  train.train_and_evaluate(c, tmp_path / 'run')
  from ffjax import metrics
  ends = [r for r in metrics.read(tmp_path / 'run') if 'data/bad_files' in r]
  assert ends and ends[-1]['data/bad_files'] == 1
  assert (tmp_path / 'run' / 'bad_files.txt').read_text().strip() == str(victim)
  c.data.bad_images = 'stop'
  with pytest.raises(data.DataError, match=f'{victim.name}: not an image'):
    train.train_and_evaluate(c, tmp_path / 'stop')
