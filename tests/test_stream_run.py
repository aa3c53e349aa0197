"""Training on streamed data end to end (configs/asge_imagenet.py on a tree made here):
it learns, a stopped run resumes exactly, packed shards equal the folder they came from,
the loop reads the order of (seed, epoch), and bad files are counted in the records."""
import json

import numpy as np
import pytest

from conftest import load_config
from ffjax import data, train

pytest.importorskip('simplejpeg')
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
  # Stopped in the middle of epoch 2 (step 11 of 8 per epoch x 3) with 2 worker processes,
  # then resumed with 1: the same as the run on threads.
  assert train.train_and_evaluate(_config(tree, **{'data.processes': 2}), tmp_path / 'cut',
                                  stop_at_step=11) == {}
  train.train_and_evaluate(_config(tree, **{'data.processes': 1}), tmp_path / 'cut')
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
  spe = len(ds.train) // 24
  hl = loop.HostLoop(lambda s, x, y: (s, {}), parallel.make_mesh(), ds.train, 24, spe)
  for seed, epoch, i in ((0, 0, 0), (0, 1, 3), (5, 1, 3), (5, 2, 0)):  # (5, 2, 0): read on from (5, 1, 3)
    x, y = hl._next(seed, epoch * spe + i)
    order = data.epoch_order_host(seed, epoch, len(ds.train))[i * 24:(i + 1) * 24]
    want = [ds.train.example(int(j), seed, epoch) for j in order]
    np.testing.assert_array_equal(x, np.stack([w[0] for w in want]))
    np.testing.assert_array_equal(y, [w[1] for w in want])


def test_bad_files_of_every_split_are_counted_across_a_resume(tree, tmp_path):
  import shutil
  bad_tree = tmp_path / 'tree'
  shutil.copytree(tree, bad_tree)
  victim = sorted((bad_tree / 'train' / 'n00000003').iterdir())[0]
  victim.write_bytes(b'not a jpeg at all')
  bad_val = sorted((bad_tree / 'val' / 'n00000005').iterdir())[0]
  bad_val.write_bytes(bad_val.read_bytes()[:400])  # truncated
  c = _config(bad_tree, **{'data.bad_images': 'skip'})
  c.train.num_epochs = 2
  assert train.train_and_evaluate(c, tmp_path / 'run', stop_at_step=9) == {}  # after epoch 1
  train.train_and_evaluate(c, tmp_path / 'run')  # a new process: meets only the train file
  from ffjax import metrics
  ends = [r for r in metrics.read(tmp_path / 'run') if 'data/bad_files' in r]
  assert [r['data/bad_files'] for r in ends] == [2, 2]
  assert sorted((tmp_path / 'run' / 'bad_files.txt').read_text().split()) == sorted(
      [str(victim), str(bad_val)])
  c.data.bad_images = 'stop'
  with pytest.raises(data.DataError, match=f"{victim.name}: not an image.*'skip' takes the next"):
    train.train_and_evaluate(c, tmp_path / 'stop')
  # Asked to check first: every bad file named before a step is trained.
  c.data.check_files = True
  with pytest.raises(data.DataError, match=r'data.check_files: 2 files cannot be decoded.*'
                     + bad_val.name + '.*data_check.json'):
    train.train_and_evaluate(c, tmp_path / 'checked')
  assert not (tmp_path / 'checked' / 'checkpoints').exists() or not any(
      (tmp_path / 'checked' / 'checkpoints').iterdir())
  c.data.bad_images = 'skip'  # the same workdir: its check is read, not made again
  train.train_and_evaluate(c, tmp_path / 'checked', allow_config_change=True)
  assert sorted((tmp_path / 'checked' / 'bad_files.txt').read_text().split()) == sorted(
      [str(victim), str(bad_val)])


def test_check_data_names_every_bad_file_and_writes_the_list(tmp_path):
  import subprocess
  import sys
  from conftest import REPO
  make_tree(tmp_path / 'tree', classes=5, per_class=4)
  bad = sorted((tmp_path / 'tree' / 'val' / 'n00000002').iterdir())[0]
  bad.write_bytes(b'')
  cmd = [sys.executable, '-m', 'experiments.check_data',
         '--config=configs/asge_imagenet.py:tiny,dataset=folder,classes=5',
         f'--config.data.dir={tmp_path / "tree"}', f'--bad_list={tmp_path / "bad.txt"}']
  r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert r.returncode == 1, r.stderr
  assert f'bad: {bad}: not an image' in r.stdout and '25 files read, 1 cannot be decoded' in r.stdout
  assert (tmp_path / 'bad.txt').read_text() == f'{bad}\n'
  # Kept in a workdir: the run started there reads it, not every file again.
  r = subprocess.run(cmd + [f'--workdir={tmp_path / "run"}'], cwd=REPO, capture_output=True, text=True,
                     timeout=300)
  assert r.returncode == 1 and (tmp_path / 'run' / 'data_check.json').is_file(), r.stderr
  c = _config(tmp_path / 'tree', **{'data.bad_images': 'skip', 'data.check_files': True})
  c.data.num_classes, c.train.num_epochs, c.train.batch_size, c.train.eval_batch_size = 5, 1, 4, 4
  from ffjax.data import stream
  calls = []
  real = stream.check_dataset
  stream.check_dataset = lambda *a, **k: calls.append(1) or real(*a, **k)
  try:
    train.train_and_evaluate(c, tmp_path / 'run')
  finally:
    stream.check_dataset = real
  assert not calls and (tmp_path / 'run' / 'bad_files.txt').read_text() == f'{bad}\n'
  bad.unlink()
  r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0 and '24 files read, 0 cannot be decoded' in r.stdout, r.stdout + r.stderr


def test_a_ctrl_c_with_worker_processes_is_one_line_and_leaves_no_process(tree, tmp_path):
  import os
  import signal
  import subprocess
  import sys
  import time
  from conftest import REPO
  cmd = [sys.executable, '-m', 'experiments.main',
         '--config=configs/asge_imagenet.py:tiny,dataset=folder,classes=12',
         f'--config.data.dir={tree}', '--config.data.processes=2', '--config.train.num_epochs=200',
         f'--workdir={tmp_path / "run"}']
  p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  for line in p.stdout:  # training has started: the workers are up
    if line.startswith('epoch 2/'):
      break

  def children(pid):
    out = []
    for d in os.listdir('/proc'):
      try:
        if d.isdigit() and open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()[1] == str(pid):
          out.append(int(d))
      except OSError:
        pass
    return out
  kids = children(p.pid)
  assert len(kids) >= 2, kids  # the two decoders (and multiprocessing's resource tracker)
  p.send_signal(signal.SIGINT)
  _, err = p.communicate(timeout=120)
  assert p.returncode == 130, err
  assert len(err.strip().splitlines()) == 1 and err.startswith('interrupted (SIGINT)'), err

  def alive(pid):
    try:
      return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
      return False
  for _ in range(40):
    if not any(map(alive, kids)):
      break
    time.sleep(0.25)
  assert not any(map(alive, kids)), 'worker processes outlived the run'
