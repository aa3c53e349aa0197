"""A run survives a bad day: real signals at many moments, divergence, a stall, a changed
config, two launches on one workdir, a full disk, torn records; and says what made it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, make_mnist_dir
from ffjax import checkpoint, metrics, readback, rundir

# Every test runs the command line in subprocesses (slow) except the records one, the fast
# subset's representative here (a finished run, a workdir that is a file, SIGINT in
# process: tests/test_train.py, tests/test_cli.py, tests/test_loop.py).
pytestmark = [pytest.mark.filterwarnings('ignore::DeprecationWarning')]

# 1,200 generated images, 200 held out: 20 steps of 50 per epoch, 3 epochs; 16 filters 5x5
# so that a step takes a few milliseconds more than dispatching it; evaluations of 100 images.
ARGS = ['--config=configs/mnist.py:tiny,epochs=3', '--config.data.verify_md5=False',
        '--config.data.num_val=200', '--config.data.eval_limit=100', '--config.plots=False',
        '--config.train.log_every_steps=5', '--config.model.widths=(16,16,16)',
        '--config.model.kernels=(5,5,5)']


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  return make_mnist_dir(tmp_path_factory.mktemp('data'), n_train=1200, n_test=300)


def _cmd(data_dir, workdir, *extra):
  """The command; an extra --config.x=v replaces ARGS' value of x."""
  keys = {e.split('=')[0] for e in extra}
  args = [a for a in ARGS if a.split('=')[0] not in keys]
  return [sys.executable, '-m', 'experiments.main', *args, f'--config.data.dir={data_dir}',
          f'--workdir={workdir}', *extra]


def _env():
  env = dict(os.environ, PYTHONUNBUFFERED='1', JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  return env


def _run(data_dir, workdir, *extra, timeout=600):
  return subprocess.run(_cmd(data_dir, workdir, *extra), cwd=REPO, env=_env(), capture_output=True,
                        text=True, timeout=timeout)


def _accuracies(workdir):
  rec = json.loads((workdir / 'eval.json').read_text())
  return {sp: {k: v for k, v in rec[sp].items() if k.startswith(('acc_', 'pred_counts'))}
          for sp in ('val', 'test')}


@pytest.fixture(scope='module')
def reference(data_dir, tmp_path_factory):
  wd = tmp_path_factory.mktemp('ref')
  r = _run(data_dir, wd)
  assert r.returncode == 0, r.stderr[-3000:]
  return wd


def _interrupt(data_dir, workdir, sig, marker, extra=()):
  """Starts a run, sends `sig` when a stdout line contains `marker` (None: 0.5 s after
  the start), returns (exit code, stdout, stderr)."""
  env = _env()
  env.pop('JAX_COMPILATION_CACHE_DIR', None)  # a cached compilation could end before the signal
  p = subprocess.Popen(_cmd(data_dir, workdir, *extra), cwd=REPO, env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  out = []
  if marker is None:
    time.sleep(0.5)
    p.send_signal(sig)
  else:
    for line in p.stdout:
      out.append(line)
      if marker in line:
        p.send_signal(sig)
        break
  rest, err = p.communicate(timeout=600)
  return p.returncode, ''.join(out) + rest, err


# (moment, signal, the stdout line it is sent at, extra arguments, the checkpoint left:
# None (nothing trained yet: the process stops at once), a step, or (lo, hi) inclusive)
@pytest.mark.slow
@pytest.mark.parametrize('moment,sig,marker,extra,saved_want', [
    ('start-up', signal.SIGINT, None, (), None),
    ('compile', signal.SIGTERM, 'predictors', (), None),     # the first call is compiling
    ('mid-epoch', signal.SIGINT, 'epoch 1/3 step 5/', (), (6, 20)),  # calls of ~2 s: to the epoch's end here
    # Epoch 1 ends: its checkpoint is written first, then its evaluation runs; a signal
    # during it stops at once, and the resume redoes the evaluation.
    ('evaluation', signal.SIGTERM, 'step 20/60', (), 20),
    ('checkpoint write', signal.SIGINT, 'epoch 2/3 step 25/',  # a checkpoint every 2 steps
     ('--config.train.checkpoint_every_steps=2',), (26, 59)),
])
def test_a_signal_at_any_moment_stops_cleanly_and_the_resume_is_exact(
    data_dir, reference, tmp_path, moment, sig, marker, extra, saved_want):
  wd = tmp_path / 'run'
  code, out, err = _interrupt(data_dir, wd, sig, marker, extra)
  assert code == 128 + sig, (moment, code, err[-2000:])
  assert 'Traceback' not in err and 'Traceback' not in out, err[-3000:]
  lines = [l for l in err.splitlines() if l.strip() and not l.startswith(('W', 'I'))]
  assert lines and lines[-1].startswith('interrupted ('), err[-2000:]
  assert len([l for l in lines if 'interrupted' in l]) == 1
  ckpt = checkpoint.Checkpointer(wd / 'checkpoints')
  saved = ckpt.latest_step()
  ckpt.close()
  if isinstance(saved_want, tuple):
    assert saved is not None and saved_want[0] <= saved <= saved_want[1], (moment, saved)
  else:
    assert saved == saved_want, (moment, saved)
  if moment == 'evaluation':  # abandoned: epoch 1's record is not there yet
    assert not [r for r in metrics.read(wd) if r['step'] == 20 and 'elapsed_s' in r]
  if moment == 'start-up':  # nothing saved: the compile case resumes from the same state
    assert not (wd / 'metrics.jsonl').exists() or not metrics.read(wd)
    return
  # The same command again (what a user types) ends with the uninterrupted run's record.
  r = _run(data_dir, wd, *extra)
  assert r.returncode == 0, r.stderr[-3000:]
  assert _accuracies(wd) == _accuracies(reference)
  steps = [rec['step'] for rec in metrics.read(wd) if 'train/loss' in rec]
  assert steps == sorted(set(steps)), steps  # one record per step, in order


@pytest.mark.slow
def test_divergence_keeps_no_bad_checkpoint_and_says_what_to_do(data_dir, tmp_path):
  wd = tmp_path / 'run'
  r = _run(data_dir, wd, '--config.optim.lr=1e30', '--config.train.checkpoint_every_steps=5')
  assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-2000:]
  assert 'No checkpoint was kept' in r.stderr and 'lower optim.lr' in r.stderr
  assert checkpoint.Checkpointer(wd / 'checkpoints').latest_step() is None
  # A sane rerun in the same workdir starts afresh (nothing diverged was kept).
  r = _run(data_dir, wd, '--config.train.num_epochs=1')
  assert r.returncode == 0, r.stderr[-2000:]
  # Diverging after a good epoch: the good checkpoint stays, and it is good.
  r = _run(data_dir, wd, '--config.optim.lr=1e30', '--allow_config_change')
  assert r.returncode == 2 and 'The last good checkpoint (step 20)' in r.stderr, r.stderr[-2000:]
  rec = readback.evaluate_checkpoint(wd)
  assert rec['step'] == 20 and rec['val']['acc_linear'] > 0.3, rec['val']  # chance 0.1


@pytest.mark.slow
def test_a_stall_is_reported(data_dir, tmp_path):
  wd = tmp_path / 'run'
  r = _run(data_dir, wd, '--config.optim.lr=1e4', '--config.train.num_epochs=2')
  assert r.returncode == 0, r.stderr[-2000:]
  assert 'warning: training has stalled' in r.stdout, r.stdout[-2000:]
  # Every run ends with where its outputs are (a stalled one without the note that a
  # short run's predictor at chance gets: the warning has said why).
  tail = r.stdout.splitlines()[-5:]
  assert tail[0].startswith('done in ') and '(40 steps, 2 epochs)' in tail[0], tail
  assert tail[1].startswith('best epoch (val): goodness '), tail
  assert tail[2] == f'records:     {wd}/{{metrics.jsonl,eval.json,predictions_val.npz,predictions_test.npz}}'
  assert tail[3].startswith(f'checkpoints: {wd}/checkpoints (step 40')
  assert tail[4].startswith('figures:     none (config.plots=False)')
  assert 'stalled' in json.loads((wd / 'eval.json').read_text())['warnings'][0]


@pytest.mark.slow
def test_a_changed_config_is_refused_unless_allowed(data_dir, reference, tmp_path):
  import shutil
  wd = tmp_path / 'run'
  shutil.copytree(reference, wd)
  first = (wd / 'config.json').read_text()
  r = _run(data_dir, wd, '--config.train.num_epochs=1')
  assert r.returncode == 2 and 'another config' in r.stderr and 'num_epochs' in r.stderr
  assert len(r.stderr.strip().splitlines()) == 1 and (wd / 'config.json').read_text() == first
  r = _run(data_dir, wd, '--config.model.widths=(8,8,8)')  # would not even load: refused first
  assert r.returncode == 2 and 'model.widths' in r.stderr and 'Traceback' not in r.stderr
  # Harmless changes (what is written, not what is trained) resume.
  r = _run(data_dir, wd, '--config.train.log_every_steps=10')
  assert r.returncode == 0, r.stderr[-2000:]
  r = _run(data_dir, wd, '--config.train.num_epochs=4', '--allow_config_change')
  assert r.returncode == 0, r.stderr[-2000:]
  assert (wd / 'config.json').read_text() == first  # the first config is never overwritten
  change = json.loads((wd / 'config_changes.jsonl').read_text().splitlines()[-1])
  assert any('num_epochs' in c for c in change['changes'])
  assert json.loads((wd / 'eval.json').read_text())['step'] == 80
  readback.restore_run(wd)  # evaluate and plot can still read it


@pytest.mark.slow
def test_checkpoints_without_their_config_or_of_another_model_are_one_line(
    data_dir, reference, tmp_path):
  import shutil
  wd = tmp_path / 'run'
  shutil.copytree(reference, wd)
  (wd / 'config.json').unlink()  # which config trained these checkpoints is lost
  r = _run(data_dir, wd, '--config.train.num_epochs=4')
  assert r.returncode == 2 and 'config.json is gone' in r.stderr
  assert len(r.stderr.strip().splitlines()) == 1 and not (wd / 'config.json').exists()
  # Allowed, but the checkpoints hold another model: one line, not orbax's traceback.
  r = _run(data_dir, wd, '--config.model.widths=(8,8,8)', '--allow_config_change')
  assert r.returncode == 2 and 'does not fit this run' in r.stderr, r.stderr[-2000:]
  assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1
  assert not (wd / 'config.json').exists()  # refused before the wrong config became the record
  # Allowed with a model that fits: it resumes, keeps its records, and finishes.
  r = _run(data_dir, wd, '--config.train.num_epochs=4', '--allow_config_change')
  assert r.returncode == 0, r.stderr[-2000:]
  assert json.loads((wd / 'eval.json').read_text())['step'] == 80
  steps = [json.loads(l)['step'] for l in (wd / 'metrics.jsonl').read_text().splitlines()]
  assert min(steps) < 40 < max(steps)  # the first run's records are kept


@pytest.mark.slow
def test_a_second_launch_on_a_live_workdir_is_refused_and_a_stale_lock_taken_over(data_dir, tmp_path):
  wd = tmp_path / 'run'
  wd.mkdir()
  import platform
  lock = {'pid': os.getpid(), 'host': platform.node(), 'time': time.time()}  # this test: alive
  (wd / 'lock').write_text(json.dumps(lock))
  r = _run(data_dir, wd)
  assert r.returncode == 2 and 'in use by process' in r.stderr and 'Traceback' not in r.stderr
  dead = subprocess.Popen(['true'])
  dead.wait()
  (wd / 'lock').write_text(json.dumps(dict(lock, pid=dead.pid)))
  r = _run(data_dir, wd, '--config.train.num_epochs=1')
  assert r.returncode == 0 and 'stale lock' in r.stdout, r.stderr[-2000:]
  assert not (wd / 'lock').exists()  # released at the end


def test_records_are_cut_back_on_resume_and_a_torn_line_is_skipped(tmp_path):
  wd = tmp_path
  lines = [{'step': 5, 'train/loss': 1.}, {'step': 10, 'train/loss': 0.9}, {'step': 10, 'epoch': 1},
           {'step': 15, 'train/loss': 0.8}]
  (wd / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in lines) + '{"step": 20, "tra')
  assert [r['step'] for r in metrics.read(wd)] == [5, 10, 10, 15]  # the torn line skipped
  rundir.cut_records(wd, [''], 10)  # resuming from step 10: 15 (and the torn line) go
  assert [r['step'] for r in metrics.read(wd)] == [5, 10, 10]
  with open(wd / 'metrics.jsonl', 'a') as f:  # a redone step: the last record stands
    f.write(json.dumps({'step': 10, 'train/loss': 0.7}) + '\n')
  assert [r.get('train/loss') for r in metrics.read(wd)] == [1., None, 0.7]


SMALL_DISK = r'''
import os, runpy, sys
sys.path.insert(0, os.getcwd())
from ffjax import readback, rundir
if sys.argv[1] == 'orbax':
  rundir.check_space = lambda *a, **k: None  # let the write itself fail
sys.argv = ['experiments.main'] + sys.argv[2:]
runpy.run_module('experiments.main', run_name='__main__')
'''


@pytest.mark.slow
@pytest.mark.parametrize('where', ['check', 'orbax'])
def test_a_full_disk_is_one_line_and_the_resume_is_exact(data_dir, reference, tmp_path, where):
  small = tmp_path / 'small'
  small.mkdir()
  if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=5m', 'tmpfs', str(small)],
                    capture_output=True).returncode:
    pytest.skip('cannot mount a small filesystem here')
  try:
    wd = small / 'run'
    args = [a for a in _cmd(data_dir, wd) if not a.startswith('-m') and a != 'experiments.main'][1:]
    r = subprocess.run([sys.executable, '-c', SMALL_DISK, where, *args], cwd=REPO, env=_env(),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stderr[-2000:]
    err = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith('error: cannot write'), r.stderr[-3000:]
    assert 'step 20' in err[0]  # the first epoch's checkpoint fitted and stays
    import shutil
    moved = tmp_path / 'moved'
    shutil.copytree(wd, moved)  # space again: the same run, elsewhere
  finally:
    subprocess.run(['umount', str(small)], capture_output=True)
  r = _run(data_dir, moved)
  assert r.returncode == 0, r.stderr[-2000:]
  assert _accuracies(moved) == _accuracies(reference)


@pytest.mark.slow
def test_records_say_what_made_them(reference):
  rec = json.loads((reference / 'eval.json').read_text())
  cfg = json.loads((reference / 'config.json').read_text())
  for p in (rec['provenance'], cfg['provenance']):
    assert len(p['commit']) == 40 or p['commit'] == 'unknown'
    assert p['versions']['jax'] and p['versions']['flax'] and p['versions']['orbax-checkpoint']
    assert 'cpu' in p['devices']


@pytest.mark.slow
def test_evaluate_on_a_read_only_run_prints_its_results(reference, tmp_path):
  import shutil
  wd = tmp_path / 'ro'
  shutil.copytree(reference, wd)
  (wd / 'eval_step60.json').mkdir()  # where it would write: not writable as a file
  r = subprocess.run([sys.executable, '-m', 'experiments.evaluate', str(wd)], cwd=REPO, env=_env(),
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0 and 'step 60 val' in r.stdout, r.stderr[-2000:]
  assert 'could not write' in r.stderr and 'Traceback' not in r.stderr
