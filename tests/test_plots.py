import subprocess
import sys

import pytest

from conftest import REPO, load_config, real_data_dir
from ffjax import train

pytest.importorskip('matplotlib')


@pytest.mark.slow
def test_every_figure_of_a_run_is_a_nonempty_png(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('mnist', 'tiny')
  c.data.dir, c.data.train_limit, c.data.eval_limit = real_data_dir(), 300, 100
  c.train.eval_batch_size, c.train.log_every_steps = 100, 2
  c.plots = True  # the end of the run draws them
  train.train_and_evaluate(c, tmp_path)
  names = {'curves.png', 'accuracy.png', 'confusion.png', 'labels.png', 'cams.png'}
  for n in names:
    p = tmp_path / n
    assert p.exists() and p.stat().st_size > 5000, n
    assert p.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    p.unlink()
  # ... and the command draws them for any run directory.
  r = subprocess.run([sys.executable, '-m', 'experiments.plot', str(tmp_path)], cwd=REPO,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  assert {p.name for p in tmp_path.glob('*.png')} == names


@pytest.mark.slow
def test_an_asge_run_draws_its_figures(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('asge_mnist', 'tiny')
  c.data.dir, c.data.train_limit, c.data.eval_limit = real_data_dir(), 300, 100
  c.train.eval_batch_size, c.train.log_every_steps, c.train.num_epochs = 100, 2, 2
  c.plots = True
  train.train_and_evaluate(c, tmp_path)
  for n in ('curves.png', 'accuracy.png', 'confusion.png', 'cams.png'):
    p = tmp_path / n
    assert p.exists() and p.stat().st_size > 5000, n
  assert not (tmp_path / 'labels.png').exists()  # ASGE puts no label in the image
