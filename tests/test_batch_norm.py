"""Batch norm in the units: running statistics move in training and are not trained,
evaluation uses them, the streamed step agrees with the fused one."""
import jax
import numpy as np
import pytest

from conftest import load_config, trainer_step
from ffjax import config_args, evaluate, network


def _state_after(c, steps=2):
  rng = np.random.default_rng(0)
  b = c.train.batch_size
  x = rng.integers(0, 255, (b, 28, 28, 1), dtype=np.uint8)
  y = (np.arange(b) % 10).astype(np.int32)
  parts, state, step = trainer_step(c)
  before = jax.device_get((state['params'], state['rest']))
  for _ in range(steps):
    state, _ = step(state, x, y)
  return parts, before, jax.device_get((state['params'], state['rest'])), (x, y)


@pytest.mark.parametrize('arg', ['tiny', 'tiny,method=bp'])
def test_running_statistics_follow_the_batches(arg):
  c = load_config('asge_mnist', arg)
  c.model.batch_norm = True
  parts, before, after, (x, y) = _state_after(c, steps=1)
  # Statistics are not parameters: the optimizer never sees them.
  assert 'mean' not in str(jax.tree_util.tree_structure(before[0]))
  bn_b, bn_a = before[1]['units'][1]['bn'], after[1]['units'][1]['bn']
  # One step from mean 0 / var 1 with momentum 0.9: 0.9 * old + 0.1 * batch statistic.
  assert np.abs(bn_a['mean'][...]).max() > 0 and np.allclose(bn_b['mean'][...], 0.)
  # The batch statistic of unit 1's conv output, by hand.
  from flax import nnx
  net = nnx.merge(parts.graphdef, *jax.device_put(before))
  h = network.network_input(net, parts.preprocess.to_float(x))
  z = net.units[0].conv(h)
  np.testing.assert_allclose(after[1]['units'][0]['bn']['mean'][...], 0.1 * np.mean(z, axis=(0, 1, 2)),
                             rtol=1e-4, atol=1e-6)
  # Scale and bias are trained (they moved).
  assert np.abs(after[0]['units'][1]['bn']['scale'][...] -
                before[0]['units'][1]['bn']['scale'][...]).max() > 0


def test_evaluation_uses_running_averages_not_the_batch():
  c = load_config('asge_mnist', 'tiny')
  c.model.batch_norm = True
  parts, _, (params, rest), (x, y) = _state_after(c)
  ev = jax.jit(evaluate.make_batch_fn(parts.method, parts.graphdef, parts.preprocess))
  # In evaluation an example's prediction does not depend on the rest of the batch.
  full = ev(params, rest, x, y)['pred_u2']
  half = ev(params, rest, np.concatenate([x[:25], x[:25]]), np.concatenate([y[:25], y[:25]]))['pred_u2']
  np.testing.assert_array_equal(np.asarray(full)[:25], np.asarray(half)[:25])


def test_streamed_equals_fused_with_batch_norm():
  c = load_config('asge_mnist', 'tiny')
  c.model.batch_norm = True
  _, _, fused, _ = _state_after(c)
  c.train.schedule = 'streamed'
  _, _, streamed, _ = _state_after(c)
  for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(streamed)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-6)


def test_threshold_objective_refuses_batch_norm():
  c = load_config('mnist', 'tiny')
  c.model.batch_norm = True
  with pytest.raises(config_args.ConfigError, match='batch_norm'):
    config_args.validate(c)
