"""End to end: the real training function on tiny configs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, load_config, make_cifar100_dir, real_data_dir
from ffjax import checkpoint, config_args, metrics, train

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


def _run(config, workdir, **kw):
  return train.train_and_evaluate(config, str(workdir), **kw)


def _train_losses(workdir):
  return [r['train/loss'] for r in metrics.read(workdir) if 'train/loss' in r]


@pytest.fixture(scope='module')
def c100_dir(tmp_path_factory):
  return make_cifar100_dir(tmp_path_factory.mktemp('c100'), n_train=1500, n_test=300)


@pytest.mark.parametrize('name,arg', [
    ('mnist', 'tiny'), ('mnist', 'tiny,method=bp'), ('fashion_mnist', 'tiny'),
    ('cifar10', 'tiny'), ('mnist_mlp', 'tiny'), ('cifar100', 'tiny,labels=fourier3')])
@pytest.mark.slow
def test_every_config_learns_on_tiny_data(name, arg, tmp_path, c100_dir):
  c = load_config(name, arg)
  if name == 'cifar100':
    c.data.dir, c.data.num_val, c.data.train_limit = str(c100_dir), 300, 0
    c.data.eval_limit = 50  # 100 labels per image for goodness: 50 images are 5,000 passes
    c.train.num_epochs, c.train.eval_every_epochs = 2, 2  # one evaluation round, then the final
  elif real_data_dir() is None:
    pytest.skip('real data not here')
  else:
    c.data.dir = real_data_dir()
  rec = _run(c, tmp_path)
  losses = _train_losses(tmp_path)
  assert losses[-1] < losses[0], f'loss did not fall: {losses}'
  chance = 1. / (100 if name == 'cifar100' else 10)
  split = rec.get('val') or rec['test']
  assert split['acc_linear'] > 2 * chance, split
  assert (tmp_path / 'config.json').exists() and (tmp_path / 'eval.json').exists()
  if c.method == 'ff':
    assert 'acc_goodness' in split and 'disc_acc_u2' in split
    assert sum(split['pred_counts_goodness']) == split['num_examples']


@pytest.fixture(scope='module')
def tiny_cfg():
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('mnist', 'tiny')
  c.data.dir = real_data_dir()
  c.data.train_limit = 500   # 10 steps per epoch
  c.data.eval_limit = 250
  c.train.log_every_steps = 5
  return c


@pytest.fixture(scope='module')
def full_run(tiny_cfg, tmp_path_factory):
  import contextlib
  import io
  d = tmp_path_factory.mktemp('full')
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    rec = _run(tiny_cfg, d)
  (d / 'stdout.txt').write_text(out.getvalue())
  return d, rec


def test_the_progress_line_names_the_trained_units_only(full_run):
  # The FF-CNN's unit 1 is measured, not trained: its loss is no progress to watch.
  lines = [l for l in (full_run[0] / 'stdout.txt').read_text().splitlines() if 'img/s' in l]
  assert len(lines) == 4 and all(' | loss u2 ' in l and ' u3 ' in l and 'u1' not in l for l in lines)


def _params(workdir):
  ck = checkpoint.Checkpointer(workdir / 'checkpoints')
  step = ck.latest_step()
  ck.close()
  from orbax.checkpoint import PyTreeCheckpointer
  tree = PyTreeCheckpointer().restore(workdir / 'checkpoints' / str(step) / 'default')
  return step, tree['params']


def _leaves(tree):
  import jax
  return jax.tree.leaves(tree)


def test_resume_equals_uninterrupted(full_run, tiny_cfg, tmp_path):
  d_full, rec_full = full_run
  assert _run(tiny_cfg, tmp_path, stop_at_step=13) == {}  # stopped mid-epoch 2
  assert checkpoint.Checkpointer(tmp_path / 'checkpoints').latest_step() == 13
  rec = _run(tiny_cfg, tmp_path)
  step_a, pa = _params(d_full)
  step_b, pb = _params(tmp_path)
  assert step_a == step_b == 20
  for a, b in zip(_leaves(pa), _leaves(pb)):
    np.testing.assert_array_equal(a, b)
  assert rec['test']['acc_goodness'] == rec_full['test']['acc_goodness']
  assert rec['test']['acc_linear'] == rec_full['test']['acc_linear']
  # The window the stop cut (steps 11-15, logged every 5) is two rows, each saying how many
  # steps it averages; every other row is the uninterrupted run's.
  rows = {r['step']: r['window_steps'] for r in metrics.read(tmp_path) if 'train/loss' in r}
  assert rows == {5: 5, 10: 5, 13: 3, 15: 2, 20: 5}
  full = {r['step']: r['window_steps'] for r in metrics.read(d_full) if 'train/loss' in r}
  assert full == {5: 5, 10: 5, 15: 5, 20: 5}


@pytest.mark.slow
def test_same_seed_same_run_other_seed_other_run(full_run, tiny_cfg, tmp_path):
  d_full, rec_full = full_run
  rec = _run(tiny_cfg, tmp_path / 'same')
  assert _train_losses(tmp_path / 'same') == _train_losses(d_full)
  assert rec['val'] == rec_full['val']
  other = tiny_cfg.copy_and_resolve_references()
  other.seed = 1
  _run(other, tmp_path / 'other')
  assert _train_losses(tmp_path / 'other') != _train_losses(d_full)


def test_metrics_records(full_run):
  d, rec = full_run
  recs = metrics.read(d)
  train_recs = [r for r in recs if 'train/loss' in r]
  val_recs = [r for r in recs if 'val/acc_goodness' in r]
  assert [r['step'] for r in train_recs] == [5, 10, 15, 20]
  assert len(val_recs) == 2 and val_recs[-1]['val/num_examples'] == 250
  for k in ('train/loss_u2', 'train/disc_acc_u3', 'images_per_sec', 'lr', 'epoch'):
    assert k in train_recs[0]
  assert rec['test']['num_examples'] == 250
  saved = json.loads((d / 'eval.json').read_text())
  assert saved['test']['acc_linear'] == rec['test']['acc_linear']


def test_a_finished_run_run_again_gives_its_record_without_redoing_anything(full_run, tiny_cfg):
  d, rec = full_run
  before = {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.is_file()}
  again = _run(tiny_cfg, d)
  assert again.pop('finished_before') is True and again == json.loads((d / 'eval.json').read_text())
  assert again['test'] == rec['test'] and again['step'] == rec['step']
  after = {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.is_file() and p.name != 'lock'}
  assert after == {k: v for k, v in before.items() if k != 'lock'}  # nothing rewritten


def test_nan_stops_with_clear_message_and_keeps_last_checkpoint(full_run, tiny_cfg, tmp_path):
  import shutil
  shutil.copytree(full_run[0] / 'checkpoints', tmp_path / 'checkpoints')
  c = tiny_cfg.copy_and_resolve_references()
  c.train.num_epochs = 3
  c.optim.lr = float('inf')
  with pytest.raises(train.TrainingDiverged, match=r'loss.* became nan at step 2\d; .*step 20'):
    _run(c, tmp_path, allow_config_change=True)  # checkpoints alone: this config adopted
  assert checkpoint.Checkpointer(tmp_path / 'checkpoints').latest_step() == 20


@pytest.mark.parametrize('key,value,match', [
    ('labels.intensity', 1.5, 'labels.intensity'), ('model.widths', (8, -1, 8), 'model.widths'),
    ('method', 'magic', 'method'), ('data.name', 'imagenet', 'data.name'),
    ('train.batch_size', 0, 'train.batch_size'), ('data.train_limit', -5, 'data.train_limit'),
    ('data.eval_limit', -5, 'data.eval_limit'),
    ('train.checkpoint_every_steps', -3, 'train.checkpoint_every_steps'),
    ('train.eval_every_epochs', 0, 'train.eval_every_epochs'),
    ('train.eval_every_epochs', -1, 'train.eval_every_epochs'),
    ('train.schedule', 'fast', 'train.schedule')])
def test_bad_config_values_are_refused_naming_the_key(key, value, match):
  c = load_config('mnist', 'tiny')
  a, b = key.split('.') if '.' in key else (key, None)
  if b:
    c[a][b] = value
  else:
    c[a] = value
  with pytest.raises(config_args.ConfigError, match=match):
    config_args.validate(c, 1)


def test_batch_not_divisible_by_devices():
  c = load_config('mnist', 'tiny')
  c.train.batch_size = 50
  with pytest.raises(config_args.ConfigError, match='divisible by the 4 devices'):
    config_args.validate(c, 4)


def test_an_explicit_argument_wins_over_a_variants_default():
  assert load_config('mnist', 'tiny').train.num_epochs == 2
  assert load_config('mnist', 'tiny,epochs=4').train.num_epochs == 4
  assert load_config('mnist', 'tiny,width=16').model.widths == (16, 16, 16)
  assert load_config('asge_mnist', 'tiny,epochs=5').train.num_epochs == 5
  assert load_config('cwcomp', 'tiny,epochs=1').train.num_epochs == 1
  assert load_config('resnet18_cifar10', 'tiny,fraction=0.1').data.train_limit == 4500


def test_unknown_config_argument():
  with pytest.raises(config_args.ConfigError, match='unknown config argument'):
    load_config('mnist', 'tiny,widht=3')


def test_cli_one_line_errors(tmp_path):
  env = dict(os.environ, FFJAX_DATA_DIR=str(tmp_path / 'nowhere'))
  cmd = [sys.executable, '-m', 'experiments.main', f'--workdir={tmp_path}/w']
  r = subprocess.run(cmd + ['--config=configs/mnist.py:tiny', '--config.labels.intensity=2.0'],
                     cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert r.returncode == 2 and 'config.labels.intensity=2.0' in r.stderr
  assert 'Traceback' not in r.stderr
  r = subprocess.run(cmd + ['--config=configs/mnist.py:tiny'],
                     cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert r.returncode == 2 and 'nowhere does not exist' in r.stderr and 'Traceback' not in r.stderr
  # A bad config argument fails while the config file runs (during flag parsing).
  r = subprocess.run(cmd + ['--config=configs/mnist.py:tiny,method=xyz'],
                     cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert r.returncode == 2 and "method='xyz'" in r.stderr and 'Traceback' not in r.stderr


@pytest.mark.slow
def test_tensorboard_scalars_mirror_the_json_lines(full_run, tiny_cfg, tmp_path):
  pytest.importorskip('tensorboardX')
  import struct
  from tensorboardX.proto import event_pb2
  c = tiny_cfg.copy_and_resolve_references()
  c.tensorboard = True
  c.train.num_epochs = 1
  _run(c, tmp_path)
  got = []
  for f in (tmp_path / 'tensorboard').glob('events.out.tfevents.*'):
    buf, i = f.read_bytes(), 0
    while i < len(buf):  # TFRecord: length, its crc, the Event, its crc
      n = struct.unpack('<Q', buf[i:i + 8])[0]
      ev = event_pb2.Event.FromString(buf[i + 12:i + 12 + n])
      got += [v.simple_value for v in ev.summary.value if v.tag == 'train/loss']
      i += 16 + n
  want = [r['train/loss'] for r in metrics.read(tmp_path) if 'train/loss' in r]
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_evaluate_command_on_a_checkpoint(full_run, tiny_cfg):
  d, rec = full_run
  r = subprocess.run([sys.executable, '-m', 'experiments.evaluate', str(d)], cwd=REPO,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  again = json.loads((d / 'eval_step20.json').read_text())
  assert again['test']['acc_linear'] == rec['test']['acc_linear']
  assert again['val']['acc_goodness'] == rec['val']['acc_goodness']


def test_evaluate_reads_the_same_units_with_another_goodness_predictor(tiny_cfg, tmp_path):
  # Pooled units: their thresholds differ, so dividing each goodness by its own changes
  # the sum. goodness_scale acts on inference alone: a run trained with it has the same
  # units, and its own numbers are what evaluate --goodness_scale=theta reads from the other.
  c = tiny_cfg.copy_and_resolve_references()
  c.model.pools = (1, 2, 2)
  c.optim.lr = 1e-2  # at 20 steps of 1e-3 both readings predict class 9 for every image
  _run(c, tmp_path / 'none')
  c.predict.goodness_scale = 'theta'
  theta_rec = _run(c, tmp_path / 'theta')
  r = subprocess.run([sys.executable, '-m', 'experiments.evaluate', str(tmp_path / 'none'),
                      '--goodness_scale=theta'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  none_rec = json.loads((tmp_path / 'none' / 'eval.json').read_text())
  read = json.loads((tmp_path / 'none' / 'eval_step20_goodness_scale-theta.json').read_text())
  assert read['settings'] == {'predict.goodness_scale': 'theta'}
  for split in ('val', 'test'):
    assert read[split]['acc_goodness'] == theta_rec[split]['acc_goodness']
    assert read[split]['acc_linear'] == none_rec[split]['acc_linear']
  assert read['val']['pred_counts_goodness'] == theta_rec['val']['pred_counts_goodness']
  assert read['val']['pred_counts_goodness'] != none_rec['val']['pred_counts_goodness']
  # Anything that was trained cannot be changed when reading back: one line.
  from ffjax import readback
  with pytest.raises(config_args.ConfigError, match='not a setting of inference'):
    readback.evaluate_checkpoint(tmp_path / 'none', {'model.widths': (4, 4, 4)})
