import jax.numpy as jnp
import numpy as np

from ffjax import goodness as gd


def test_goodness_and_threshold_hand_values():
  y = jnp.array([[[1., 2.], [0., 3.]], [[1., 1.], [1., 1.]]])  # 2 x 2 x 2
  np.testing.assert_allclose(gd.goodness(y), [14., 4.])
  assert gd.num_neurons(y) == 4


def test_ff_loss_hand_values():
  g_pos, g_neg, theta = jnp.array([6., 2.]), jnp.array([1., 5.]), 4.
  sp = lambda v: np.log1p(np.exp(v))
  want = np.mean([sp(4 - 6) + sp(1 - 4), sp(4 - 2) + sp(5 - 4)])
  np.testing.assert_allclose(gd.ff_loss(g_pos, g_neg, theta), want, rtol=1e-6)
  np.testing.assert_allclose(gd.ff_loss(g_pos, g_neg, theta, 'mean_all'), want / 2, rtol=1e-6)
  # 6 > 4 right, 2 > 4 wrong; 1 <= 4 right, 5 <= 4 wrong: half right.
  assert float(gd.discrimination_accuracy(g_pos, g_neg, theta)) == 0.5


def test_peer_norm_hand_values():
  y = jnp.array([[1., 3.], [3., 1.], [2., 8.]])  # positives' mean per neuron: [2, 4]
  loss, run = gd.peer_norm_loss(y, jnp.array([0., 0.]), momentum=0.5)
  np.testing.assert_allclose(run, [1., 2.])  # 0.5 * 0 + 0.5 * mean
  np.testing.assert_allclose(loss, 0.25)     # mean of (1.5 - 1)^2, (1.5 - 2)^2


def test_cross_entropy():
  logits = jnp.array([[0., 0.], [10., -10.]])
  np.testing.assert_allclose(gd.cross_entropy(logits, jnp.array([1, 0])),
                             (np.log(2) + np.log1p(np.exp(-20))) / 2, rtol=1e-6)


def test_temperature_scales_the_logit_not_the_threshold():
  g_pos, g_neg, theta = jnp.array([4100.]), jnp.array([3900.]), 4000.
  sp = lambda v: np.log1p(np.exp(v))
  # T = 1: a hinge, 100 from each side is already saturated.
  np.testing.assert_allclose(gd.ff_loss(g_pos, g_neg, theta), 2 * sp(-100.), atol=1e-30)
  want = 1000. * 2 * sp(-0.1)
  np.testing.assert_allclose(gd.ff_loss(g_pos, g_neg, theta, temperature=1000.), want, rtol=1e-5)
