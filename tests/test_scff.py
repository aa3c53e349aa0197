"""SCFF (ffjax/methods/scff.py): self-contrastive pairs, the loss on hand values, locality,
and a run whose label-free units feed a readout above chance."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, owners_by_unit, real_data_dir
from ffjax import config_args, objectives, train
from ffjax.methods import scff

sp = lambda v: math.log1p(math.exp(v))  # softplus, by hand


def test_the_loss_on_hand_computed_values():
  obj = objectives.get('scff')(theta_pos=1., theta_neg=2., lam=0.1)
  # One pair, 1 x 2 positions x 2 channels: g = mean over channels of a^2 per position.
  pos = jnp.array([[[[2., 2.], [2., 0.]]]])  # g+ = (4, 2)
  neg = jnp.array([[[[0., 0.], [1., 1.]]]])  # g- = (0, 1)
  loss, m, _ = obj.loss(jnp.concatenate([pos, neg]), None, None, None)
  want = ((sp(1. - 4.) + sp(1. - 2.)) / 2 + (sp(0. - 2.) + sp(1. - 2.)) / 2
          + 0.1 * math.sqrt(16. + 4.))
  np.testing.assert_allclose(float(loss), want, rtol=1e-6)
  assert float(m['disc_acc']) == 1.  # mean g+ 3 above the middle threshold 1.5, g- 0.5 below
  swapped = obj.per_example(jnp.concatenate([neg, pos]), None, None)
  assert float(swapped['disc_acc'][0]) == 0.


def test_thresholds_and_lambda_are_per_unit():
  c = load_config('scff', 'tiny')
  objs = [objectives.get('scff').from_config(c, l) for l in range(3)]
  assert [(o.theta_pos, o.theta_neg, o.lam) for o in objs] == [
      (1., 2., 8e-4), (4., 5., 4e-4), (5., 7., 1.6e-3)]
  c.objective.scff_theta_pos = (1., 2.)  # one value short
  with pytest.raises(config_args.ConfigError, match='objective.scff_theta_pos.*one value per unit'):
    config_args.validate(c)


def test_a_pair_is_what_shared_filters_see_of_two_images_side_by_side():
  ka, kb, kw = jax.random.split(jax.random.key(0), 3)
  a = jax.random.normal(ka, (3, 6, 6, 2))
  b = jax.random.normal(kb, (3, 6, 6, 2)) * 3. + 1.
  w = jax.random.normal(kw, (3, 3, 2, 4))
  conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), 'VALID',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  # The authors' way: [A, B] on 2C channels, standardized jointly per example, the same
  # filters on each half, the halves' maps added. Equal only without a bias (theirs adds
  # it twice: ScffConv does, test_scff_authors.py) and padding (theirs pads each half).
  ab = jnp.concatenate([a, b], -1)
  mu = ab.mean((1, 2, 3), keepdims=True)
  ab = (ab - mu) / jnp.sqrt(((ab - mu) ** 2).mean((1, 2, 3), keepdims=True))
  theirs = conv(ab[..., :2], w) + conv(ab[..., 2:], w)
  np.testing.assert_allclose(conv(scff.pair(a, b), w), theirs, rtol=1e-4, atol=1e-4)


def test_negatives_pair_every_image_with_another_one():
  x = jax.random.normal(jax.random.key(1), (5, 4, 4, 1))
  enc = scff.SelfContrast(10)
  for seed in range(6):
    pn = enc.pairs(x, jax.random.key(seed))
    pos, neg = pn[:5], pn[5:]
    np.testing.assert_allclose(pos, enc.embed_neutral(x), rtol=1e-6)
    # No negative is an image with itself (that would be its positive).
    assert all(float(jnp.abs(neg[i] - pos[i]).max()) > 1e-3 for i in range(5))


def test_each_unit_learns_from_its_own_loss_only_and_no_label_reaches_a_unit():
  c = load_config('scff', 'tiny')
  owners = owners_by_unit(c, (32, 32, 3), batch=6)
  for k in range(3):
    assert owners[k] == {('units', k)}, (k, owners[k])
  assert owners['head'] == {('head', None)}
  # The units' losses do not depend on the labels at all.
  from flax import nnx
  from ffjax import method as method_lib, network, step
  net, method = method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))
  graphdef, params, rest = step.split(net)
  x = jax.random.uniform(jax.random.key(1), (6, 32, 32, 3))
  state = method.init_objective_state(network.unit_shapes(c, (32, 32, 3), activations=True))
  losses = [step.loss_fn(params, rest, state, x, y, jax.random.key(0), method=method,
                         graphdef=graphdef)[1][0] for y in (jnp.zeros(6, jnp.int32),
                                                            jnp.arange(6) % 10)]
  for k in ('loss_u1', 'loss_u2', 'loss_u3'):
    assert float(losses[0][k]) == float(losses[1][k])


@pytest.mark.slow
@pytest.mark.skipif(real_data_dir() is None, reason='real data not here')
def test_a_small_run_learns(tmp_path):
  c = load_config('scff', 'tiny')
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, tmp_path)
  from ffjax import metrics
  rs = [r for r in metrics.read(tmp_path) if 'train/loss_u1' in r]
  for u in ('u1', 'u2', 'u3'):  # every unit's own loss goes down
    assert rs[-1][f'train/loss_{u}'] < rs[0][f'train/loss_{u}'], (u, rs[0], rs[-1])
  assert rec['val']['acc_linear'] >= 0.2, rec['val']  # chance 0.10 (measured 0.37)


def test_streamed_unit_by_unit_equals_the_fused_step():
  from conftest import train_steps
  c = load_config('scff', 'tiny')
  rng = np.random.default_rng(0)
  x = rng.integers(0, 255, (c.train.batch_size, 32, 32, 3), dtype=np.uint8)
  y = (np.arange(c.train.batch_size) % 10).astype(np.int32)
  _, fused, _ = train_steps(c, x, y, n=2, image_shape=(32, 32, 3))
  c.train.schedule = 'streamed'
  _, streamed, _ = train_steps(c, x, y, n=2, image_shape=(32, 32, 3))
  for a, b in zip(fused, streamed):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-6)


def test_the_authors_layer_makes_its_pairs_where_the_config_says():
  from flax import nnx
  k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
  img = jax.random.normal(k1, (4, 8, 8, 3))
  first = scff.ScffConv(3, 6, 3, first=True, pair=True, pad=1, rngs=nnx.Rngs(0))
  a, y = first(img, key=k2)  # training: images in, [positives; negatives] out
  assert a.shape == (8, 8, 8, 6) and y.shape == (8, 8, 8, 6)
  np.testing.assert_allclose(y[:4], first(img)[1], rtol=1e-5, atol=1e-6)  # positives = readout's pass
  later = scff.ScffConv(6, 5, 3, first=False, pair=True, pad=1, rngs=nnx.Rngs(1))
  _, out = later(y, key=k3)
  # A later pairing unit remakes the pairs from the positives it receives: the incoming
  # negatives are discarded (as the authors' loop does), its positives are its readout pass.
  _, out2 = later(jnp.concatenate([y[:4], 7. * y[4:] + 1.]), key=k3)
  np.testing.assert_allclose(out, out2, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[:4], later(y[:4])[1], rtol=1e-5, atol=1e-6)
  assert float(jnp.abs(out[4:] - out[:4]).max()) > 1e-2
  # A unit that does not pair takes both streams as they come.
  plain = scff.ScffConv(6, 5, 3, first=False, pair=False, pad=1, rngs=nnx.Rngs(1))
  _, p1 = plain(y, key=k3)
  np.testing.assert_allclose(p1, plain(y)[1], rtol=1e-6)  # it draws nothing
  assert float(jnp.abs(p1[4:] - plain(y[:4])[1]).max()) > 1e-2


def test_the_authors_layer_refuses_what_it_does_not_have():
  c = load_config('scff', 'tiny')
  c.model.pair_at = (0, 0, 1)
  with pytest.raises(config_args.ConfigError, match='model.pair_at'):
    config_args.validate(c)
  c = load_config('scff', 'tiny')
  c.model.acts = ('triangle', 'hardswish', 'relu')
  with pytest.raises(config_args.ConfigError, match='model.acts'):
    config_args.validate(c)
  with pytest.raises(config_args.ConfigError, match='model.kind.*method=ff only'):
    config_args.validate(load_config('scff', 'tiny,method=bp'))
