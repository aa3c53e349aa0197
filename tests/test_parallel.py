"""Data parallelism: 4 (forced CPU) devices give the parameters of 1 device."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, real_data_dir

pytestmark = pytest.mark.slow  # subprocesses: the full suite only

SCRIPT = r'''
import sys, jax, numpy as np
sys.path.insert(0, 'tests')
from conftest import load_config
from ffjax import train, parallel
c = load_config('mnist', 'tiny')
c.data.dir, c.data.train_limit, c.data.eval_limit = sys.argv[2], 400, 200
c.train.batch_size, c.train.eval_batch_size, c.train.num_epochs = 40, 100, 1
rec = train.train_and_evaluate(c, sys.argv[1])
from ffjax import checkpoint
ck = checkpoint.Checkpointer(sys.argv[1] + '/checkpoints')
import orbax.checkpoint as ocp
tree = ocp.PyTreeCheckpointer().restore(sys.argv[1] + '/checkpoints/10/default')
leaves = [np.asarray(l) for l in jax.tree.leaves(tree['params'])]
np.savez(sys.argv[1] + '/params.npz', *leaves, acc=rec['val']['acc_linear'])
print('devices', len(jax.devices()), parallel.make_mesh().size)
'''


def _run(tmp, n):
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={n}', JAX_PLATFORMS='cpu')
  r = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp), real_data_dir()], cwd=REPO, env=env,
                     capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  assert f'devices {n} {n}' in r.stdout
  return np.load(tmp / 'params.npz')


def test_four_devices_equal_one(tmp_path):
  if real_data_dir() is None:
    pytest.skip('real data not here')
  one = _run(tmp_path / 'one', 1)
  four = _run(tmp_path / 'four', 4)
  assert len(one.files) == len(four.files) > 3
  for k in one.files:
    # Same math; only the order of the gradient sums across devices differs.
    np.testing.assert_allclose(one[k], four[k], rtol=2e-4, atol=2e-6)
