"""Locality, the heart of Forward-Forward: unit k's loss moves unit k's parameters only."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from conftest import load_config
from ffjax import labels, network, predict, train


def _setup(name='mnist', arg='tiny', **over):
  c = load_config(name, arg)
  for k, v in over.items():
    c[k.split('.')[0]][k.split('.')[1]] = v
  shape = (28, 28, 1)
  net = network.build(c, shape, 10, nnx.Rngs(0))
  enc = labels.make_encoder(c.labels, 10, 28, 28)
  graphdef, params = nnx.split(net)
  x = jax.random.uniform(jax.random.key(1), (6,) + shape)
  y = jnp.arange(6) % 10
  trained = train.trained_units(c, len(net.units))
  return c, enc, graphdef, params, x, y, trained


def _unit_of(path):
  """'u0', 'u1', ... or 'head' for a parameter path of the Network."""
  return 'head' if path[0].key == 'head' else f'u{path[1].key}'


def _grads_by_owner(grads):
  out = {}
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    out.setdefault(_unit_of(path), []).append(np.asarray(g))
  return out


@pytest.mark.parametrize('name', ['mnist', 'mnist_mlp'])
def test_unit_loss_has_zero_gradient_for_every_other_unit(name):
  c, enc, graphdef, params, x, y, trained = _setup(name)
  key = jax.random.key(2)
  peer = [jnp.full((1,), 0.5)] * 3 if c.objective.peer_weight else []
  if c.objective.peer_weight:
    _, hs = network.forward(nnx.merge(graphdef, params), x)
    peer = [jnp.full((h.reshape(6, -1).shape[1],), 0.5) for h in hs]

  def metric(p, name):
    return train.ff_loss_fn(c, enc, graphdef, trained, p, peer, x, y, key)[1][0][name]

  for k in range(3):
    g = _grads_by_owner(jax.grad(lambda p: metric(p, f'loss_u{k + 1}'))(params))
    for owner, gs in g.items():
      if owner == f'u{k}' and k in trained:
        assert any(np.abs(a).max() > 0 for a in gs), f'unit {k} gets no gradient from its own loss'
      elif owner != f'u{k}':
        assert all(np.all(a == 0) for a in gs), f'loss of unit {k} leaks into {owner}'
  g = _grads_by_owner(jax.grad(lambda p: metric(p, 'loss_head'))(params))
  assert all(np.all(a == 0) for o, gs in g.items() if o != 'head' for a in gs)


def test_backprop_mode_is_not_local():
  c, enc, graphdef, params, x, y, trained = _setup('mnist', 'tiny,method=bp')
  loss = lambda p: train.bp_loss_fn(c, enc, graphdef, trained, p, [], x, y, None)[0]
  g = _grads_by_owner(jax.grad(loss)(params))
  assert all(np.abs(a).max() > 0 for a in g['u0'] + g['u1'])  # the same forward, end to end


def test_summed_loss_step_equals_per_unit_steps():
  c, enc, graphdef, params, x, y, trained = _setup('mnist', 'tiny', **{'objective.train_first_unit': True})
  key = jax.random.key(3)
  fn = lambda p: train.ff_loss_fn(c, enc, graphdef, trained, p, [], x, y, key)
  tx = optax.adam(1e-2)
  # One step on the summed loss.
  g_sum = jax.grad(lambda p: fn(p)[0])(params)
  upd, _ = tx.update(g_sum, tx.init(params), params)
  fused = optax.apply_updates(params, upd)
  # Each unit stepped with the gradient of its own loss only, the head with its own.
  per = params
  for name in ['loss_u1', 'loss_u2', 'loss_u3', 'loss_head']:
    g = jax.grad(lambda p: fn(p)[1][0][name])(params)
    upd, _ = tx.update(g, tx.init(params), params)
    moved = optax.apply_updates(params, upd)
    owner = 'head' if name == 'loss_head' else f'u{int(name[-1]) - 1}'
    per = jax.tree_util.tree_map_with_path(
        lambda path, a, b: b if _unit_of(path) == owner else a, per, moved)
  for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(per)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert any(np.abs(a - b).max() > 0 for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(params)))


def test_excluded_first_unit_keeps_its_random_weights():
  c, enc, graphdef, params, x, y, trained = _setup('mnist', 'tiny')
  assert trained == (1, 2)
  g = jax.grad(lambda p: train.ff_loss_fn(c, enc, graphdef, trained, p, [], x, y, jax.random.key(0))[0])(params)
  assert all(np.all(a == 0) for a in _grads_by_owner(g)['u0'])


def test_goodness_inference_vmap_equals_per_label_loop():
  c, enc, graphdef, params, x, y, trained = _setup('mnist', 'tiny')
  net = nnx.merge(graphdef, params)
  a = predict.goodness_scores(net, enc, x, net.head_units)
  b = predict.goodness_scores_loop(net, enc, x, net.head_units)
  assert a.shape == (6, 10)
  np.testing.assert_allclose(a, b, rtol=1e-5)
