"""ffjax.bernoulli: jax.random.bernoulli's and uniform's draws, bit for bit, fused on a CPU."""
import jax
import numpy as np
import pytest

from ffjax import bernoulli, units


KEYS = [jax.random.key(0), jax.random.fold_in(jax.random.key(9), 7), jax.random.PRNGKey(5)]


@pytest.mark.parametrize('shape', [(7,), (3, 5, 4), (2, 9, 9, 3), (16, 8, 8, 32)])
def test_draws_equal_jax_bit_for_bit(shape):
  for key in KEYS:
    u = jax.jit(lambda k: bernoulli.uniform(k, shape))(key)
    np.testing.assert_array_equal(np.asarray(u).view(np.uint32),
                                  np.asarray(jax.random.uniform(key, shape)).view(np.uint32))
    for p in (0.9, 0.5, 0.1):
      got = jax.jit(lambda k: bernoulli.bernoulli(k, p, shape))(key)
      np.testing.assert_array_equal(got, jax.random.bernoulli(key, p, shape))
      assert got.dtype == bool


def test_the_newer_uniform_conversion_too():
  if not hasattr(jax.config, 'jax_legacy_random_uniform'):
    pytest.skip('this jax has the legacy conversion only')
  jax.config.update('jax_legacy_random_uniform', False)
  try:
    key = jax.random.key(3)
    np.testing.assert_array_equal(np.asarray(bernoulli.uniform(key, (4, 33))).view(np.uint32),
                                  np.asarray(jax.random.uniform(key, (4, 33))).view(np.uint32))
  finally:
    jax.config.update('jax_legacy_random_uniform', True)


def test_other_keys_go_to_jax():
  key = jax.random.key(1, impl='rbg')
  np.testing.assert_array_equal(bernoulli.bernoulli(key, 0.7, (5, 6)),
                                jax.random.bernoulli(key, 0.7, (5, 6)))


def test_dropout_keeps_jax_masks():
  y = jax.random.normal(jax.random.key(2), (4, 6, 6, 8))
  key = jax.random.key(11)
  want = jax.jit(lambda k, y: jax.numpy.where(jax.random.bernoulli(k, 1. - 0.1, y.shape),
                                              y / (1. - 0.1), 0.))(key, y)
  np.testing.assert_array_equal(jax.jit(lambda k, y: units.dropout(k, y, 0.1))(key, y), want)
