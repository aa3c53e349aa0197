"""Recipes and options of the reproduction (issue "reproduce"): ASGE's published recipe
piece by piece, and the FF-CNN's label and layer options."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, owners_by_unit, real_data_dir, trainer_step
from ffjax import config_args, labels, network, optim, predict, units
from ffjax.data import augment
from ffjax import goodness as gd
from ffjax import method as method_lib


# ----------------------------------------------------------------------------- ASGE's code


def test_official_recipe_architecture_and_grids():
  c = load_config('asge_mnist', 'recipe=official')
  config_args.validate(c)
  assert c.model.widths == (128, 256, 256, 512, 512, 512, 512)  # VGG8
  assert load_config('asge_cifar10', 'recipe=official').model.widths[-3:] == (512, 512, 512)  # VGG11
  # P = 512 / channels, on the map before the pool (MNIST resized to 32).
  assert method_lib.grids(c, (32, 32, 1)) == (4, 2, 2, 1, 1, 1, 1)
  shapes = network.unit_shapes(c, (32, 32, 1), activations=True)
  assert shapes[1] == (32, 32, 256) and network.unit_shapes(c, (32, 32, 1))[1] == (16, 16, 256)
  assert (c.data.resize, c.data.normalize, c.model.input_norm, c.model.norm) == (32, 'none', 'rms', 'rms')
  assert (c.optim.name, c.optim.lr, c.optim.lr_min, c.optim.weight_decay) == ('adamw', 2e-4, 1e-5, 1e-3)
  assert (c.train.batch_size, c.train.num_epochs, c.train.test_at_best_val) == (128, 100, 'linear')
  assert load_config('asge_cifar10', 'recipe=official').data.augment == 'crop_flip_jitter'
  assert load_config('asge_fashion_mnist', 'recipe=official').data.augment == 'flip'


def test_goodness_is_read_before_the_pool_and_dropout_only_in_training():
  u = units.ConvUnit(3, 8, 3, pool=2, pool_kind='avg', norm='rms', goodness_at='pre_pool',
                     dropout=0.5, init='kaiming', rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  a, h = u(x)
  relu = jax.nn.relu(u.conv(x))
  np.testing.assert_allclose(a, relu, rtol=1e-6)  # the loss reads the map before the pool
  pooled = nnx.avg_pool(relu, (2, 2), strides=(2, 2))
  np.testing.assert_allclose(h, units.rms_norm(pooled), rtol=1e-5)  # no key: no dropout
  _, h_drop = u(x, key=jax.random.key(1))
  zero = float(jnp.mean(h_drop == 0.)) - float(jnp.mean(h == 0.))
  assert 0.3 < zero < 0.7  # about half dropped in training
  # He initialization: variance 2 / fan_in (27 inputs).
  big = units.ConvUnit(64, 256, 3, init='kaiming', rngs=nnx.Rngs(0))
  assert float(jnp.var(big.conv.kernel[...])) == pytest.approx(2 / (9 * 64), rel=0.05)


@pytest.fixture(scope='module')
def official_steps():
  """{dropout rate: (variables before, after one step)} of the official recipe's tiny VGG8
  on one batch of 16 (0.1 is the recipe's rate): the step compiled once per rate, shared."""
  x = np.random.RandomState(0).randint(0, 255, (16, 28, 28, 1)).astype(np.uint8)
  y = np.arange(16) % 10
  out = {}
  for rate in (0., 0.1):
    c = load_config('asge_mnist', 'tiny,recipe=official')
    c.model.dropout, c.train.batch_size = rate, 16
    _, state, step_fn = trainer_step(c, (32, 32, 1))
    before = jax.tree.map(np.asarray, jax.device_get({k: state[k] for k in ('params', 'rest')}))
    state, _ = step_fn(state, x, y)
    out[rate] = before, jax.tree.map(np.asarray, jax.device_get({k: state[k] for k in ('params', 'rest')}))
  return out, c, (x, y)


def test_the_fixed_projection_and_bias_are_not_trained(official_steps):
  steps, c, _ = official_steps
  before, after = steps[0.1]
  head, head0 = after['rest']['aux'][0], before['rest']['aux'][0]
  np.testing.assert_array_equal(head['fixed_proj'][...], head0['fixed_proj'][...])
  np.testing.assert_array_equal(head['fixed_bias'][...], head0['fixed_bias'][...])
  assert float(np.std(head0['fixed_bias'][...]) * np.sqrt(10)) == pytest.approx(1., abs=0.6)
  # ... while the unit under the head moved (the step did train).
  assert not np.array_equal(after['params']['units'][0]['conv']['kernel'][...],
                            before['params']['units'][0]['conv']['kernel'][...])
  # The units learn from their own losses only; the summed heads teach no unit.
  owners = owners_by_unit(c, (32, 32, 1), units=(2, 'head'))
  assert owners[2] == {('units', 2)} and owners['head'] == {('head', None)}


def test_the_prediction_sums_one_linear_map_per_unit_on_pooled_outputs():
  c = load_config('asge_mnist', 'tiny,recipe=official')
  net, method = method_lib.build(c, (32, 32, 1), 10, nnx.Rngs(0))
  assert method.readout.units == tuple(range(1, 7)) and method.readout.pooled
  assert [m.in_features for m in net.head.maps] == [32, 32, 64, 64, 64, 64]  # VGG8 / 8
  assert 'linear' in method.predictors
  x = jax.random.uniform(jax.random.key(2), (3, 32, 32, 1))
  got = predict.linear_logits(net, method.encoder, x, method.readout)
  _, hs = network.forward(net, x)
  want = sum(net.head.maps[i](jnp.mean(hs[l], axis=(1, 2))) for i, l in enumerate(range(1, 7)))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_adamw_with_a_cosine_per_epoch():
  c = load_config('asge_mnist', 'recipe=official')
  shape = optim.schedule_shape('cosine_epochs', 100 * 10, 10, 1e-5 / 2e-4)
  lr = lambda step: 2e-4 * float(shape(step))
  assert lr(0) == pytest.approx(2e-4) and lr(9) == lr(0)  # constant within an epoch
  assert lr(500) == pytest.approx(1e-5 + (2e-4 - 1e-5) * 0.5, rel=1e-5)  # epoch 50 of 100
  assert lr(990) == pytest.approx(1e-5 + (2e-4 - 1e-5) * 0.5 * (1 + np.cos(np.pi * 0.99)), rel=1e-4)
  # AdamW: the decay is decoupled (not put through Adam's normalization).
  tx, _ = optim.make_optimizer(c.optim, num_units=1, total_steps=1000, steps_per_epoch=10)
  p = {'units': [{'w': jnp.full((3,), 2.)}]}
  upd, _ = tx.update({'units': [{'w': jnp.zeros(3)}]}, tx.init(p), p)
  np.testing.assert_allclose(upd['units'][0]['w'], -2e-4 * 1e-3 * 2., rtol=1e-5)


def test_cifar_jitter_keeps_images_in_range_and_greys_some():
  x = jax.random.uniform(jax.random.key(0), (256, 8, 8, 3))
  y = augment.crop_flip_jitter(jax.random.key(1), x, 2)
  assert float(y.min()) >= 0. and float(y.max()) <= 1.
  grey = jnp.all(jnp.abs(y[..., 0] - y[..., 1]) < 1e-6, axis=(1, 2)) & jnp.all(
      jnp.abs(y[..., 1] - y[..., 2]) < 1e-6, axis=(1, 2))
  assert 0.1 < float(jnp.mean(grey)) < 0.3  # p = 0.2
  np.testing.assert_array_equal(augment.crop_flip_jitter(jax.random.key(1), x, 2), y)


def test_tiny_official_run_learns_and_reports_the_test_at_best_validation(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  from ffjax import metrics, train
  c = load_config('asge_mnist', 'tiny,recipe=official')
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, str(tmp_path))
  best = rec['test_at_best_val']
  assert best['predictor'] == 'linear' and 1 <= best['epoch'] <= 3 and 'acc_linear' in best
  assert best['val_acc'] == max(r['val/acc_linear'] for r in metrics.read(tmp_path) if 'val/acc_linear' in r)
  # 60 steps: the units learn (chance 0.1); the summed read-out, on moving units, follows.
  assert rec['val']['acc_best'] > 0.3, rec['val']


# ----------------------------------------------------------------------------- FF-CNN options


def test_diagonal_waves_as_single_fourier_modes():
  free = labels.fourier_patterns(10, 28, 28, 1, (2., 4., 6.))
  mode = labels.fourier_patterns(10, 28, 28, 1, (2., 4., 6.), diagonal='mode')
  np.testing.assert_array_equal(free[[0, 2, 4, 6, 8]], mode[[0, 2, 4, 6, 8]])  # 0 and 90 degrees
  for k in (1, 3, 5, 7, 9):  # 45 and 135 degrees: periodic on the image, one 2-D mode
    f = np.abs(np.fft.fft2(mode[k]))
    assert np.sum(f > 1e-3 * f.max()) == 2, k  # +- one frequency: a single real mode
    g = np.abs(np.fft.fft2(free[k]))
    assert np.sum(g > 1e-3 * g.max()) > 2  # the free wave leaks over many


def test_a_wave_in_zero_one_and_the_conv_norm_act_order():
  pm = labels.fourier_patterns(10, 28, 28, wave_range='pm1')
  zo = labels.fourier_patterns(10, 28, 28, wave_range='01')
  np.testing.assert_allclose(zo, (pm + 1) / 2, atol=1e-6)
  assert zo.min() >= 0 and pm.min() < -0.9
  u = units.ConvUnit(1, 4, 3, norm='layer', order='conv_norm_act', rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 1))
  a, h = u(x)
  np.testing.assert_allclose(a, jax.nn.relu(units.layer_norm(u.conv(x))), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(a, h)  # passed on as it is


def test_goodness_divided_by_theta():
  c = load_config('mnist', 'tiny')
  c.predict.goodness_scale = 'theta'
  net, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  assert method.goodness_per_theta
  x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1))
  got = predict.goodness_scores(net, method.encoder, x, (1, 2), per_theta=True)
  acts, _ = network.forward(net, method.encoder.embed(x, jnp.full((4,), 3)))
  want = sum(gd.goodness(acts[l]) / gd.num_neurons(acts[l]) for l in (1, 2))
  np.testing.assert_allclose(got[:, 3], want, rtol=1e-5)


# ----------------------------------------------------------------------------- the table's rows


def test_every_row_of_the_reproduction_table_is_a_valid_config():
  from experiments import reproduce
  from ffjax import config_args
  for row in reproduce.ROWS:
    path, _, arg = row.spec.partition(':')
    name = path.split('/')[-1][:-3]
    for a in (arg, (arg + ',' if arg else '') + 'tiny'):
      c = load_config(name, a or None)
      config_args.validate(c)
    first = row.metric.split('/')[0]
    assert first in ('val', 'test', 'test_at_best_val', 'probe'), row.id
    if first == 'probe':  # the number of a probe phase after training (eval.json's probe)
      assert load_config(name, arg or None).probe.epochs > 0, row.id


@pytest.mark.slow
@pytest.mark.parametrize('row_id', ['ffcnn_best', 'ffcnn_pool_32_64_128', 'asge_mnist_official',
                                    'asge_mnist_ours', 'cwcomp_mnist', 'ffcnn_bp'])
def test_a_row_runs_in_its_tiny_form_through_the_driver(row_id, tmp_path):
  # One row per recipe (the others differ by arguments or dataset only, and every row's
  # config is validated above; the ASGE CIFAR-10 and ResNet configs learn in test_asge.py
  # and test_resnet.py: their driver rows cost two minutes of CI for nothing new).
  if real_data_dir() is None:
    pytest.skip('real data not here')
  from experiments import reproduce
  import os
  os.environ.setdefault('FFJAX_DATA_DIR', real_data_dir())
  row = reproduce.BY_ID[row_id]
  res = reproduce.run_row(row, tmp_path, budget_s=300, smoke=True)
  assert res is not None and res['value'] is not None
  # The row's number is the run's own record of the row's metric, not another one.
  rec = json.loads((tmp_path / f'{row_id}_smoke' / 'eval.json').read_text())
  for part in row.metric.split('/'):
    rec = rec[part]
  assert res['value'] == rec, (row.metric, res['value'], rec)
  assert res['provenance']['commit'] and (tmp_path / f'{row_id}_smoke' / 'result.json').exists()


@pytest.mark.slow
def test_the_driver_continues_a_stopped_row_and_averages_a_population(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  from experiments import reproduce
  import os
  os.environ.setdefault('FFJAX_DATA_DIR', real_data_dir())
  row = reproduce.BY_ID['asge_mnist_ours']
  # A budget too short to finish: SIGTERM, no result, and the same call continues it.
  assert reproduce.run_row(row, tmp_path, budget_s=2, smoke=True, seeds=2) is None
  res = reproduce.run_row(row, tmp_path, budget_s=300, smoke=True, seeds=2)
  assert res['seeds'] == 2 and len(res['values']) == 2 and all(0. <= v <= 1. for v in res['values'])
  assert len(list((tmp_path / 'asge_mnist_ours_smoke_seeds2').rglob('seed*/eval.json'))) == 2
  assert res['value'] == pytest.approx(np.mean(res['values'])) and res['std'] is not None
  # Every predictor's number is the seeds' mean too, not the first seed's.
  members = [json.loads(e.read_text()) for e in
             sorted((tmp_path / 'asge_mnist_ours_smoke_seeds2').rglob('seed*/eval.json'))]
  assert members[0]['val'] != members[1]['val']  # so the first seed's alone would fail below
  for split in ('val', 'test'):
    assert set(res[split]) == {k for k in members[0][split] if k.startswith('acc_')} != set()
    for k, v in res[split].items():
      assert v == pytest.approx(np.mean([m[split][k] for m in members]))
  assert 'seeds=2' in res['command'] and res['command'].count('tiny') == 1


def test_a_result_brought_back_goes_into_the_table(tmp_path, monkeypatch):
  from experiments import reproduce
  monkeypatch.setattr(reproduce, 'RESULTS', tmp_path / 'reproduction.json')
  doc = tmp_path / 'REPRODUCTION.md'
  doc.write_text(f'before\n{reproduce.TABLE_START}\nold table\n{reproduce.TABLE_END}\nafter\n')
  monkeypatch.setattr(reproduce, 'DOC', doc)
  res = {'row': 'cwcomp_mnist', 'value': 0.9931, 'std': 0.0004, 'seeds': 3, 'smoke': False,
         'epochs': 20, 'minutes': 1.5, 'metric': 'test/acc_last',
         'provenance': {'devices': '1 x gpu:NVIDIA H200', 'time': '2026-12-01T10:00:00'}}
  (tmp_path / 'cwcomp_mnist.json').write_text(json.dumps(res))
  reproduce.add_results([str(tmp_path / 'cwcomp_mnist.json')])
  assert reproduce.write_doc() == 1
  text = doc.read_text()
  assert text.startswith('before\n') and text.endswith('after\n') and 'old table' not in text
  row = next(l for l in text.splitlines() if l.startswith('| `cwcomp_mnist`'))
  assert '99.31 +- 0.04 over 3 seeds' in row and 'H200' in row and '2026-12-01' in row
  assert sum('not run yet' in l for l in text.splitlines()) == len(reproduce.ROWS) - 1
  # A smoke result is no paper number: refused, in one line.
  (tmp_path / 'smoke.json').write_text(json.dumps(dict(res, smoke=True)))
  with pytest.raises(SystemExit):
    reproduce.add_results([str(tmp_path / 'smoke.json')])


def test_dropout_acts_in_the_training_step(official_steps):
  # Dropout sits on a unit's output, after its loss has read the map: in one step it
  # changes what unit 2 and later receive, never unit 1's own gradient.
  steps, c, (x, y) = official_steps
  after = {rate: a['params']['units'] for rate, (_, a) in steps.items()}
  same = lambda l: all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(after[0.][l]),
                                                            jax.tree.leaves(after[.1][l])))
  assert same(0) and not same(1) and not same(2)
  # ... and the same seed drops the same values: the step stays reproducible.
  _, state, step_fn = trainer_step(c, (32, 32, 1))
  state, _ = step_fn(state, x, y)
  assert all(np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(jax.device_get(state['params']['units'])), jax.tree.leaves(after[.1])))
  c = c.copy_and_resolve_references()
  c.train.schedule = 'streamed'  # its step recomputes outputs without dropout: refused
  with pytest.raises(config_args.ConfigError, match='dropout'):
    config_args.validate(c)
