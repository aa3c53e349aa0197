import subprocess
import sys

import pytest

from conftest import REPO, load_config, real_data_dir
from ffjax import train

pytest.importorskip('matplotlib')


def _is_a_drawn_png(path):
  """A PNG of a figure's size with something drawn on it: many colours, not a blank."""
  import matplotlib.pyplot as plt
  import numpy as np
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', path
  img = plt.imread(path)
  assert img.shape[0] >= 300 and img.shape[1] >= 400, (path.name, img.shape)
  assert img[..., :3].std() > 0.05, path.name  # not a blank canvas
  assert len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 50, path.name  # lines, text, maps


@pytest.mark.slow
def test_every_figure_of_a_run_is_a_nonempty_png(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('mnist', 'tiny')
  c.data.dir, c.data.train_limit, c.data.eval_limit = real_data_dir(), 300, 100
  c.train.eval_batch_size, c.train.log_every_steps = 100, 2
  train.train_and_evaluate(c, tmp_path)
  assert not list(tmp_path.glob('*.png'))  # the trainer draws nothing: the command line does
  from ffjax import plots
  names = {'curves.png', 'accuracy.png', 'confusion.png', 'labels.png', 'cams.png'}
  assert {p.name for p in plots.plot_run(tmp_path, 'test')} == names
  for n in names:
    _is_a_drawn_png(tmp_path / n)
    (tmp_path / n).unlink()
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
  train.train_and_evaluate(c, tmp_path)
  from ffjax import plots
  plots.plot_run(tmp_path, 'test')
  for n in ('curves.png', 'accuracy.png', 'confusion.png', 'cams.png'):
    _is_a_drawn_png(tmp_path / n)
  assert not (tmp_path / 'labels.png').exists()  # ASGE puts no label in the image
