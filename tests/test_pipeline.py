"""Unit-parallel pipelining: stage s trains on batch t - s at call t; the result is the
stream trained stage after stage, on 4 (forced CPU) devices as on one; stages balanced
by FLOPs and never cut inside a residual block."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import REPO, load_config, trainer_step
from ffjax import config_args, pipeline
from ffjax import method as method_lib


def _config(name='asge_mnist', arg='tiny'):
  c = load_config(name, arg)  # asge_mnist: 6 units, ASGE heads
  c.optim.schedule = 'constant'  # the same lr whatever each side takes as total steps
  config_args.validate(c)
  return c


def _batches(c, n, shape=(28, 28, 1)):
  rng = np.random.default_rng(0)
  return [(rng.integers(0, 255, (c.train.batch_size,) + shape, dtype=np.uint8),
           rng.integers(0, 10, c.train.batch_size).astype(np.int32)) for _ in range(n)]


def _leaves(net):
  return [np.asarray(v) for v in jax.tree.leaves(nnx.state(net, nnx.Param))]


def _pipe(c, shape, devices, total_steps=30):
  net, method = method_lib.build(c, shape, 10, nnx.Rngs(c.seed))
  return pipeline.Pipeline(c, net, method, devices, total_steps)


# ASGE; a residual net with batch norm (ResNet-18's blocks: skips, projections).
CASES = [('asge_mnist', 'tiny', (28, 28, 1), 'mnist'),
         ('resnet18_cifar10', 'tiny', (32, 32, 3), 'cifar10')]


@pytest.mark.slow
# ResNet's residual blocks are in the stage-after-stage test below (CI time: each ResNet
# case compiles for ~40 s on 2 cores).
@pytest.mark.parametrize('name,arg,shape,ds', CASES[:1] + [('asge_mnist', 'tiny,method=hybrid', (28, 28, 1), 'mnist')])
def test_one_stage_is_the_trainers_step(name, arg, shape, ds):
  c = _config(name, arg)
  batches = _batches(c, 3, shape)
  pipe = _pipe(c, shape, jax.devices()[:1])
  for x, y in batches:
    pipe.step(x, y)
  pipe.flush()
  parts, state, step = trainer_step(c, shape, num_train=30 * c.train.batch_size // c.train.num_epochs)
  for x, y in batches:
    state, _ = step(state, x, y)
  ref = nnx.merge(parts.graphdef, *jax.device_get((state['params'], state['rest'])))
  every = lambda net: [np.asarray(v) for v in jax.tree.leaves(nnx.state(net))]  # + BN statistics
  for a, b in zip(every(pipe.network()), every(ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize('name,arg,shape,ds', CASES)
def test_pipelined_equals_training_stage_after_stage(name, arg, shape, ds):
  c = _config(name, arg)
  batches = _batches(c, 4, shape)
  dev = jax.devices()[0]
  pipe = _pipe(c, shape, [dev] * 3)
  first = [a for a, _ in pipe.bounds]
  skips = pipe.network().skips
  _, method = method_lib.build(c, shape, 10, nnx.Rngs(0))
  assert pipe.bounds == pipeline.stage_bounds(pipeline.unit_flops(c, shape), 3,
                                              pipeline.allowed_starts(pipe.network(), method))
  # (ASGE tiny: the pooled units are cheap, [(0, 1), (1, 2), (2, 6)]); no skip reaches
  # across a stage boundary
  assert len(first) == 3 and all(skips[l] < 0 or skips[l] >= a for a, b in pipe.bounds for l in range(a, b))
  seen = []
  for x, y in batches:
    m = pipe.step(x, y)  # {batch: metrics of the stages that ran on it}
    seen.append(sorted(int(k[6:]) for mt in m.values() for k in mt if k.startswith('loss_u')))
  b1, b2 = pipe.bounds[0][1], pipe.bounds[1][1]
  assert seen[0] == list(range(1, b1 + 1)) and seen[1] == list(range(1, b2 + 1))
  assert seen[2] == list(range(1, len(c.model.widths) + 1))  # filled: every stage busy
  pipe.flush()
  # Reference: stage 0 over the whole stream (recording its outputs), then stage 1 on
  # those, then stage 2: what the pipeline must equal, batch for batch.
  ref = _pipe(c, shape, [dev] * 3)
  ref.steps = pipe.steps  # the same jitted stage steps (pure functions): compiled once
  stream = [(x, y, t) for t, (x, y) in enumerate(batches)]
  for s in range(3):
    out = []
    for h, y, t in stream:
      key = jax.random.fold_in(jax.random.key(c.seed), t)
      (ref.params[s], ref.rest[s], ref.opt[s], ref.obj[s], h_out, _) = ref.steps[s](
          ref.params[s], ref.rest[s], ref.opt[s], ref.obj[s], h, y, key)
      out.append((h_out, y, t))
    stream = out
  for a, b in zip(_leaves(pipe.network()), _leaves(ref.network())):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_stages_balance_flops_and_respect_blocks():
  assert pipeline.stage_bounds(6, 3) == [(0, 2), (2, 4), (4, 6)]  # equal costs: equal sizes
  # A costly first unit gets a stage of its own; the slowest stage is as fast as can be.
  assert pipeline.stage_bounds([8, 1, 1, 1, 1, 4], 3) == [(0, 1), (1, 5), (5, 6)]
  assert pipeline.stage_bounds([8, 1, 1, 1, 1, 4], 3, starts=[2, 4]) == [(0, 2), (2, 4), (4, 6)]
  # The FLOPs come from the config: a 7x7 unit on a 28x28 map, 3x3 ones on 14x14.
  c = load_config('mnist', 'tiny')
  c.model.widths, c.model.kernels, c.model.pools = (16, 16, 16), (7, 3, 3), (2, 1, 1)
  f = pipeline.unit_flops(c, (28, 28, 1))
  assert f == [2. * 28 * 28 * 49 * 1 * 16, 2. * 14 * 14 * 9 * 16 * 16, 2. * 14 * 14 * 9 * 16 * 16]
  # ResNet-18: a stage may start only where no skip crosses: at a block's first unit.
  r = _config('resnet18_cifar10', 'tiny')
  net, method = method_lib.build(r, (32, 32, 3), 10, nnx.Rngs(0))
  starts = pipeline.allowed_starts(net, method)
  assert starts and all(r.model.skips[c_] < 0 for c_ in starts)
  hyb = method_lib.build(_config('asge_mnist', 'tiny,method=hybrid'), (28, 28, 1), 10, nnx.Rngs(0))
  assert pipeline.allowed_starts(*hyb) == [2, 4]  # hybrid: whole backprop blocks of 2 units
  assert all(r.model.skips[l] < 0 or not any(r.model.skips[l] < s_ <= l for s_ in starts)
             for l in range(len(net.units)))


def test_unsupported_configs_are_refused():
  with pytest.raises(config_args.ConfigError, match='one-pass'):
    pipeline.check(load_config('mnist', 'tiny'))
  with pytest.raises(config_args.ConfigError, match='method'):
    pipeline.check(load_config('asge_mnist', 'tiny,method=bp'))
  with pytest.raises(config_args.ConfigError, match='stages'):
    pipeline.stage_bounds(4, 5)


SCRIPT = r'''
import sys, jax, numpy as np
sys.path.insert(0, 'tests')
from test_pipeline import _config, _batches, _leaves, _pipe
c = _config()
batches = _batches(c, 5)
out = []
for devs in (jax.devices()[:4], [jax.devices()[0]] * 4):
  pipe = _pipe(c, (28, 28, 1), devs)
  for x, y in batches:
    pipe.step(x, y)
  pipe.flush()
  placed = sorted({str(next(iter(l.devices()))) for p in pipe.params for l in jax.tree.leaves(p)})
  out.append(_leaves(pipe.network()))
  print('placed', len(placed))
for a, b in zip(*out):
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
print('same', len(out[0]))
'''


@pytest.mark.slow
def test_four_devices_equal_one_device():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4', JAX_PLATFORMS='cpu')
  r = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'placed 4' in r.stdout and 'placed 1' in r.stdout  # 4 devices used, then 1
  assert 'same' in r.stdout
