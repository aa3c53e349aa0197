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
  names = {'curves.png', 'accuracy.png', 'confusion.png', 'labels.png', 'goodness.png', 'cams.png'}
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


# What a figure says, read from its axes (no training: an initialized net is enough).


def test_confusion_labels_every_class_and_names_its_split():
  import numpy as np
  from ffjax import plots
  y = np.arange(100) % 10
  fig = plots.confusion_matrices(y, {'goodness': (y + (y == 3)) % 10, 'linear': y}, 10, split='val')
  for ax in fig.axes:
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(10)]
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(k) for k in range(10)]
  assert [ax.get_title() for ax in fig.axes] == ['goodness on val (100 images): 90.00%',
                                                 'linear on val (100 images): 100.00%']
  y = np.arange(200) % 100  # 100 classes: every 5th labelled, not a smear of 100 numbers
  ax = plots.confusion_matrices(y, {'linear': y}, 100).axes[0]
  assert [t.get_text() for t in ax.get_xticklabels()][:3] == ['0', '5', '10']


def _tiny_ff():
  import jax
  from flax import nnx
  from ffjax import method as method_lib
  net, method = method_lib.build(load_config('mnist', 'tiny'), (28, 28, 1), 10, nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(1), (3, 28, 28, 1))
  return net, method, x


def test_cams_have_colour_bars_and_say_which_label():
  import numpy as np
  from ffjax import plots
  net, method, x = _tiny_ff()
  y, pred = np.array([1, 2, 3]), np.array([1, 5, 3])
  fig = plots.cam_figure(net, method, x, y, pred, predictor='linear')
  maps = [ax for ax in fig.axes if ax.get_title().startswith('unit ')]
  bars = [ax for ax in fig.axes if ax.get_label() == '<colorbar>']
  assert len(maps) == len(bars) == 3 * len(method.readout_units)
  assert [ax.get_title() for ax in maps[:2]] == ['unit 2: map of label 1', 'unit 3: map of label 1']
  for bar in bars:  # symmetric about 0: red for, blue against
    lo, zero, hi = (t.get_text() for t in bar.get_yticklabels())
    assert zero == '0' and lo == '-' + hi and float(hi) > 0
  assert 'red is evidence for it, blue against it' in fig._suptitle.get_text()
  assert 'linear' in fig._suptitle.get_text()


def test_curves_mark_a_unit_that_is_not_trained():
  from ffjax import plots
  recs = [{'step': s, 'train/loss': 1., **{f'train/loss_u{u}': 10. ** (3 if u == 1 else -s / 10)
                                          for u in (1, 2, 3)},
           **{f'train/disc_acc_u{u}': .5 if u == 1 else .5 + s / 100 for u in (1, 2, 3)}}
          for s in (10, 20)]
  net, method, _ = _tiny_ff()
  assert plots.untrained_units(method) == {'u1'}  # the FF-CNN's first unit: measured only
  fig = plots.training_curves(recs, untrained=plots.untrained_units(method))
  loss_ax, acc_ax = fig.axes
  assert [l.get_label() for l in loss_ax.get_lines()] == ['train u2', 'train u3']
  assert [l.get_label() for l in acc_ax.get_lines()] == ['u1 (not trained)', 'train u2', 'train u3']


def test_goodness_per_label_shows_the_winner_and_its_margin():
  import numpy as np
  from ffjax import plots, predict
  net, method, x = _tiny_ff()
  y = np.array([0, 1, 2])
  fig = plots.goodness_per_label(net, method, x, y)
  g = np.asarray(predict.goodness_scores(net, method.encoder, x, method.goodness_units,
                                         method.goodness_per_theta))
  bars = fig.axes[3:]
  for i, ax in enumerate(bars):
    np.testing.assert_allclose([p.get_height() for p in ax.patches], g[i], rtol=1e-6)
    win = int(np.argmax(g[i]))
    assert ax.get_title().startswith(f'wins: {win} ({"right" if win == y[i] else "wrong"}) by ')


def _records_run(path):
  """A run directory with records and predictions only (what record_plots reads)."""
  import json

  import numpy as np
  recs = [{'step': s, 'train/loss': 1., **{f'train/loss_u{u}': 2. / s for u in (1, 2)},
           **{f'train/disc_acc_u{u}': .5 + s / 100 for u in (1, 2)}} for s in (10, 20)]
  recs += [{'step': 20 * e, 'epoch': e, 'val/acc_linear': .5 + e / 10} for e in (1, 2)]
  (path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in recs))
  y = np.arange(50) % 10
  np.savez(path / 'predictions_test.npz', y=y, pred_linear=y, pred_u1=(y + 1) % 10)
  return {'curves.png', 'accuracy.png', 'confusion.png'}


def test_the_records_figures_are_drawn_by_another_process(tmp_path, monkeypatch):
  import json

  from ffjax import plots, record_plots
  names = _records_run(tmp_path)
  # plot_run's helper process: the command it runs, with what plot_run gives it.
  spec = json.dumps({'workdir': str(tmp_path), 'split': 'test', 'num_classes': 10,
                     'untrained': ['u1']})
  r = subprocess.run([sys.executable, '-m', 'ffjax.record_plots', spec], cwd=tmp_path,
                     capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, r.stderr[-2000:]
  assert {p.rsplit('/', 1)[-1] for p in json.loads(r.stdout)} == names
  for n in names:
    _is_a_drawn_png(tmp_path / n)
    (tmp_path / n).unlink()
  # This process draws nothing while the other one works ...
  monkeypatch.setattr(record_plots, 'draw', lambda *a: pytest.fail('drawn here'))
  assert {p.name for p in plots._RecordPlots(tmp_path, 'test', 10, {'u1'}).result()} == names
  assert {p.name for p in tmp_path.glob('*.png')} == names
  monkeypatch.undo()
  # ... and draws them itself where that process fails.
  for n in names:
    (tmp_path / n).unlink()
  monkeypatch.setattr(sys, 'executable', '/bin/false')
  assert {p.name for p in plots._RecordPlots(tmp_path, 'test', 10, {'u1'}).result()} == names
  for n in names:
    _is_a_drawn_png(tmp_path / n)
