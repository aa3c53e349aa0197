"""The loop on the device: data resident, many steps per call, the order drawn there;
equal to the host-fed loop; resumable in the middle of a call; compiled once; and
populations of runs, each member equal to the single run it stands for."""
import chex
import jax
import numpy as np
import pytest

from conftest import build, load_config, make_mnist_dir
from ffjax import data as data_lib
from ffjax import loop, parallel, population, readback, train
from ffjax import assembly


def _split(n=300, seed=0):
  rng = np.random.default_rng(seed)
  return data_lib.ResidentSplit(rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
                        rng.integers(0, 10, n).astype(np.int32), 'train')


def _leaves(state):
  return [np.asarray(v) for v in jax.tree.leaves(jax.device_get((state['params'], state['rest'])))]


def _train(c, split, steps, where, k=5, calls=None):
  """`steps` steps of the trainer's step through a loop; calls: the lengths of the calls."""
  b = c.train.batch_size
  spe = len(split) // b
  parts = build(c, (28, 28, 1), 10, len(split))
  mesh = parallel.make_mesh()
  state = assembly.init_state(parts, mesh)
  seeds = tuple(m.seed for m in parts.members) or (c.seed,)
  if where == 'device':
    runner = loop.DeviceLoop(parts.step, mesh, split, b, spe, k, bool(parts.members))
  else:
    runner = loop.HostLoop(parts.step, mesh, split, b, spe, bool(parts.members))
  calls = calls or ([k] * (steps // k) + ([steps % k] if steps % k else []) if where == 'device'
                    else [1] * steps)
  step, ms, calls = 0, [], list(calls)
  while step < steps:
    n = min(calls.pop(0) if calls else 1, spe - step % spe)  # calls end at epoch ends
    state, m = runner.run(state, step, n, seeds)
    ms.append(runner.fetch(m, n))
    step += n
  assert step == steps
  return state, {key: np.concatenate([m[key] for m in ms]) for key in ms[0]}


@pytest.mark.parametrize('name', ['mnist', 'asge_mnist'])
def test_device_loop_equals_host_loop(name):
  c = load_config(name, 'tiny')
  split = _split()  # 6 steps per epoch: 14 steps cross two epoch ends
  dev, m_dev = _train(c, split, 14, 'device', k=4, calls=[4, 2, 4, 2, 2])
  host, m_host = _train(c, split, 14, 'host')
  for a, b in zip(_leaves(dev), _leaves(host)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
  np.testing.assert_allclose(m_dev['loss'], m_host['loss'], rtol=1e-4)


def test_the_epoch_order_is_drawn_from_seed_and_epoch():
  # What the device draws is what the host-fed loop (and data.batch_indices) uses.
  o = np.asarray(jax.jit(lambda s, e: data_lib.epoch_order(s, e, 300))(3, 2))
  np.testing.assert_array_equal(o, data_lib.epoch_order_host(3, 2, 300))
  assert sorted(o.tolist()) == list(range(300))


def test_a_call_compiles_once_whatever_its_length_and_start():
  c = load_config('asge_mnist', 'tiny')
  split = _split()
  parts = build(c, (28, 28, 1), 10, len(split))
  mesh = parallel.make_mesh()
  state = assembly.init_state(parts, mesh)
  # Two traces of the step: one (eval_shape, outside the call) for the shape of what a
  # skipped step returns, one when the call compiles; none for later calls.
  step = chex.assert_max_traces(parts.step, n=2)
  runner = loop.DeviceLoop(step, mesh, split, c.train.batch_size, 6, 4)
  for start, n in ((0, 4), (4, 2), (6, 3), (9, 1)):
    state, m = runner.run(state, start, n)
    runner.fetch(m, n)
  assert int(state['step']) == 10


def _data(tmp_path):
  return make_mnist_dir(tmp_path / 'data', n_train=500, n_test=100)


def _config(root, arg='tiny', **over):
  c = load_config('mnist', arg)
  c.data.dir, c.data.verify_md5, c.data.num_val, c.data.eval_limit = str(root), False, 100, 100
  c.train.num_epochs, c.train.steps_per_call, c.plots = 2, 3, False  # 8 steps per epoch
  for k, v in over.items():
    c.train[k] = v
  return c


def test_resume_in_the_middle_of_a_call_equals_uninterrupted(tmp_path):
  root = _data(tmp_path)
  c = _config(root)
  straight = train.train_and_evaluate(c, tmp_path / 'a')
  # Stopped at step 5: inside the second call of 3 (3 + 2), then resumed: the calls fall
  # elsewhere (5-7, 8 ...) but every step is the same.
  assert train.train_and_evaluate(c, tmp_path / 'b', stop_at_step=5) == {}
  assert readback.restore_run(tmp_path / 'b').state['step'] == 5
  resumed = train.train_and_evaluate(c, tmp_path / 'b')
  for a, b in zip(_leaves(readback.restore_run(tmp_path / 'a').state),
                  _leaves(readback.restore_run(tmp_path / 'b').state)):
    np.testing.assert_array_equal(a, b)
  assert resumed['val'] == straight['val']


@pytest.mark.slow
def test_the_trainer_chooses_the_device_loop_and_the_host_one_gives_the_same_run(tmp_path):
  root = _data(tmp_path)
  dev = train.train_and_evaluate(_config(root), tmp_path / 'dev')
  host = train.train_and_evaluate(_config(root, data_on_device='no'), tmp_path / 'host')
  # 16 Adam steps compiled two ways (a scan, a lone step): rounding apart, and Adam
  # amplifies it where a gradient is near zero.
  for a, b in zip(_leaves(readback.restore_run(tmp_path / 'dev').state),
                  _leaves(readback.restore_run(tmp_path / 'host').state)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
  assert abs(dev['val']['acc_linear'] - host['val']['acc_linear']) <= 0.02


# ----------------------------------------------------------------------------- populations


def test_population_members_from_seeds_and_a_grid():
  c = load_config('mnist', 'tiny')
  assert population.members(c) == []
  c.train.population.seeds = (0, 1)
  c.train.population.lr = (1e-3, 3e-4)
  ms = population.members(c)
  assert [m.path for m in ms] == ['lr0.001/seed0', 'lr0.001/seed1', 'lr0.0003/seed0', 'lr0.0003/seed1']
  mc = population.member_config(c, ms[3])
  assert mc.seed == 1 and mc.optim.lr == 3e-4 and mc.train.population.seeds == ()
  c.train.population.seeds = (0, 0)
  from ffjax import config_args
  with pytest.raises(config_args.ConfigError, match='same run'):
    population.members(c)


@pytest.mark.parametrize('name,grid', [('mnist', {'lr': (1e-3, 3e-3)}),
                                       ('asge_mnist', {'seeds': (0, 1)}),
                                       ('mnist', {'K': (0.35, 0.2)})])
def test_a_member_equals_the_single_run_it_stands_for(name, grid):
  c = load_config(name, 'tiny')
  for k, v in grid.items():
    c.train.population[k] = v
  split = _split()
  pop, m_pop = _train(c, split, 8, 'device', k=4)
  members = population.members(c)
  assert len(members) == 2
  for i, m in enumerate(members):
    single, m_single = _train(population.member_config(c, m), split, 8, 'device', k=4)
    for a, b in zip(_leaves(assembly.member_state(pop, i)), _leaves(single)):
      # vmapped members reduce in another order: after 8 steps a weight can differ by
      # ~2e-5 (jax 0.10.2); a wrong member differs by the weights themselves (~1e-2)
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-5, err_msg=m.path)
    np.testing.assert_allclose(m_pop['loss'][:, i], m_single['loss'], rtol=1e-4)


@pytest.mark.slow
def test_a_population_run_writes_every_member_like_a_sweep(tmp_path):
  root = _data(tmp_path)
  c = _config(root, arg='tiny,seeds=2')
  recs = train.train_and_evaluate(c, tmp_path / 'pop')
  assert set(recs) == {'default/seed0', 'default/seed1'}
  for path in recs:
    d = tmp_path / 'pop' / path
    assert (d / 'eval.json').exists() and (d / 'metrics.jsonl').exists()
  # Member 1 is the single run with seed 1.
  single = train.train_and_evaluate(_config(root, arg='tiny,seed=1'), tmp_path / 'one')
  assert abs(single['val']['acc_linear'] - recs['default/seed1']['val']['acc_linear']) <= 0.02
  member = readback.restore_run(tmp_path / 'pop' / 'default' / 'seed1')
  for a, b in zip(_leaves(member.state), _leaves(readback.restore_run(tmp_path / 'one').state)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  from experiments import summarize
  rows = summarize.table(summarize.collect(tmp_path / 'pop'))
  assert rows[0]['setting'] == 'default' and rows[0]['seeds'] == 2
