"""The streamed step (one unit at a time) makes the same update as the fused step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, trainer_step


def _two_steps(c, x_u8, y):
  _, state, step = trainer_step(c, x_u8.shape[1:])
  ms = []
  for i in range(2):
    state, m = step(state, x_u8, y)
    ms.append(jax.device_get(m))
  return jax.device_get(state), ms


@pytest.mark.parametrize('name,arg,over', [
    ('mnist', 'tiny', {}),                                   # threshold FF + linear head
    ('mnist_mlp', 'tiny', {}),                               # dense units, peer normalization
    ('asge_mnist', 'tiny', {}),                              # ASGE: per-unit heads
    ('asge_mnist', 'tiny,projection=fixed', {}),
    ('cifar10', 'cpu,tiny', {'labels.hard_negatives': 0.5}),  # morph labels, hard negatives
    ('mnist', 'tiny', {'predict.head_units': 'last'}),      # a head on the last unit only
    ('cwcomp', 'tiny', {}),                                  # a readout on a one-pass net, BN
])
def test_streamed_equals_fused(name, arg, over):
  c = load_config(name, arg)
  for k, v in over.items():
    c[k.split('.')[0]][k.split('.')[1]] = v
  shape = (32, 32, 3) if 'cifar' in name else (28, 28, 1)
  rng = np.random.default_rng(0)
  x = rng.integers(0, 255, (c.train.batch_size,) + shape, dtype=np.uint8)
  y = (np.arange(c.train.batch_size) % 10).astype(np.int32)
  fused, m_f = _two_steps(c, x, y)
  c.train.schedule = 'streamed'
  streamed, m_s = _two_steps(c, x, y)
  leaves_f = jax.tree_util.tree_leaves_with_path((fused['params'], fused['rest']))
  leaves_s = jax.tree.leaves((streamed['params'], streamed['rest']))
  assert len(leaves_f) == len(leaves_s)
  for (path, a), b in zip(leaves_f, leaves_s):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-6,
                               err_msg=jax.tree_util.keystr(path))
  for k in m_f[-1]:
    np.testing.assert_allclose(m_s[-1][k], m_f[-1][k], rtol=1e-3, atol=1e-5, err_msg=k)
  for a, b in zip(jax.tree.leaves(fused['obj_state']), jax.tree.leaves(streamed['obj_state'])):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_a_last_unit_head_reads_one_unit_and_goodness_still_sums_all():
  from flax import nnx
  from ffjax import method as method_lib, network
  c = load_config('mnist', 'tiny')
  c.predict.head_units = 'last'
  net, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  assert method.readout_units == (2,) and method.goodness_units == (1, 2)
  assert net.head.kernel.shape[0] == np.prod(network.unit_shapes(c, (28, 28, 1))[-1])


def test_streamed_gradients_equal_fused_on_a_residual_net_with_batch_norm():
  # Compared before the optimizer: a conv bias followed by batch norm has a gradient of
  # exactly zero in theory and of rounding noise in practice, which Adam blows up to
  # +-lr differently in the two schedules.
  from flax import nnx
  from ffjax import method as method_lib, step
  c = load_config('resnet18_cifar10', 'tiny')
  net, method = method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))
  graphdef, params, rest = step.split(net)
  x = jax.random.uniform(jax.random.key(1), (8, 32, 32, 3))
  y = jnp.arange(8)
  obj = [None] * len(net.units)
  kw = dict(method=method, graphdef=graphdef)
  (total, (m, _, rest_f, _)), g_f = jax.jit(jax.value_and_grad(
      lambda p: step.loss_fn(p, rest, obj, x, y, None, **kw), has_aux=True))(params)
  total_s, m_s, _, rest_s, g_s = jax.jit(lambda p: step.streamed_grads(p, rest, obj, x, y, None, **kw))(params)
  np.testing.assert_allclose(total_s, total, rtol=1e-5)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path((g_f, rest_f)), jax.tree.leaves((g_s, rest_s))):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
