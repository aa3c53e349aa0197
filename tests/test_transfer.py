"""Transfer: units from another run's checkpoint; linear probe keeps them frozen
(batch-norm statistics included), fine-tune trains them; heads start new."""
import jax
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, make_mnist_dir
from ffjax import config_args, readback, train
from ffjax import assembly


@pytest.fixture(scope='module')
def source(tmp_path_factory):
  # A per-class-goodness net with batch norm, trained briefly on generated "mnist".
  root = tmp_path_factory.mktemp('data')
  make_mnist_dir(root, 'mnist', n_train=600, n_test=100, seed=0)
  make_mnist_dir(root, 'fashion_mnist', n_train=600, n_test=100, seed=1)
  c = load_config('class_goodness_mnist', 'tiny')
  c.data.dir, c.data.verify_md5, c.data.num_val = str(root), False, 100
  c.model.batch_norm = True
  c.train.num_epochs = 1
  wd = tmp_path_factory.mktemp('src')
  train.train_and_evaluate(c, str(wd))
  net = readback.restore_run(wd).net
  return wd, root, nnx.state(net.units), nnx.state(net.aux)


def _target(source, mode, tmp_path):
  wd, root, _, _ = source
  c = load_config('transfer', f'from={wd},dataset=fashion_mnist,mode={mode},tiny')
  c.data.dir, c.data.num_val = str(root), 100
  c.train.num_epochs = 1
  out = tmp_path / mode
  rec = train.train_and_evaluate(c, str(out))
  net = readback.restore_run(out).net
  return rec, net


def _leaves(state):
  return {jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree_util.tree_leaves_with_path(state)}


def test_probe_keeps_units_and_batch_norm_and_trains_heads(source, tmp_path):
  _, _, units0, aux0 = source
  rec, net = _target(source, 'probe', tmp_path)
  assert rec['step'] > 0
  src, now = _leaves(units0), _leaves(nnx.state(net.units))
  assert any('mean' in k for k in src)  # batch-norm statistics are part of what must stay
  for k in src:
    np.testing.assert_array_equal(now[k], src[k], err_msg=k)
  a0, a1 = _leaves(aux0), _leaves(nnx.state(net.aux))
  assert any(not np.allclose(a0[k], a1[k]) for k in a0)  # new heads that learned


def test_finetune_starts_from_the_source_and_moves_it(source, tmp_path):
  wd, root, units0, _ = source
  c = load_config('transfer', f'from={wd},dataset=fashion_mnist,mode=finetune,tiny')
  c.data.dir, c.data.num_val = str(root), 100
  from ffjax import data as data_lib, parallel
  ds = data_lib.load(c.data)
  parts = assembly.build(c, ds.image_shape, ds.num_classes, len(ds.train))
  s = assembly.init_state(parts, parallel.make_mesh())
  start = nnx.merge(parts.graphdef, s['params'], s['rest'])
  src = _leaves(units0)
  for k, v in _leaves(nnx.state(start.units)).items():
    np.testing.assert_array_equal(v, src[k], err_msg=k)
  _, net = _target(source, 'finetune', tmp_path)
  now = _leaves(nnx.state(net.units))
  assert any(not np.allclose(now[k], src[k]) for k in src if 'kernel' in k)


@pytest.mark.filterwarnings('error::pytest.PytestUnraisableExceptionWarning')  # no orbax thread noise
def test_scratch_does_not_load_and_a_different_model_is_refused(source, tmp_path):
  wd, root, units0, _ = source
  c = load_config('transfer', f'from={wd},dataset=fashion_mnist,mode=scratch,tiny')
  assert c.transfer.init_from == ''
  c = load_config('transfer', f'from={wd},dataset=fashion_mnist,mode=probe,tiny')
  c.data.dir, c.data.num_val = str(root), 100
  c.model.widths = (16,) + tuple(c.model.widths[1:])
  with pytest.raises(config_args.ConfigError, match='units differ'):
    train.train_and_evaluate(c, str(tmp_path / 'bad'))
  with pytest.raises(config_args.ConfigError, match='cifar100'):
    load_config('transfer', f'from={wd},dataset=imagenet')
