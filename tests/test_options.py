"""Trainer options of the deeper FF-CNNs: per-unit learning rates, hard negatives,
per-unit strides and norms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config
from ffjax import config_args, labels, network, predict, train


def _one_step(c, x_u8, y):
  from ffjax import data as data_lib
  tr = data_lib.Split(x_u8, y, 'train')
  ds = data_lib.Dataset(c.data.name, 10, tr, None, tr)
  mesh = train.parallel.make_mesh()
  s = train.init_state(c, ds, mesh)
  step = train.make_train_step(c, s['encoder'], s['graphdef'], s['tx'], mesh, s['trained'])
  before = jax.tree.map(np.asarray, s['state']['params'])
  after, _ = step(s['state'], *train.parallel.put_batch(mesh, x_u8, y))
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
  net = network.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  graphdef, params = nnx.split(net)
  enc = labels.make_encoder(c.labels, 10, 28, 28)
  seen = []

  def embed(x, y):
    if not isinstance(y, jax.core.Tracer):  # embed_all's vmapped calls are the scoring passes
      seen.append(np.asarray(y))
    return enc.embed(x, y)

  rec = labels.Encoder(enc.kind, 10, embed, enc.embed_neutral, enc.patterns_KxHxW)
  x = jax.random.uniform(jax.random.key(1), (8, 28, 28, 1))
  y = jnp.arange(8)
  train.ff_loss_fn(c, rec, graphdef, train.trained_units(c, 3), params, [], x, y, jax.random.key(2))
  y_neg = seen[-1]
  scores = (predict.linear_logits(net, enc, x) if score == 'linear' else
            predict.goodness_scores(net, enc, x, net.head_units))
  np.testing.assert_array_equal(y_neg, labels.hardest_negatives(scores, y))
  assert np.all(y_neg != np.asarray(y))


def test_strides_and_per_unit_norms_shape_the_net():
  c = load_config('cifar10', 'cpu,tiny')  # 4 units of 8 filters, pooling after 2 and 4
  c.model.strides = (2, 1, 1, 1)
  c.model.norms = ('layer', 'channel', 'rms', 'layer')
  config_args.validate(c)
  shapes = network.unit_shapes(c, (32, 32, 3))
  assert shapes == [(16, 16, 8), (8, 8, 8), (8, 8, 8), (4, 4, 8)]
  net = network.build(c, (32, 32, 3), 10, nnx.Rngs(0))
  ys, hs = network.forward(net, jnp.ones((2, 32, 32, 3)) * 0.5)
  assert [y.shape[1:] for y in ys] == shapes
  np.testing.assert_allclose(hs[1].mean(-1), 0., atol=1e-4)  # channel norm on unit 2
  c.model.norms = ('layer', 'bogus', 'rms', 'layer')
  with pytest.raises(config_args.ConfigError, match='model.norms'):
    config_args.validate(c)
