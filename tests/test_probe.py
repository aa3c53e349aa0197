"""The linear probe on frozen units (ffjax/probe.py): the authors' halvings, a phase after
training, and the command on a finished run (as a user runs them)."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, make_cifar10_dir
from ffjax import probe

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


@pytest.mark.parametrize('epochs', [50, 10, 3, 1])
def test_the_halvings_fall_where_the_authors_custom_step_lr_puts_them(epochs):
  marks = [int(epochs * r) for r in (0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9)]
  # Their CustomStepLR: built with last_epoch 0 (halved then if 0 is a mark), then stepped
  # after each epoch; it halves whenever the new epoch number is in the list (once).
  lr = 0.5 if 0 in marks else 1.
  theirs = []
  for epoch in range(epochs):
    theirs.append(lr)
    if epoch + 1 in marks:
      lr *= 0.5
  np.testing.assert_allclose([float(probe.lr_factor(e, epochs)) for e in range(epochs)], theirs)


def _py(*args, timeout=600):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', *args], cwd=REPO, capture_output=True, text=True,
                        timeout=timeout, env=env)


@pytest.mark.slow
def test_a_probe_after_training_and_on_the_finished_run(tmp_path):
  data = make_cifar10_dir(tmp_path / 'data')
  wd = tmp_path / 'run'
  main_cmd = ('experiments.main', '--config=configs/scff.py:tiny', f'--workdir={wd}',
              f'--config.data.dir={data}', '--config.data.num_val=200',
              '--config.data.verify_md5=False', '--config.probe.pool=2',
              '--config.probe.dropout=0.2', '--config.probe.epochs=2')
  r = _py(*main_cmd)
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'probe on the frozen units: val' in r.stdout, r.stdout[-2000:]
  rec = json.loads((wd / 'probe.json').read_text())
  # tiny: three units of 8 maps, 17x17 -> 8x8 -> 4x4 after their pools, halved again
  assert rec['features'] == 8 * (8 * 8 + 4 * 4 + 2 * 2) and rec['units'] == [1, 2, 3]
  assert len(rec['curve']) == 2 and 0. <= rec['test'] <= 1. and rec['val'] > 0.15  # chance 0.10
  assert rec['curve'][-1]['loss'] < rec['curve'][0]['loss'] + 0.5
  # The run's record carries it: a reproduction row's metric 'probe/test' reads it there.
  from experiments import reproduce
  final = json.loads((wd / 'eval.json').read_text())
  assert reproduce._value(final, 'probe/test') == rec['test'] and final['probe']['epochs'] == 2
  # The same command again: the run is finished and has its probe; nothing is trained again.
  before = (wd / 'probe.json').stat().st_mtime_ns
  r = _py(*main_cmd)
  assert r.returncode == 0 and 'probe on the frozen units (done before): val' in r.stdout, r.stderr[-2000:]
  assert (wd / 'probe.json').stat().st_mtime_ns == before
  # Another probe setting on the finished run (harmless to what was trained), stopped by a
  # Ctrl-C in the middle: one line, the training kept.
  p = subprocess.Popen([sys.executable, '-m', *main_cmd[:-3], '--config.probe.epochs=500'],
                       cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, JAX_PLATFORMS='cpu'))
  for line in p.stdout:
    if line.startswith('probe epoch 1/500'):
      p.send_signal(signal.SIGINT)
      break
  _, err = p.communicate(timeout=120)
  lines = [l for l in err.splitlines() if l.strip() and 'interrupted' in l]
  assert p.returncode == 130 and len(lines) == 1 and 'during the probe phase' in lines[0], err[-2000:]
  assert 'Traceback' not in err and (wd / 'eval.json').exists()
  # The command, on the same run: another setting, another reading of it.
  r = _py('experiments.probe', str(wd), '--epochs=1', '--units=3')
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'probe val:' in r.stdout and 'probe test:' in r.stdout
  assert json.loads((wd / 'probe.json').read_text())['features'] == 8 * 2 * 2
  for bad, word in ((('--units=x',), '--units'), (('--epochs=0',), 'probe.epochs')):
    r = _py('experiments.probe', str(wd), *bad)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1 and word in lines[0], r.stderr[-2000:]
