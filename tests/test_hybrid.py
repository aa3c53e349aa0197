"""Hybrid training (scalable FF): backprop inside blocks, no gradient across them; and
one parameter layout for the three modes of one architecture."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, real_data_dir
from ffjax import config_args, network, train


def _grad_owners(c, graphdef, params, x, y, l):
  trained = train.trained_units(c, len(c.model.widths))
  grads = jax.grad(lambda p: train.spatial_loss_fn(c, None, graphdef, trained, p, [], x, y,
                                                   None)[1][0][f'loss_u{l + 1}'])(params)
  owners = {}
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    key = (path[0].key, path[1].key if path[0].key != 'head' else None)
    owners[key] = owners.get(key, 0.) + float(jnp.abs(g).sum())
  return {k for k, v in owners.items() if v > 0}


@pytest.mark.parametrize('name', ['asge_mnist', 'class_goodness_mnist'])
def test_gradient_stays_inside_its_block(name):
  c = load_config(name, 'tiny,method=hybrid')
  config_args.validate(c)
  assert c.model.blocks == (0, 0, 1, 1, 2, 2)
  net = network.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  assert net.cuts == (True, False, True, False, True, False)
  assert net.scored == (1, 3, 5) == train.trained_units(c, 6)
  graphdef, params = nnx.split(net)
  x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1))
  y = jnp.arange(4)
  # Block 2 (units 3, 4): its loss, at unit 4, trains units 3 and 4 and unit 4's head.
  assert _grad_owners(c, graphdef, params, x, y, 3) == {('units', 2), ('units', 3), ('aux', 3)}
  assert _grad_owners(c, graphdef, params, x, y, 1) == {('units', 0), ('units', 1), ('aux', 1)}
  # Layer-wise FF on the same net: only the unit itself.
  c_ff = load_config(name, 'tiny')
  net_ff = network.build(c_ff, (28, 28, 1), 10, nnx.Rngs(0))
  gd_ff, p_ff = nnx.split(net_ff)
  assert _grad_owners(c_ff, gd_ff, p_ff, x, y, 3) == {('units', 3), ('aux', 3)}


def test_three_modes_share_one_parameter_layout():
  shapes = {}
  for method in ('ff', 'hybrid', 'bp'):
    c = load_config('asge_mnist', f'tiny,method={method}')
    _, params = nnx.split(network.build(c, (28, 28, 1), 10, nnx.Rngs(0)))
    shapes[method] = [(jax.tree_util.keystr(p), np.shape(v))
                      for p, v in jax.tree_util.tree_leaves_with_path(params)]
  assert shapes['ff'] == shapes['hybrid'] == shapes['bp']


def test_hybrid_needs_a_one_pass_objective_and_sane_blocks():
  c = load_config('mnist', 'tiny')
  c.method = 'hybrid'
  with pytest.raises(config_args.ConfigError, match='one-pass'):
    config_args.validate(c)
  c = load_config('asge_mnist', 'tiny,method=hybrid')
  c.model.blocks = (0, 1, 0, 1, 2, 2)
  with pytest.raises(config_args.ConfigError, match='model.blocks'):
    config_args.validate(c)


def test_tiny_hybrid_run_learns(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('asge_mnist', 'tiny,method=hybrid')
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, str(tmp_path))
  assert set(k for k in rec['val'] if k.startswith('acc_u')) == {'acc_u2', 'acc_u4', 'acc_u6'}
  assert rec['val']['acc_fusion'] > 0.5, rec['val']
