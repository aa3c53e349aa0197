import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conftest import load_config
from ffjax import cams, network, predict
from ffjax import method as method_lib


def test_cam_is_the_weighted_sum_and_adds_up_to_the_logit():
  c = load_config('mnist', 'tiny')
  net, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  enc, units = method.encoder, method.readout_units
  assert units == (1, 2)  # the readout reads units 2 and 3
  # A hand-set head: random weights, known bias.
  net.head.kernel[...] = jax.random.normal(jax.random.key(1), net.head.kernel.shape)
  net.head.bias[...] = jnp.arange(10.)
  x = jax.random.uniform(jax.random.key(2), (3, 28, 28, 1))
  cls = jnp.array([0, 4, 9])
  maps = cams.class_activation_maps(net, enc, x, cls, units)
  assert [m.shape for m in maps] == [(3, 28, 28), (3, 28, 28)]  # units 2 and 3, their H x W
  # One position by hand: unit 2 (head's first slice), position (5, 7), image 1, class 4.
  _, hs = network.forward(net, enc.embed_neutral(x))
  w = net.head.kernel[...][:28 * 28 * 8].reshape(28, 28, 8, 10)
  np.testing.assert_allclose(maps[0][1, 5, 7], np.sum(w[5, 7, :, 4] * hs[1][1, 5, 7, :]), rtol=1e-5)
  logits = predict.linear_logits(net, enc, x, method.readout)
  total = sum(m.sum(axis=(1, 2)) for m in maps) + net.head.bias[...][cls]
  np.testing.assert_allclose(total, logits[jnp.arange(3), cls], rtol=1e-4)


def test_asge_patch_maps_add_up_to_each_units_logit():
  for projection in ('trained', 'fixed'):
    c = load_config('asge_mnist', f'tiny,projection={projection}')
    net, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(2), (3, 28, 28, 1))
    cls = jnp.array([0, 4, 9])
    maps = cams.spatial_class_maps(net, x, cls, method.scored)
    assert [m.shape[1:] for m in maps] == [(h.grid, h.grid) for h in net.aux]
    logits = predict.unit_logits(net, x, method.scored)
    for l, (m, head) in enumerate(zip(maps, net.aux)):
      bias = head.proj.bias[...][cls] if projection == 'trained' else 0.
      np.testing.assert_allclose(m.sum(axis=(1, 2)) + bias, logits[l][jnp.arange(3), cls],
                                 rtol=1e-4, atol=1e-5)
