"""Per-class goodness (scalable FF) and class-grouped channels (CwComp): the loss on
hand-computed values, locality, a tiny run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, owners_by_unit, real_data_dir
from ffjax import config_args, heads, train
from ffjax import goodness as gd


def test_class_goodness_on_hand_values():
  # 1 image, 2 x 2 map, 3 classes, one channel each.
  a = np.zeros((1, 2, 2, 3), np.float32)
  a[0, :, :, 0] = 1.           # class 0: mean of 1 = 1
  a[0, 0, 0, 2] = 2.           # class 2: 4 / 4 = 1 ... plus
  a[0, 1, 1, 2] = 2.           # another 4 -> 8 / 4 = 2
  np.testing.assert_allclose(gd.class_goodness(jnp.asarray(a)), [[1., 0., 2.]])
  # Groups: 2 classes x 2 channels each; group 1 = channels 2, 3.
  y = np.zeros((1, 1, 1, 4), np.float32)
  y[0, 0, 0] = [1., 3., 2., 0.]
  head = heads.ChannelGroupHead(4, 2)
  np.testing.assert_allclose(head(jnp.asarray(y)), [[(1 + 9) / 2, (4 + 0) / 2]])
  # The loss is the cross-entropy of those goodnesses.
  g = jnp.array([[(1 + 9) / 2, 2.]])
  want = -jax.nn.log_softmax(g)[0, 1]
  np.testing.assert_allclose(gd.cross_entropy(g, jnp.array([1])), want, rtol=1e-6)
  with pytest.raises(ValueError, match='multiples of 10'):
    heads.ChannelGroupHead(16, 10)


def test_class_conv_head_is_the_mean_square_of_its_conv():
  head = heads.ClassConvHead(4, 10, kernel=3, rngs=nnx.Rngs(0))
  y = jax.random.normal(jax.random.key(0), (2, 5, 5, 4))
  np.testing.assert_allclose(head(y), jnp.mean(head.conv(y) ** 2, axis=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize('variant', ['per_class', 'channel_groups'])
def test_each_unit_and_its_head_learn_from_their_own_loss_only(variant):
  c = load_config('class_goodness_mnist', f'tiny,variant={variant}')
  config_args.validate(c)
  owners = owners_by_unit(c, (28, 28, 1))
  for l in range(len(c.model.widths)):
    # its unit (and its aux conv, if it has parameters) and nothing else
    assert ('units', l) in owners[l] and owners[l] <= {('units', l), ('aux', l)}, owners[l]


def test_channel_groups_refuse_widths_that_do_not_divide():
  c = load_config('class_goodness_mnist', 'tiny,variant=channel_groups')
  c.model.widths = (8,) * len(c.model.widths)
  with pytest.raises(config_args.ConfigError, match='multiples of 10'):
    config_args.validate(c)


@pytest.mark.slow
@pytest.mark.parametrize('variant', ['per_class', 'channel_groups'])
def test_tiny_run_learns(variant, tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('class_goodness_mnist', f'tiny,variant={variant}')
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, str(tmp_path))
  # Chance is 0.1; over seeds 0-2 these tiny runs reach 0.25-0.44 (channel groups).
  assert rec['val']['acc_best'] > 0.2 and rec['val']['acc_fusion'] > 0.2, rec['val']
