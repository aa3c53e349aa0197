import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, real_data_dir
from experiments import summarize, sweep


def _write_sweep(tmp_path, **kw):
  sw = dict(config='configs/mnist.py', base='tiny', grid={'width': [4, 8], 'K': [0.3]},
            seeds=[0, 1], flags=['--config.train.num_epochs=1'], out=str(tmp_path / 'sw'))
  sw.update(kw)
  p = tmp_path / 'sweep.py'
  p.write_text(f'def get_sweep():\n  return {sw!r}\n')
  return p


def test_expansion_is_the_grid_times_seeds(tmp_path):
  runs = sweep.expand(sweep.load_sweep(_write_sweep(tmp_path)))
  assert len(runs) == 4
  assert [(r['settings']['width'], r['seed']) for r in runs] == [(4, 0), (4, 1), (8, 0), (8, 1)]
  assert runs[1]['workdir'].endswith('sw/width4_K0.3/seed1')
  assert '--config=configs/mnist.py:tiny,width=4,K=0.3,seed=1' in runs[1]['argv']
  assert runs[1]['argv'][-1] == '--config.train.num_epochs=1'
  sw = sweep.load_sweep(_write_sweep(tmp_path, grid={'config.optim.lr': [0.1]}))
  run, = sweep.expand(sw)[:1]
  assert run['workdir'].endswith('sw/lr0.1/seed0') and run['argv'][-1] == '--config.optim.lr=0.1'
  assert '--config=configs/mnist.py:tiny,seed=0' in run['argv']


def test_status_new_partial_done(tmp_path):
  w = tmp_path / 'run'
  assert sweep.status(w) == 'new'
  (w / 'checkpoints' / '10').mkdir(parents=True)
  assert sweep.status(w) == 'partial'
  (w / 'eval.json').write_text('{}')
  assert sweep.status(w) == 'done'


def _fake_run(d, val_g, val_l, test_g, elapsed):
  d.mkdir(parents=True)
  (d / 'eval.json').write_text(json.dumps({
      'epochs': 3, 'elapsed_s': elapsed,
      'val': {'acc_goodness': val_g, 'acc_linear': val_l, 'num_examples': 10},
      'test': {'acc_goodness': test_g, 'num_examples': 10}}))


def test_summary_statistics_hand_checked(tmp_path):
  _fake_run(tmp_path / 'a' / 'seed0', 0.90, 0.80, 0.91, 60.)
  _fake_run(tmp_path / 'a' / 'seed1', 0.94, 0.80, 0.93, 180.)
  _fake_run(tmp_path / 'a' / 'seed2', 0.95, 0.83, 0.95, 120.)
  _fake_run(tmp_path / 'b' / 'seed0', 0.50, 0.60, 0.55, 30.)
  rows = {r['setting']: r for r in summarize.table(summarize.collect(tmp_path))}
  a = rows['a']
  assert a['seeds'] == 3
  # mean(90, 94, 95) = 93; sample std = sqrt((9 + 1 + 4) / 2) = sqrt(7)
  assert a['val goodness'][0] == pytest.approx(93.)
  assert a['val goodness'][1] == pytest.approx(7 ** 0.5)
  assert a['val linear'] == pytest.approx((81., 3 ** 0.5))  # 80, 80, 83: var (1+1+4)/2 = 3
  assert a['test goodness'] == pytest.approx((93., 2.))
  assert a['wall min'] == pytest.approx(2.)
  assert rows['b']['val goodness'] == pytest.approx((50., 0.))
  summarize.main(['summarize', str(tmp_path)])
  md = (tmp_path / 'summary.md').read_text()
  assert '93.00 ± 2.65' in md
  assert 'val goodness mean' in (tmp_path / 'summary.csv').read_text()


@pytest.mark.slow
def test_launch_runs_then_skips_finished(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  p = _write_sweep(tmp_path, grid={'width': [4]}, seeds=[0],
                   flags=['--config.train.num_epochs=1', '--config.data.train_limit=200',
                          '--config.data.eval_limit=100', '--config.train.eval_batch_size=100'])
  env = dict(os.environ, PYTHON=sys.executable, FFJAX_DATA_DIR=real_data_dir())
  r = subprocess.run(['bash', 'launch.sh', str(p)], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=300)
  assert r.returncode == 0, r.stdout + r.stderr
  assert 'finished' in r.stdout
  wd = tmp_path / 'sw' / 'width4' / 'seed0'
  assert (wd / 'eval.json').exists() and 'final test' in (wd / 'log.txt').read_text()
  r = subprocess.run(['bash', 'launch.sh', str(p)], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=300)
  assert r.returncode == 0 and 'done, skipped' in r.stdout
  r = subprocess.run(['bash', 'launch.sh', str(p), '--list'], cwd=REPO, env=env,
                     capture_output=True, text=True, timeout=300)
  assert r.stdout.split('\t')[1] == 'done'


def test_curve_table_rows(tmp_path):
  from experiments import curve
  from ffjax import metrics
  w = metrics.Writer(tmp_path)
  w.write(10, {'epoch': 1, 'train/acc_head': 0.5, 'train/loss': 1.})
  w.write(10, {'epoch': 1, 'val/acc_goodness': 0.5, 'val/acc_linear': 0.75, 'elapsed_s': 60.})
  w.write(20, {'epoch': 2, 'val/acc_goodness': 0.875, 'val/acc_linear': 0.9, 'elapsed_s': 150.})
  w.close()
  head, body = curve.rows(tmp_path)
  assert head == ['epoch', 'minutes', 'val/acc_goodness', 'val/acc_linear']
  assert body == [['1', '1.0', '50.00', '75.00'], ['2', '2.5', '87.50', '90.00']]
