"""SymBa (ffjax/methods/symba.py): the symmetric FF loss, pinned on hand values, local,
and learning on the FF-CNN."""
import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, owners_by_unit, real_data_dir
from ffjax import objectives, registry, train

sp = lambda v: math.log1p(math.exp(v))  # softplus, by hand


def test_the_loss_on_hand_computed_values():
  # This pins ffjax's reading: G is the MEAN of squares over a unit (symba_goodness='mean',
  # the default), so alpha means the same at any unit size. The literal sum is below.
  symba = objectives.get('symba')(alpha=4.)
  # Positives: mean squares 1 and 2; negatives: 0 and 3 -> G_pos - G_neg = 1, -1.
  a = jnp.array([[1., 1.], [2., 0.],     # positives (mean of squares: 1, 2)
                 [0., 0.], [1., -2.2360679775]])  # negatives (0, 3)
  loss, m, _ = symba.loss(a, jnp.zeros(2, jnp.int32), None, None)
  want = (sp(-4. * 1.) + sp(-4. * -1.)) / 2
  np.testing.assert_allclose(float(loss), want, rtol=1e-6)
  assert float(m['disc_acc']) == 0.5  # the first pair right, the second wrong
  per = symba.per_example(a, jnp.zeros(2, jnp.int32), None)
  np.testing.assert_allclose(per['loss'], [sp(-4.), sp(4.)], rtol=1e-6)
  # Symmetric: swapping positive and negative of a pair turns its term into the other's.
  b = jnp.concatenate([a[2:], a[:2]])
  np.testing.assert_allclose(symba.per_example(b, None, None)['loss'], [sp(4.), sp(-4.)], rtol=1e-6)


def test_the_literal_sum_of_squares_goodness():
  a = jnp.array([[1., 1.], [2., 0.], [0., 0.], [1., -2.2360679775]])  # sums 2, 4 | 0, 6
  literal = objectives.get('symba')(alpha=4., goodness='sum')
  np.testing.assert_allclose(literal.per_example(a, None, None)['loss'],
                             [sp(-4. * 2.), sp(-4. * -2.)], rtol=1e-6)
  c = load_config('symba', 'tiny,goodness=sum')
  assert objectives.get('symba').from_config(c, 0).goodness == 'sum'
  from ffjax import config_args
  with pytest.raises(config_args.ConfigError, match='objective.symba_goodness'):
    config_args.validate(load_config('symba', 'tiny,goodness=max'))


def test_a_config_names_it_and_the_pieces_check_its_settings():
  c = load_config('symba', 'tiny,alpha=2')
  assert c.objective.kind == 'symba' and c.objective.symba_alpha == 2.
  assert registry.get('objective', 'symba').pairs
  from ffjax import config_args
  with pytest.raises(config_args.ConfigError, match='objective.symba_alpha'):
    config_args.validate(load_config('symba', 'tiny,alpha=-1'))
  bad = load_config('symba', 'tiny')
  bad.labels.kind = 'none'  # SymBa reads the label in the input
  with pytest.raises(config_args.ConfigError, match="labels.kind='none'.*needs a label"):
    config_args.validate(bad)
  bad = load_config('symba', 'tiny,method=hybrid')  # pairs have no place in hybrid blocks
  bad.objective.kind = 'symba'
  with pytest.raises(config_args.ConfigError, match='hybrid'):
    config_args.validate(bad)


def test_each_unit_learns_from_its_own_loss_only():
  c = load_config('symba', 'tiny,train_first')
  owners = owners_by_unit(c, (28, 28, 1), batch=6)
  for k in range(3):
    assert owners[k] == {('units', k)}, (k, owners[k])
  assert owners['head'] == {('head', None)}


@pytest.mark.slow
@pytest.mark.skipif(real_data_dir() is None, reason='real data not here')
def test_a_small_run_learns(tmp_path):
  # The tiny net with the FF-CNN's 7x7 kernels and pooling, 80 steps on 1,000 images.
  c = load_config('symba', 'tiny,kernel=7,epochs=4')
  c.model.pools = (1, 2, 2)
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, tmp_path)
  rs = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  disc = [r['train/disc_acc_u3'] for r in rs if 'train/disc_acc_u3' in r]
  assert disc[-1] > 0.6 and disc[-1] > disc[0] + 0.08, disc  # 0.5: positives not told apart
  assert rec['test']['acc_goodness'] >= 0.15, rec['test']  # chance 0.10 (measured 0.21-0.26)
  assert rec['test']['acc_linear'] >= 0.5, rec['test']


def test_streamed_unit_by_unit_equals_the_fused_step():
  from conftest import train_steps
  c = load_config('symba', 'tiny')
  rng = np.random.default_rng(0)
  x = rng.integers(0, 255, (c.train.batch_size, 28, 28, 1), dtype=np.uint8)
  y = (np.arange(c.train.batch_size) % 10).astype(np.int32)
  _, fused, _ = train_steps(c, x, y, n=2)
  c.train.schedule = 'streamed'
  _, streamed, _ = train_steps(c, x, y, n=2)
  for a, b in zip(fused, streamed):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-6)
