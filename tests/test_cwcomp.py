"""CwComp's recipe: grouped convs, batch norm after the pool, per-unit stop epochs, a
softmax head trained on the last unit as a constant, the recipe's own normalization."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, make_mnist_dir, owners_by_unit
from ffjax import config_args, optim, readback, step, train, units
from ffjax.data import preprocess
from ffjax import method as method_lib


def test_a_grouped_unit_keeps_class_groups_apart():
  u = units.ConvUnit(20, 40, 3, groups=10, norm='none', rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 20))
  y, _ = u(x)
  y2, _ = u(x.at[..., 4:6].set(0.))  # input group 2 (channels 4, 5)
  changed = jnp.abs(y - y2).sum(axis=(0, 1, 2)).reshape(10, 4).sum(-1)
  assert changed[2] > 0 and float(changed.sum() - changed[2]) == 0.  # output group 2 only


def test_batch_norm_comes_after_relu_and_pool():
  u = units.ConvUnit(3, 4, 3, pool=2, batch_norm=True, bn_position='post_pool', norm='none',
                     rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
  y, _ = u(x)
  p = nnx.max_pool(jax.nn.relu(u.conv(x)), (2, 2), strides=(2, 2))
  mu, var = p.mean((0, 1, 2)), p.var((0, 1, 2))
  np.testing.assert_allclose(y, (p - mu) / jnp.sqrt(var + 1e-5), rtol=1e-3, atol=1e-3)


def test_a_unit_is_frozen_after_its_stop_epoch():
  c = load_config('cwcomp', 'tiny')
  config_args.validate(c)
  net, _ = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  _, params, _ = step.split(net)
  tx, _ = optim.make_optimizer(c.optim, num_units=4, total_steps=4 * c.train.num_epochs,
                               steps_per_epoch=4)
  opt = tx.init(params)
  ones = jax.tree.map(jnp.ones_like, params)
  moved = []
  for s in range(8):
    upd, opt = tx.update(ones, opt, params)
    moved.append([float(jnp.abs(upd['units'][l]['conv']['kernel'][...]).sum()) for l in range(4)])
  assert all(m > 0 for m in moved[3])                 # epoch 1: every unit learns
  assert moved[4][0] == 0. and moved[4][1] == 0.      # epoch 2: units 1, 2 stopped (after 1)
  assert moved[4][2] > 0 and moved[4][3] > 0          # units 3, 4 stop after epoch 2
  assert float(jnp.abs(upd['head']['kernel'][...]).sum()) > 0  # the head goes on


def test_the_softmax_head_sends_no_gradient_to_units():
  c = load_config('cwcomp', 'tiny')
  assert owners_by_unit(c, (28, 28, 1), batch=8)['head'] == {('head', None)}


def test_the_recipe_normalization_is_used():
  c = load_config('cwcomp', 'dataset=fashion_mnist')
  x = jnp.full((1, 28, 28, 1), 255, jnp.uint8)
  assert float(preprocess.make(c.data).to_float(x)[0, 0, 0, 0]) == pytest.approx(1.0)  # (1 - 0.5) / 0.5
  c.data.mean = (0.5, 0.5)
  with pytest.raises(config_args.ConfigError, match='one value per channel'):
    config_args.validate(c)


@pytest.mark.slow
def test_tiny_cwcomp_learns_and_stops_units(tmp_path):
  root = make_mnist_dir(tmp_path / 'data', 'mnist', n_train=700, n_test=100)
  c = load_config('cwcomp', 'tiny')
  c.data.dir, c.data.verify_md5, c.data.num_val, c.data.train_limit = str(root), False, 200, 0
  c.train.num_epochs = 3  # units 1-2 stop after epoch 1, units 3-4 after 2; the head goes on
  wd = tmp_path / 'run'
  train.train_and_evaluate(c, str(wd), stop_at_step=10)  # end of epoch 1 (10 steps of 50)
  net1 = readback.restore_run(wd).net
  rec = train.train_and_evaluate(c, str(wd))
  net3 = readback.restore_run(wd).net
  k = lambda n, l: np.asarray(n.units[l].conv.kernel[...])
  np.testing.assert_array_equal(k(net3, 0), k(net1, 0))
  assert not np.allclose(k(net3, 3), k(net1, 3))
  assert rec['val']['acc_linear'] > 0.5 and rec['val']['acc_last'] > 0.3, rec['val']  # chance 0.1
