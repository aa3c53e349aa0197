import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ffjax import config_base, labels


def _cfg(**kw):
  c = config_base.get_base().labels
  c.update(kw)
  return c


@pytest.mark.parametrize('label_set', [1, 2])
def test_fourier_patterns_shape_range_and_distinct(label_set):
  p = labels.fourier_patterns(10, 28, 28, label_set)
  assert p.shape == (10, 28, 28)
  assert p.min() >= -1 - 1e-6 and p.max() <= 1 + 1e-6
  # Every class pattern must be told apart from every other: no two nearly equal.
  assert labels.max_pairwise_correlation(p) < 0.5


def test_fourier_mode_values():
  # 1 period across 4 pixels at 0 degrees: cos(2 pi u), u = 0, 1/4, 2/4, 3/4 along the width.
  m = labels.fourier_mode(2, 4, cycles=1., angle_deg=0.)
  np.testing.assert_allclose(m[0], [1, 0, -1, 0], atol=1e-6)
  np.testing.assert_allclose(m[1], m[0], atol=1e-6)  # constant along the height
  m90 = labels.fourier_mode(4, 2, cycles=1., angle_deg=90.)
  np.testing.assert_allclose(m90[:, 0], [1, 0, -1, 0], atol=1e-6)


def test_set1_uses_four_orientations_frequency_major():
  params = labels.fourier_set1_params(10, (2., 4., 6.))
  assert params[:4] == [(2., 0.), (2., 45.), (2., 90.), (2., 135.)]
  assert params[8:] == [(6., 0.), (6., 45.)]
  with pytest.raises(ValueError, match='fewer than'):
    labels.fourier_set1_params(13, (2., 4., 6.))


def test_superpose_hand_values():
  x = jnp.array([[[[0.], [1.]]]])        # 1 x 1 x 2 x 1
  pat = jnp.array([[[1., -1.]]])         # 1 x 1 x 2
  out = labels.superpose(x, pat, 0.25, rescale=False)
  np.testing.assert_allclose(out[0, 0, :, 0], [0.25, 0.5])  # 0.75 x + 0.25 L
  out = labels.superpose(x, pat, 0.25, rescale=True)
  np.testing.assert_allclose(out[0, 0, :, 0], [0., 1.])


def test_fourier_encoder_range_and_labels_differ():
  enc = labels.make_encoder(_cfg(kind='fourier'), 10, 28, 28)
  x = jax.random.uniform(jax.random.key(0), (4, 28, 28, 1))
  xa = enc.embed_all(x)
  assert xa.shape == (10, 4, 28, 28, 1)
  assert float(xa.min()) >= 0. and float(xa.max()) <= 1. + 1e-6
  # The same image with two labels differs; with the same label it does not.
  assert float(jnp.abs(xa[0] - xa[1]).mean()) > 0.05
  np.testing.assert_allclose(enc.embed(x, jnp.full((4,), 3)), xa[3], atol=1e-6)
  neu = enc.embed_neutral(x)
  assert neu.shape == x.shape and float(neu.min()) >= 0.


def test_onehot_encoder_writes_first_pixels():
  enc = labels.make_encoder(_cfg(kind='onehot'), 10, 28, 28)
  x = jnp.ones((2, 28, 28, 1)) * 0.7
  out = enc.embed(x, jnp.array([3, 9])).reshape(2, -1)
  np.testing.assert_allclose(out[0, :10], np.eye(10)[3])
  np.testing.assert_allclose(out[1, :10], np.eye(10)[9])
  np.testing.assert_allclose(out[:, 10:], 0.7)
  np.testing.assert_allclose(enc.embed_neutral(x).reshape(2, -1)[:, :10], 0.1)


def test_negatives_never_true_and_uniform():
  y = jnp.tile(jnp.arange(10), 2000)
  neg = labels.sample_negatives(jax.random.key(1), y, 10)
  assert not bool(jnp.any(neg == y))
  assert int(neg.min()) >= 0 and int(neg.max()) <= 9
  # For true class 0 the 9 wrong ones come up about equally often (2000 draws, ~222 each).
  counts = np.bincount(np.asarray(neg[y == 0]), minlength=10)
  assert counts[0] == 0 and counts[1:].min() > 150 and counts[1:].max() < 300


def test_unknown_kind_refused():
  with pytest.raises(ValueError, match='labels.kind'):
    labels.make_encoder(_cfg(kind='morse'), 10, 28, 28)
