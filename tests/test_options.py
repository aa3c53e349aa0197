"""Trainer options of the deeper FF-CNNs: per-unit learning rates, hard negatives,
per-unit strides and norms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, trainer_step
from ffjax import config_args, labels, network, predict
from ffjax import method as method_lib


def _one_step(c, x_u8, y):
  _, state, step = trainer_step(c)
  before = jax.tree.map(np.asarray, state['params'])
  after, _ = step(state, x_u8, y)
  return before, jax.tree.map(np.asarray, after['params'])


def _kernel(params, l):
  return params['units'][l]['conv']['kernel'][...]


def test_per_unit_learning_rates():
  x = np.random.default_rng(0).integers(0, 255, (50, 28, 28, 1), dtype=np.uint8)
  y = np.arange(50, dtype=np.int32) % 10
  c = load_config('mnist', 'tiny')
  c.objective.train_first_unit = True
  ref_b, ref_a = _one_step(c, x, y)
  c.optim.unit_lr_scale = (1., 1., 1.)  # the same rates, by groups: the same step
  _, same = _one_step(c, x, y)
  for l in range(3):
    np.testing.assert_allclose(_kernel(same, l), _kernel(ref_a, l), rtol=1e-6, atol=1e-9)
  c.optim.unit_lr_scale = (1., 0., 2.)
  b, a = _one_step(c, x, y)
  np.testing.assert_array_equal(_kernel(a, 1), _kernel(b, 1))      # rate 0: unit 2 stays
  d_ref = _kernel(ref_a, 2) - _kernel(ref_b, 2)
  np.testing.assert_allclose(_kernel(a, 2) - _kernel(b, 2), 2 * d_ref, rtol=1e-4, atol=1e-7)
  c.optim.unit_lr_scale = (1., 1.)
  with pytest.raises(config_args.ConfigError, match='unit_lr_scale'):
    config_args.validate(c)


@pytest.mark.parametrize('score', ['goodness', 'linear'])
def test_hard_negatives_are_the_wrong_labels_the_model_likes_most(score):
  c = load_config('mnist', 'tiny')
  c.labels.hard_negatives, c.labels.hard_negative_score = 1., score
  net, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(1), (8, 28, 28, 1))
  y = jnp.arange(8)
  x_in = method.training_input(net, x, y, jax.random.key(2))  # [positives; negatives]
  enc = method.encoder
  # Which label each negative carries: the one whose embedding it is.
  cand = enc.embed_all(x)  # K x B x ...
  y_neg = np.array([int(np.argmin(np.abs(np.asarray(cand[:, i]) - np.asarray(x_in[8 + i])).sum((1, 2, 3))))
                    for i in range(8)])
  scores = (predict.linear_logits(net, enc, x, method.readout) if score == 'linear' else
            predict.goodness_scores(net, enc, x, method.goodness_units))
  np.testing.assert_array_equal(y_neg, labels.hardest_negatives(scores, y))
  assert np.all(y_neg != np.asarray(y))


def test_strides_and_per_unit_norms_shape_the_net():
  c = load_config('cifar10', 'cpu,tiny')  # 4 units of 8 filters, pooling after 2 and 4
  c.model.strides = (2, 1, 1, 1)
  c.model.norms = ('layer', 'channel', 'rms', 'layer')
  config_args.validate(c)
  shapes = network.unit_shapes(c, (32, 32, 3))
  assert shapes == [(16, 16, 8), (8, 8, 8), (8, 8, 8), (4, 4, 8)]
  net, _ = method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))
  ys, hs = network.forward(net, jnp.ones((2, 32, 32, 3)) * 0.5)
  assert [y.shape[1:] for y in ys] == shapes
  np.testing.assert_allclose(hs[1].mean(-1), 0., atol=1e-4)  # channel norm on unit 2
  c.model.norms = ('layer', 'bogus', 'rms', 'layer')
  with pytest.raises(config_args.ConfigError, match='model.norms'):
    config_args.validate(c)
