"""ASGE (objective.kind='spatial'): spatial goodness, the adaptive grid, RMS pooling,
locality of units and their heads, the three prediction strategies, a tiny run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, owners_by_unit, real_data_dir, trainer_step
from ffjax import evaluate, pooling, predict, registry, train, units
from ffjax import goodness as gd
from ffjax import method as method_lib

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


def test_spatial_goodness_on_hand_computed_maps():
  # One example, 4 x 4 map, 2 channels; grid 2 -> 4 patches x 2 channels.
  y = np.zeros((1, 4, 4, 2), np.float32)
  y[0, :2, :2, 0] = 1.    # top-left patch of channel 0: mean of 1^2 = 1
  y[0, 2:, 2:, 0] = 2.    # bottom-right: mean of 4 = 4
  y[0, 0, 3, 1] = 2.      # one pixel of 4 in the top-right patch of channel 1: 4 / 4 = 1
  g = np.asarray(gd.spatial_goodness(jnp.asarray(y), 2)).reshape(2, 2, 2)  # p, q, c
  want = np.zeros((2, 2, 2))
  want[0, 0, 0], want[1, 1, 0], want[0, 1, 1] = 1., 4., 1.
  np.testing.assert_allclose(g, want, atol=1e-6)
  # 5 pixels into 2 patches: rows 0-1 and 2-4 (floor(p * 5 / 2)).
  y5 = np.zeros((1, 5, 5, 1), np.float32)
  y5[0, 4, 4, 0] = 3.
  g5 = np.asarray(gd.spatial_goodness(jnp.asarray(y5), 2)).reshape(2, 2)
  np.testing.assert_allclose(g5, [[0, 0], [0, 9. / 9.]], atol=1e-6)
  # Grid 1 is the plain goodness divided by the number of pixels.
  r = np.random.default_rng(0).normal(size=(3, 6, 6, 4)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(gd.spatial_goodness(jnp.asarray(r), 1)),
                             (r ** 2).mean(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize('channels,size,alpha,want', [
    (64, 8, 1., 2), (16, 8, 1., 4), (32, 8, 1., 3), (128, 8, 1., 1), (8, 8, 1., 6),
    (4, 3, 1., 3),     # clipped to the map's size
    (16, 8, 0., 2),    # alpha 0: every unit the same grid
    (16, 16, 2., 8)])  # alpha 2: grid grows like C_max / C
def test_adaptive_grid(channels, size, alpha, want):
  assert gd.adaptive_grid(channels, 64, size, grid_min=2, alpha=alpha) == want


def test_grid_keeps_the_goodness_vector_length_across_widths():
  for c in (16, 64, 256, 1024):
    p = gd.adaptive_grid(c, 1024, 64, grid_min=2, alpha=1.)
    assert c * p * p == 1024 * 4


@pytest.mark.parametrize('shape,grid', [((2, 7, 9, 3), 3), ((3, 8, 8, 2), 2), ((2, 5, 6, 4), 5),
                                        ((2, 6, 6, 1), 1)])
def test_patch_means_are_the_patch_matrix_products_gradients_included(shape, grid):
  # Unequal patches (7 rows in 3), a grid as fine as the map, one patch.
  x = jax.random.normal(jax.random.key(sum(shape)), shape)
  g = jax.random.normal(jax.random.key(grid), (shape[0], grid, grid, shape[3]))
  ref = lambda x: jnp.einsum('ph,qw,bhwc->bpqc', gd.patch_matrix(shape[1], grid),  # noqa: E731
                             gd.patch_matrix(shape[2], grid), x)
  np.testing.assert_allclose(gd.patch_means(x, grid), ref(x), rtol=1e-6, atol=1e-6)
  d = jax.grad(lambda x: jnp.sum(gd.patch_means(x, grid) * g))(x)
  np.testing.assert_allclose(d, jax.grad(lambda x: jnp.sum(ref(x) * g))(x), rtol=1e-6, atol=1e-6)
  xb = x.astype(jnp.bfloat16)  # summed in float32, returned in bfloat16
  assert gd.patch_means(xb, grid).dtype == jnp.bfloat16


def test_rms_pool_keeps_spatial_goodness_on_aligned_grids():
  y = jnp.abs(jax.random.normal(jax.random.key(0), (2, 8, 8, 3)))
  pooled = pooling.rms_pool(y, 2)
  np.testing.assert_allclose(pooled[0, 0, 0, 0], jnp.sqrt(jnp.mean(y[0, :2, :2, 0] ** 2)), rtol=1e-5)
  for grid in (1, 2, 4):
    np.testing.assert_allclose(gd.spatial_goodness(pooled, grid),
                               gd.spatial_goodness(y, grid), rtol=1e-5)


def test_channel_norm_normalizes_every_position():
  h = units.channel_norm(jax.random.normal(jax.random.key(1), (2, 5, 5, 16)) * 3 + 1)
  np.testing.assert_allclose(h.mean(-1), 0., atol=1e-5)
  np.testing.assert_allclose(h.std(-1), 1., atol=1e-3)


def test_unit_and_its_head_learn_from_their_own_loss_only():
  c = load_config('asge_mnist', 'tiny')
  net, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  n = len(net.units)
  assert [h.grid for h in net.aux] == list(method_lib.grids(c, (28, 28, 1)))
  assert method.trained == (True,) * n  # ASGE trains every unit
  owners = owners_by_unit(c, (28, 28, 1), batch=6)
  for l in range(n):
    assert owners[l] == {('units', l), ('aux', l)}, (l, owners[l])


def test_fixed_projection_stays_fixed_and_the_trained_one_moves():
  for projection in ('fixed', 'trained'):
    c = load_config('asge_mnist', f'tiny,projection={projection}')
    _, state, step = trainer_step(c)
    before = jax.tree.map(np.asarray, (state['params'], state['rest']))
    x = np.random.default_rng(0).integers(0, 255, (c.train.batch_size, 28, 28, 1), dtype=np.uint8)
    yb = np.arange(c.train.batch_size, dtype=np.int32) % 10
    after, _ = step(state, x, yb)
    after = jax.tree.map(np.asarray, (after['params'], after['rest']))
    if projection == 'fixed':  # not a parameter: in the rest, never updated
      paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(before[0])]
      assert not any('fixed_proj' in p for p in paths)
      np.testing.assert_array_equal(after[1]['aux'][1]['fixed_proj'][...],
                                    before[1]['aux'][1]['fixed_proj'][...])
    else:
      assert np.abs(after[0]['aux'][1]['proj']['kernel'][...] -
                    before[0]['aux'][1]['proj']['kernel'][...]).max() > 0
    ua = after[0]['units'][1]['conv']['kernel'][...]
    assert np.abs(ua - before[0]['units'][1]['conv']['kernel'][...]).max() > 0  # units learn either way


def test_prediction_strategies_on_hand_built_logits():
  # 3 units, 2 examples, 3 classes.
  logits = jnp.array([
      [[5., 0., 0.], [0., 0., 5.]],     # unit 1: says 0, 2
      [[0., 1., 0.], [0., 1., 0.]],     # unit 2: says 1, 1 (not confident)
      [[0., 0., 1.1], [0., 0., 1.1]]])  # unit 3 (last): says 2, 2 (not confident)
  p = {k: np.asarray(v).tolist() for k, v in predict.per_unit_predictions(logits).items()}
  assert p['u1'] == [0, 2] and p['u2'] == [1, 1] and p['u3'] == [2, 2]
  assert p['last'] == [2, 2]
  assert p['fusion'] == [0, 2]  # unit 1's confident votes carry the average of probabilities
  assert predict.best_unit({'u1': 0.5, 'u2': 0.9, 'u3': 0.7}) == 'u2'
  assert predict.best_unit({'u3': 0.9, 'u1': 0.9, 'u2': 0.1}) == 'u1'  # ties: the earlier unit


def test_best_on_test_is_the_unit_chosen_on_validation():
  y = np.array([0, 1, 2, 0])
  outs = {'pred_u1': np.array([0, 1, 2, 1]), 'pred_u2': np.array([0, 1, 2, 0])}
  best = registry.get('calibration', 'per_unit')  # the per-unit predictors' calibration
  assert best.fit_on == 'val' and best.record_key == 'best_unit'
  assert best.fit(outs, y) == 'u2'  # chosen on this split
  assert best.apply(outs, 'u1')['pred_best'].tolist() == outs['pred_u1'].tolist()  # given


def test_tiny_asge_run_learns_and_reports_every_unit(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('asge_mnist', 'tiny')
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, str(tmp_path))
  val, test = rec['val'], rec['test']
  n = len(c.model.widths)
  assert all(f'acc_u{l + 1}' in val for l in range(n))
  assert val['acc_best'] == max(val[f'acc_u{l + 1}'] for l in range(n))
  assert test['best_unit'] == val['best_unit']
  assert test['acc_best'] == test[f'acc_{val["best_unit"]}']
  assert val['acc_fusion'] > 0.5 and val['acc_best'] > 0.5, val  # chance is 0.1


@pytest.mark.parametrize('name,arg', [('asge_fashion_mnist', 'tiny'), ('asge_cifar10', 'tiny'),
                                      ('asge_cifar100', 'tiny'), ('asge_mnist', 'tiny,method=bp')])
@pytest.mark.slow
def test_every_asge_config_learns_on_tiny_data(name, arg, tmp_path):
  from conftest import make_cifar100_dir
  from ffjax import metrics
  c = load_config(name, arg)
  if name == 'asge_cifar100':
    c.data.dir = str(make_cifar100_dir(tmp_path / 'data', n_train=1500, n_test=300))
    c.data.num_val, c.data.train_limit = 300, 0
  elif real_data_dir() is None:
    pytest.skip('real data not here')
  else:
    c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, str(tmp_path / 'run'))
  losses = [r['train/loss'] for r in metrics.read(tmp_path / 'run') if 'train/loss' in r]
  assert losses[-1] < losses[0], losses
  chance = 1. / (100 if name == 'asge_cifar100' else 10)
  acc = rec['val']['acc_linear' if c.method == 'bp' else 'acc_best']
  assert acc > 2 * chance, rec['val']
