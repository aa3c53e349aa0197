"""The streamed step (one unit at a time) makes the same update as the fused step."""
import jax
import numpy as np
import pytest

from conftest import load_config
from ffjax import data as data_lib
from ffjax import train


def _two_steps(c, x_u8, y):
  tr = data_lib.Split(x_u8, y, 'train')
  ds = data_lib.Dataset(c.data.name, 10, tr, None, tr)
  mesh = train.parallel.make_mesh()
  s = train.init_state(c, ds, mesh)
  step = train.make_train_step(c, s['encoder'], s['graphdef'], s['tx'], mesh, s['trained'])
  state, ms = s['state'], []
  for i in range(2):
    state, m = step(state, *train.parallel.put_batch(mesh, x_u8, y))
    ms.append(jax.device_get(m))
  return jax.device_get(state), ms


@pytest.mark.parametrize('name,arg,over', [
    ('mnist', 'tiny', {}),                                   # threshold FF + linear head
    ('mnist_mlp', 'tiny', {}),                               # dense units, peer normalization
    ('asge_mnist', 'tiny', {}),                              # ASGE: per-unit heads
    ('asge_mnist', 'tiny,projection=fixed', {}),
    ('cifar10', 'cpu,tiny', {'labels.hard_negatives': 0.5}),  # morph labels, hard negatives
    ('mnist', 'tiny', {'predict.head_units': 'last'}),      # a head on the last unit only
])
def test_streamed_equals_fused(name, arg, over):
  c = load_config(name, arg)
  for k, v in over.items():
    c[k.split('.')[0]][k.split('.')[1]] = v
  shape = (32, 32, 3) if name.startswith('cifar') else (28, 28, 1)
  rng = np.random.default_rng(0)
  x = rng.integers(0, 255, (c.train.batch_size,) + shape, dtype=np.uint8)
  y = (np.arange(c.train.batch_size) % 10).astype(np.int32)
  fused, m_f = _two_steps(c, x, y)
  c.train.streamed = True
  streamed, m_s = _two_steps(c, x, y)
  leaves_f = jax.tree_util.tree_leaves_with_path(fused['params'])
  leaves_s = jax.tree.leaves(streamed['params'])
  assert len(leaves_f) == len(leaves_s)
  for (path, a), b in zip(leaves_f, leaves_s):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-6,
                               err_msg=jax.tree_util.keystr(path))
  for k in m_f[-1]:
    np.testing.assert_allclose(m_s[-1][k], m_f[-1][k], rtol=1e-3, atol=1e-5, err_msg=k)
  for a, b in zip(jax.tree.leaves(fused['peer']), jax.tree.leaves(streamed['peer'])):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_a_last_unit_head_reads_one_unit_and_goodness_still_sums_all():
  from flax import nnx
  from ffjax import network
  c = load_config('mnist', 'tiny')
  c.predict.head_units = 'last'
  net = network.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  assert net.head_units == (2,) and net.goodness_units == (1, 2)
  assert net.head.kernel.shape[0] == np.prod(network.unit_shapes(c, (28, 28, 1))[-1])
