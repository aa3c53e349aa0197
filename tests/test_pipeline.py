"""Unit-parallel pipelining: stage s trains on batch t - s at call t; the result is the
stream trained stage after stage, on 4 (forced CPU) devices as on one."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import REPO, load_config
from ffjax import config_args, data as data_lib, parallel, pipeline, train


def _config():
  c = load_config('asge_mnist', 'tiny')  # 6 units, ASGE heads
  c.optim.schedule = 'constant'  # the same lr whatever each side takes as total steps
  config_args.validate(c)
  return c


def _batches(c, n):
  rng = np.random.default_rng(0)
  return [(rng.integers(0, 255, (c.train.batch_size, 28, 28, 1), dtype=np.uint8),
           rng.integers(0, 10, c.train.batch_size).astype(np.int32)) for _ in range(n)]


def _leaves(net):
  return [np.asarray(v) for v in jax.tree.leaves(nnx.state(net, nnx.Param))]


def test_one_stage_is_the_trainers_step():
  c = _config()
  batches = _batches(c, 3)
  pipe = pipeline.Pipeline(c, (28, 28, 1), 10, jax.devices()[:1], total_steps=30)
  for x, y in batches:
    pipe.step(x, y)
  pipe.flush()
  tr = data_lib.Split(batches[0][0], batches[0][1], 'train')
  mesh = parallel.make_mesh()
  s = train.init_state(c, data_lib.Dataset('mnist', 10, tr, None, tr), mesh)
  step = train.make_train_step(c, s['encoder'], s['graphdef'], s['tx'], mesh, s['trained'])
  state = s['state']
  for x, y in batches:
    state, _ = step(state, *parallel.put_batch(mesh, x, y))
  ref = nnx.merge(s['graphdef'], jax.device_get(state['params']))
  for a, b in zip(_leaves(pipe.network()), _leaves(ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_pipelined_equals_training_stage_after_stage():
  c = _config()
  batches = _batches(c, 4)
  dev = jax.devices()[0]
  pipe = pipeline.Pipeline(c, (28, 28, 1), 10, [dev] * 3, total_steps=30)
  assert pipe.bounds == [(0, 2), (2, 4), (4, 6)]
  seen = []
  for x, y in batches:
    m = pipe.step(x, y)
    seen.append(sorted(k for k in m if k.startswith('loss_u')))
  assert seen[0] == ['loss_u1', 'loss_u2'] and seen[1] == [f'loss_u{i}' for i in (1, 2, 3, 4)]
  assert seen[2] == [f'loss_u{i}' for i in range(1, 7)]  # filled: every stage busy
  pipe.flush()
  # Reference: stage 0 over the whole stream (recording its outputs), then stage 1 on
  # those, then stage 2: what the pipeline must equal, batch for batch.
  ref = pipeline.Pipeline(c, (28, 28, 1), 10, [dev] * 3, total_steps=30)
  stream = [(x, y, t) for t, (x, y) in enumerate(batches)]
  for s in range(3):
    out = []
    for h, y, t in stream:
      ref.params[s], ref.opt[s], h_out, _ = ref.steps[s](ref.params[s], ref.opt[s], h, y, np.int32(t))
      out.append((h_out, y, t))
    stream = out
  for a, b in zip(_leaves(pipe.network()), _leaves(ref.network())):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unsupported_configs_are_refused():
  c = load_config('resnet18_cifar10', 'tiny')
  with pytest.raises(config_args.ConfigError, match='skips'):
    pipeline.check(c)
  with pytest.raises(config_args.ConfigError, match='one-pass'):
    pipeline.check(load_config('mnist', 'tiny'))
  with pytest.raises(config_args.ConfigError, match='stages'):
    pipeline.stage_bounds(4, 5)


SCRIPT = r'''
import sys, jax, numpy as np
sys.path.insert(0, 'tests')
from test_pipeline import _config, _batches, _leaves
from ffjax import pipeline
c = _config()
batches = _batches(c, 5)
out = []
for devs in (jax.devices()[:4], [jax.devices()[0]] * 4):
  pipe = pipeline.Pipeline(c, (28, 28, 1), 10, devs, total_steps=30)
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


def test_four_devices_equal_one_device():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4', JAX_PLATFORMS='cpu')
  r = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'placed 4' in r.stdout and 'placed 1' in r.stdout  # 4 devices used, then 1
  assert 'same' in r.stdout
