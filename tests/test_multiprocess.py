"""Multi-process training on JAX's distributed runtime: 2 processes on this machine
(CPU collectives over gloo) train to the parameters of 1 process with 2 devices."""
import pytest
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from conftest import REPO, make_mnist_dir

pytestmark = pytest.mark.slow  # subprocesses: the full suite only


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _cmd(data_dir, workdir, *extra):
  return [sys.executable, '-m', 'experiments.main', '--config=configs/mnist.py:tiny',
          f'--config.data.dir={data_dir}', '--config.data.verify_md5=False', '--config.data.num_val=200',
          '--config.data.eval_limit=200', '--config.train.batch_size=40',
          '--config.train.eval_batch_size=100', '--config.train.num_epochs=1',
          f'--workdir={workdir}', *extra]


def _params(workdir):
  from ffjax import readback
  state = readback.restore_run(workdir).state
  return [np.asarray(x) for x in jax.tree.leaves(state['params'])], int(state['step'])


def test_two_processes_equal_one_process_with_two_devices(tmp_path):
  data_dir = make_mnist_dir(tmp_path / 'data', n_train=600, n_test=200)
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  port = _free_port()
  procs = [subprocess.Popen(_cmd(data_dir, tmp_path / 'multi', f'--coordinator=localhost:{port}',
                                 '--num_processes=2', f'--process_id={i}'),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert 'final val' in outs[0][0] and 'final val' not in outs[1][0]  # process 0 reports
  env2 = dict(env, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  r = subprocess.run(_cmd(data_dir, tmp_path / 'single'), cwd=REPO, env=env2,
                     capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  multi, step_m = _params(tmp_path / 'multi')
  single, step_s = _params(tmp_path / 'single')
  assert step_m == step_s == 10 and len(multi) == len(single) > 3
  for a, b in zip(multi, single):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  # ... and the same evaluation (every process computes it; process 0 writes it).
  import json
  ev_m = json.loads((tmp_path / 'multi' / 'eval.json').read_text())
  ev_s = json.loads((tmp_path / 'single' / 'eval.json').read_text())
  assert ev_m['val']['acc_linear'] == ev_s['val']['acc_linear']


def test_two_processes_streaming_a_folder_equal_one_process_with_two_devices(tmp_path):
  # Each process decodes only its devices' rows of every batch (parallel.process_rows),
  # in training and in evaluation; together they are one process's two devices.
  pytest.importorskip('simplejpeg')
  from test_stream import make_tree
  tree = make_tree(tmp_path / 'tree', classes=6, per_class=8, val_per_class=2, learnable=True)
  cmd = lambda wd, *extra: [
      sys.executable, '-m', 'experiments.main',
      '--config=configs/asge_imagenet.py:tiny,dataset=folder,classes=6,epochs=1',
      f'--config.data.dir={tree}', '--config.train.batch_size=16',
      '--config.train.eval_batch_size=8', '--config.data.workers=1', f'--workdir={wd}', *extra]
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  port = _free_port()
  procs = [subprocess.Popen(cmd(tmp_path / 'multi', f'--coordinator=localhost:{port}',
                                '--num_processes=2', f'--process_id={i}'),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  for p in procs:
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
  env2 = dict(env, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  r = subprocess.run(cmd(tmp_path / 'single'), cwd=REPO, env=env2, capture_output=True, text=True,
                     timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  multi, step_m = _params(tmp_path / 'multi')
  single, step_s = _params(tmp_path / 'single')
  assert step_m == step_s == 3
  for a, b in zip(multi, single):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  import json
  ev = [json.loads((tmp_path / n / 'eval.json').read_text())['test'] for n in ('multi', 'single')]
  assert ev[0] == ev[1]
