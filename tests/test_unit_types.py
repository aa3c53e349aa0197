"""A unit type is one class registered by name (units.UnitType): the network, the checks,
pipeline's FLOP count and the trainer find it through the registry alone. The low-rank
dense unit below is defined here, in a test, so the library cannot know its name."""
import json
import math
import re

import jax
import pytest
from flax import nnx

from conftest import REPO, load_config, real_data_dir
from ffjax import config_args, network, pipeline, registry, train, units
from ffjax.config_args import need


@registry.unit('lowrank_test')
class LowRankUnit(nnx.Module):
  """flatten -> (in x r) -> (r x out) + bias -> ReLU -> (y, rms-normalized y)."""
  maps = False

  @classmethod
  def check(cls, m, in_ch):
    need(m.get('rank', 0) > 0, 'model.rank', m.get('rank'), 'a low-rank unit needs a rank > 0')

  @classmethod
  def out_shape(cls, m, l, in_hwc, activations=False):
    return 1, 1, m.widths[l]

  @classmethod
  def flops(cls, m, l, in_hwc):
    return 2. * (math.prod(in_hwc) + m.widths[l]) * m.rank

  @classmethod
  def from_config(cls, m, l, in_hwc, skip, rngs):
    return cls(math.prod(in_hwc), m.widths[l], m.rank, rngs=rngs)

  def __init__(self, n_in, n_out, rank, *, rngs):
    self.down = nnx.Linear(n_in, rank, use_bias=False, rngs=rngs)
    self.up = nnx.Linear(rank, n_out, rngs=rngs)

  def __call__(self, h, key=None):
    y = jax.nn.relu(self.up(self.down(h.reshape(h.shape[0], -1))))
    return y, units.rms_norm(y)


def _config(**model):
  c = load_config('mnist_mlp', 'tiny')
  c.model.kind = 'lowrank_test'
  c.model.rank = 16
  c.model.update(model)
  return c


def test_the_network_is_built_and_counted_by_the_type():
  c = _config()
  shapes = network.unit_shapes(c, (28, 28, 1))
  assert shapes == [(1, 1, w) for w in c.model.widths]
  net_units = network.build_units(c, (28, 28, 1), nnx.Rngs(0))
  assert [u.down.kernel.shape for u in net_units] == [
      (784, 16)] + [(w, 16) for w in c.model.widths[:-1]]
  ins = [784] + list(c.model.widths[:-1])
  assert pipeline.unit_flops(c, (28, 28, 1)) == [
      2. * (i + w) * 16 for i, w in zip(ins, c.model.widths)]


def test_its_own_check_runs_and_an_unknown_kind_lists_it():
  config_args.validate(_config())
  with pytest.raises(config_args.ConfigError, match=r"config.model.rank=0: a low-rank unit"):
    config_args.validate(_config(rank=0))
  with pytest.raises(config_args.ConfigError, match=r"model.kind='lowrank': unknown; one of "
                                                    r".*'lowrank_test'"):
    config_args.validate(_config(kind='lowrank'))
  # A readout that pools maps, or an objective whose heads read maps, asks the type.
  c = _config()
  c.predict.readout = 'pooled_sum'
  with pytest.raises(config_args.ConfigError, match="model.kind='lowrank_test' has none"):
    config_args.validate(c)


@pytest.mark.skipif(real_data_dir() is None, reason='real data not here')
def test_a_small_run_learns_with_it(tmp_path):
  c = _config()
  c.train.num_epochs = 4
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, tmp_path)
  rs = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  for u in (1, 2, 3):  # each unit's own loss falls (measured: to 0.10-0.22 of its first)
    loss = [r[f'train/loss_u{u}'] for r in rs if f'train/loss_u{u}' in r]
    assert loss[-1] < 0.6 * loss[0], (u, loss)
  assert rec['test']['acc_linear'] >= 0.25, rec['test']  # chance 0.10 (measured 0.375)


def test_no_library_file_compares_a_unit_kind_by_name():
  # The unit types' names appear only where they are registered (units.py) and as the
  # config's default (config_base.py), never in a comparison that another file makes.
  names = registry.names('unit')
  for f in sorted((REPO / 'ffjax').rglob('*.py')) + sorted((REPO / 'experiments').glob('*.py')):
    text = f.read_text()
    for n in names:
      assert not re.search(rf"(==|!=|in \() *'{n}'|'{n}' *(==|!=)", text), (n, f.name)
