"""Locality, the heart of Forward-Forward: unit k's loss moves unit k's parameters only."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from conftest import load_config, owners_by_unit
from ffjax import network, predict, step
from ffjax import method as method_lib


def _setup(name='mnist', arg='tiny', **over):
  c = load_config(name, arg)
  for k, v in over.items():
    c[k.split('.')[0]][k.split('.')[1]] = v
  shape = (28, 28, 1)
  net, method = method_lib.build(c, shape, 10, nnx.Rngs(0))
  graphdef, params, rest = step.split(net)
  x = jax.random.uniform(jax.random.key(1), (6,) + shape)
  y = jnp.arange(6) % 10
  obj_state = method.init_objective_state(network.unit_shapes(c, shape))
  fn = lambda p, key: step.loss_fn(p, rest, obj_state, x, y, key, method=method, graphdef=graphdef)
  return c, net, method, params, fn


def _unit_of(path):
  """'u0', 'u1', ... or 'head' for a parameter path of the Network."""
  return 'head' if path[0].key == 'head' else f'u{path[1].key}'


@pytest.mark.parametrize('name', ['mnist', 'mnist_mlp'])
def test_unit_loss_has_zero_gradient_for_every_other_unit(name):
  c = load_config(name, 'tiny')
  _, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  owners = owners_by_unit(c, (28, 28, 1), batch=6, key=jax.random.key(2))
  for k in range(3):
    # Its own parameters, nothing else (unit 1 of the FF-CNN is measured, not trained:
    # its loss is left out of the sum, test_excluded_first_unit_keeps_its_random_weights).
    assert owners[k] == {('units', k)}, (k, owners[k])
  assert owners['head'] == {('head', None)}  # the readout trains no unit


def test_backprop_mode_is_not_local():
  owners = owners_by_unit(load_config('mnist', 'tiny,method=bp'), (28, 28, 1), batch=6)
  assert {('units', 0), ('units', 1), ('units', 2), ('head', None)} <= owners['head']


def test_summed_loss_step_equals_per_unit_steps():
  c, net, method, params, fn = _setup('mnist', 'tiny', **{'objective.train_first_unit': True})
  key = jax.random.key(3)
  tx = optax.adam(1e-2)
  # One step on the summed loss.
  g_sum = jax.grad(lambda p: fn(p, key)[0])(params)
  upd, _ = tx.update(g_sum, tx.init(params), params)
  fused = optax.apply_updates(params, upd)
  # Each unit stepped with the gradient of its own loss only, the head with its own.
  per = params
  for name in ['loss_u1', 'loss_u2', 'loss_u3', 'loss_head']:
    g = jax.grad(lambda p: fn(p, key)[1][0][name])(params)
    upd, _ = tx.update(g, tx.init(params), params)
    moved = optax.apply_updates(params, upd)
    owner = 'head' if name == 'loss_head' else f'u{int(name[-1]) - 1}'
    per = jax.tree_util.tree_map_with_path(
        lambda path, a, b: b if _unit_of(path) == owner else a, per, moved)
  for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(per)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert any(np.abs(a - b).max() > 0 for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(params)))


def test_excluded_first_unit_keeps_its_random_weights():
  c, net, method, params, fn = _setup('mnist', 'tiny')
  assert method.trained == (False, True, True)
  g = jax.grad(lambda p: fn(p, jax.random.key(0))[0])(params)
  assert all(np.all(np.asarray(a) == 0) for a in jax.tree.leaves(g['units'][0]))
  assert any(np.abs(np.asarray(a)).max() > 0 for a in jax.tree.leaves(g['units'][1]))


def test_goodness_inference_vmap_equals_per_label_loop():
  c, net, method, params, fn = _setup('mnist', 'tiny')
  x = jax.random.uniform(jax.random.key(1), (6, 28, 28, 1))
  a = predict.goodness_scores(net, method.encoder, x, method.goodness_units)
  b = predict.goodness_scores_loop(net, method.encoder, x, method.goodness_units)
  assert a.shape == (6, 10) and method.goodness_units == (1, 2)
  np.testing.assert_allclose(a, b, rtol=1e-5)
