"""ffjax/pooling.py computes what lax's reduce_window pools compute, gradients included."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ffjax import pooling


@pytest.mark.parametrize('shape,s', [((3, 8, 8, 5), 2), ((2, 7, 9, 3), 2), ((2, 9, 9, 4), 3)])
def test_pools_equal_lax_values_and_gradients_with_ties(shape, s):
  rng = np.random.default_rng(0)
  # Small integers: most windows hold ties (as ReLU's zeros do), odd sizes drop a border.
  x = jnp.asarray(rng.integers(0, 3, shape).astype(np.float32))
  g = jnp.asarray(rng.normal(size=(shape[0], shape[1] // s, shape[2] // s, shape[3]))
                  .astype(np.float32))
  for ours, lax_pool in ((pooling.max_pool, nnx.max_pool), (pooling.avg_pool, nnx.avg_pool)):
    ref = lambda x: lax_pool(x, (s, s), strides=(s, s))  # noqa: E731
    np.testing.assert_array_equal(ours(x, s), ref(x))
    d_ours = jax.grad(lambda x: jnp.sum(ours(x, s) * g))(x)
    d_ref = jax.grad(lambda x: jnp.sum(ref(x) * g))(x)
    # The max's gradient goes to one maximum of each window, the same one as lax's.
    np.testing.assert_allclose(d_ours, d_ref, rtol=1e-6, atol=0)
  assert float(jnp.abs(jax.grad(lambda x: jnp.sum(pooling.max_pool(x, s) * g))(x)).sum()) == \
      pytest.approx(float(jnp.abs(g).sum()), rel=1e-6)
  # bfloat16: summed in float32, returned in bfloat16.
  avg_b = pooling.avg_pool(x.astype(jnp.bfloat16), s)
  assert avg_b.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(avg_b, np.float32), nnx.avg_pool(x, (s, s), strides=(s, s)),
                             rtol=1e-2)


def test_rms_pool_is_the_root_of_the_mean_square():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 6, 3)).astype(np.float32))
  ref = lambda x: jnp.sqrt(nnx.avg_pool(x * x, (2, 2), strides=(2, 2)) + 1e-12)  # noqa: E731
  np.testing.assert_allclose(pooling.rms_pool(x, 2), ref(x), rtol=1e-6)
  g = jnp.cos(ref(x))  # its gradient (written by hand) is autodiff's of the formula
  np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(pooling.rms_pool(x, 2) * g))(x),
                             jax.grad(lambda x: jnp.sum(ref(x) * g))(x), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(pooling.rms_pool(x, 1)))(x), jnp.sign(x),
                             rtol=1e-5)
