"""Hybrid training (scalable FF): backprop inside blocks, no gradient across them; and
one parameter layout for the three modes of one architecture."""
import pytest
from flax import nnx

from conftest import load_config, owners_by_unit, param_layout, real_data_dir
from ffjax import config_args, train
from ffjax import method as method_lib


@pytest.mark.parametrize('name', ['asge_mnist', 'class_goodness_mnist'])
def test_gradient_stays_inside_its_block(name):
  c = load_config(name, 'tiny,method=hybrid')
  config_args.validate(c)
  assert c.model.blocks == (0, 0, 1, 1, 2, 2)
  _, method = method_lib.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  assert method.cuts == (True, False, True, False, True, False)
  assert method.scored == (1, 3, 5)
  assert method.trained == (False, True, False, True, False, True)
  owners = owners_by_unit(c, (28, 28, 1))
  # Block 2 (units 3, 4): its loss, at unit 4, trains units 3 and 4 and unit 4's head.
  assert owners[3] == {('units', 2), ('units', 3), ('aux', 3)}
  assert owners[1] == {('units', 0), ('units', 1), ('aux', 1)}
  # Layer-wise FF on the same net: only the unit itself.
  assert owners_by_unit(load_config(name, 'tiny'), (28, 28, 1))[3] == {('units', 3), ('aux', 3)}


def test_three_modes_share_one_parameter_layout():
  layouts = {m: param_layout(method_lib.build(load_config('asge_mnist', f'tiny,method={m}'),
                                              (28, 28, 1), 10, nnx.Rngs(0))[0])
             for m in ('ff', 'hybrid', 'bp')}
  assert layouts['ff'] == layouts['hybrid'] == layouts['bp']


def test_hybrid_needs_a_one_pass_objective_and_sane_blocks():
  c = load_config('mnist', 'tiny')
  c.method = 'hybrid'
  with pytest.raises(config_args.ConfigError, match='one-pass'):
    config_args.validate(c)
  c = load_config('asge_mnist', 'tiny,method=hybrid')
  c.model.blocks = (0, 1, 0, 1, 2, 2)
  with pytest.raises(config_args.ConfigError, match='model.blocks'):
    config_args.validate(c)


def test_tiny_hybrid_run_learns(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  c = load_config('asge_mnist', 'tiny,method=hybrid')
  c.data.dir = real_data_dir()
  rec = train.train_and_evaluate(c, str(tmp_path))
  assert set(k for k in rec['val'] if k.startswith('acc_u')) == {'acc_u2', 'acc_u4', 'acc_u6'}
  assert rec['val']['acc_fusion'] > 0.5, rec['val']
