"""Shared helpers: config loading, generated data in the official formats, the real data."""
from __future__ import annotations

import gzip
import importlib.util
import os
import pathlib
import struct

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_config(name: str, arg: str | None = None):
  """configs/<name>.py:get_config(arg), as the command line would."""
  spec = importlib.util.spec_from_file_location(f'cfg_{name}', REPO / 'configs' / f'{name}.py')
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg)


def real_data_dir():
  d = os.environ.get('FFJAX_DATA_DIR') or str(REPO.parent / 'shared' / 'data')
  return d if pathlib.Path(d, 'mnist').is_dir() else None


NO_DATA = 'real data not here'  # every real-data test's skip reason: counted at the end


# The longest files, longest first (the summed durations of the 120 slowest tests, by file,
# at b99d40e: docs/RESULTS.md 34). With `--dist loadfile` they are handed out first and the
# short ones fill in at the end: xdist's own order (most tests first) sent the one-test
# notebook and the two-test multiprocess runs last, and one worker ran alone for the last
# half minute. Speed only: a file missing here just runs after these.
LONG_FIRST = ('test_robust.py', 'test_recipes.py', 'test_loop.py', 'test_train.py',
              'test_stream_run.py', 'test_conv.py', 'test_multiprocess.py', 'test_notebook.py',
              'test_resnet.py', 'test_streamed.py', 'test_pipeline.py', 'test_mobilenet.py',
              'test_plots.py', 'test_scff.py', 'test_asge.py', 'test_probe.py', 'test_fetch.py')


def _loadfile(config) -> bool:
  """Under `--dist loadfile` (the controller), or in any xdist worker: workers collect, and
  the controller hands out files in their order (sorting under another mode is harmless)."""
  return getattr(config.option, 'dist', 'no') == 'loadfile' or hasattr(config, 'workerinput')


def pytest_configure(config):
  if _loadfile(config) and hasattr(config.option, 'loadscopereorder'):
    config.option.loadscopereorder = False  # files in collection order: LONG_FIRST below
  # One compilation cache for the session, this process and the runs it starts: the many
  # tiny runs compile the same functions (a third of a tiny subprocess run's time). Fresh
  # per session (under pytest's temporary folder), so no stale entry outlives a change.
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    import tempfile
    os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='ffjax-jit-cache-')
    os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
    os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'
    config._ffjax_jit_cache = os.environ['JAX_COMPILATION_CACHE_DIR']
  # No test fetches a dataset from the internet by accident (tests/test_fetch.py turns it
  # on, against its own server on 127.0.0.1).
  os.environ.setdefault('FFJAX_DOWNLOAD', '0')
  d = os.environ.get('FFJAX_DATA_DIR')
  if d and not pathlib.Path(d, 'mnist').is_dir():  # set, but wrong: say so, do not skip silently
    raise pytest.UsageError(f'FFJAX_DATA_DIR={d} holds no mnist/ folder: the real-data tests '
                            'would all be skipped (unset it to skip them knowingly)')


def pytest_collection_modifyitems(config, items):
  if _loadfile(config):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as they were


def pytest_unconfigure(config):
  d = getattr(config, '_ffjax_jit_cache', None)
  if d:
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
  skipped = [r for r in terminalreporter.stats.get('skipped', [])
             if NO_DATA in str(getattr(r, 'longrepr', ''))]
  if skipped:
    terminalreporter.write_line(
        f'{len(skipped)} tests skipped: {NO_DATA} (set FFJAX_DATA_DIR to the folder holding '
        'mnist/, fashion_mnist/, cifar10/ to run them)', yellow=True)


@pytest.fixture
def real_data():
  d = real_data_dir()
  if d is None:
    pytest.skip(NO_DATA)
  return d


def write_idx(path: pathlib.Path, arr: np.ndarray):
  """An IDX file (uint8), gzipped, as MNIST ships them."""
  path.parent.mkdir(parents=True, exist_ok=True)
  head = bytes([0, 0, 8, arr.ndim]) + b''.join(struct.pack('>I', d) for d in arr.shape)
  path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))


def write_cifar(path: pathlib.Path, x_NxHxWxC: np.ndarray, labels: list[np.ndarray]):
  """CIFAR binary records: label byte(s), then R, G, B planes."""
  path.parent.mkdir(parents=True, exist_ok=True)
  n = len(x_NxHxWxC)
  lab = np.stack(labels, 1).astype(np.uint8).reshape(n, -1)
  pix = x_NxHxWxC.transpose(0, 3, 1, 2).reshape(n, -1).astype(np.uint8)
  path.write_bytes(np.concatenate([lab, pix], 1).tobytes())


def learnable_images(rng, y, shape, num_classes):
  """Images whose class can be read off: a class-specific bright square plus noise."""
  h, w, c = shape
  x = rng.integers(0, 60, (len(y), h, w, c))
  side = int(np.ceil(np.sqrt(num_classes)))
  ch, cw = h // side, w // side
  for i, k in enumerate(y):
    r, q = divmod(int(k), side)
    x[i, r * ch:(r + 1) * ch, q * cw:(q + 1) * cw, :] = 255
  return x.astype(np.uint8)


def make_mnist_dir(root: pathlib.Path, name='mnist', n_train=600, n_test=200, seed=0):
  rng = np.random.default_rng(seed)
  for prefix, n in (('train', n_train), ('t10k', n_test)):
    y = rng.integers(0, 10, n)
    write_idx(root / name / f'{prefix}-images-idx3-ubyte.gz', learnable_images(rng, y, (28, 28, 1), 10)[..., 0])
    write_idx(root / name / f'{prefix}-labels-idx1-ubyte.gz', y)
  return root


def make_cifar100_dir(root: pathlib.Path, n_train=1000, n_test=200, seed=0):
  rng = np.random.default_rng(seed)
  for fname, n in (('train.bin', n_train), ('test.bin', n_test)):
    fine = rng.integers(0, 100, n)
    x = learnable_images(rng, fine, (32, 32, 3), 100)
    write_cifar(root / 'cifar100' / 'cifar-100-binary' / fname, x, [fine // 5, fine])
  return root


def make_cifar10_dir(root: pathlib.Path, n_train=1000, n_test=200, seed=0):
  """CIFAR-10 binary batches of learnable images (5 training batches and a test batch)."""
  rng = np.random.default_rng(seed)
  base = root / 'cifar10' / 'cifar-10-batches-bin'
  for i in range(5):
    y = rng.integers(0, 10, n_train // 5)
    write_cifar(base / f'data_batch_{i + 1}.bin', learnable_images(rng, y, (32, 32, 3), 10), [y])
  y = rng.integers(0, 10, n_test)
  write_cifar(base / 'test_batch.bin', learnable_images(rng, y, (32, 32, 3), 10), [y])
  return root


@pytest.fixture(scope='module')
def c10_dir(tmp_path_factory):
  """Generated CIFAR-10 files whose class is a bright square's position."""
  return make_cifar10_dir(tmp_path_factory.mktemp('c10'), n_train=1000, n_test=200)


def owners_by_unit(c, image_shape=(32, 32, 3), num_classes=10, batch=4, key=None, units=None):
  """{l: {(collection, unit index)}}: whose parameters get a nonzero gradient from unit
  l's own loss (loss_u<l+1> of the trainer's loss, step.loss_fn), for every unit with a
  loss (or those in `units`); and the same for the readout's loss under 'head' (with
  `units`, when it holds 'head'). Each
  gradient is jitted (what locality, or block-locality, allows to learn from each).
  Not jax.jacrev: jit(jacrev(...)) of a hybrid ASGE net (channel norm) returned nonzero
  rows where eager jacrev, jit(grad) and jax 0.12 give exact zeros (jax 0.10.2 / flax
  0.12.8, seen 2026-11-30)."""
  import jax
  import jax.numpy as jnp
  from flax import nnx
  from ffjax import method as method_lib, network, step
  net, method = method_lib.build(c, image_shape, num_classes, nnx.Rngs(0))
  graphdef, params, rest = step.split(net)
  x = jax.random.uniform(jax.random.key(1), (batch,) + tuple(image_shape))
  y = jnp.arange(batch) % num_classes
  obj_state = method.init_objective_state(network.unit_shapes(c, image_shape, activations=True))
  names = [f'loss_u{l + 1}' for l, o in enumerate(method.objectives)
           if o is not None and (units is None or l in units)]
  names += ['loss_head'] if method.readout is not None and (units is None or 'head' in units) else []
  k = jax.random.key(0) if key is None else key

  def metric(p, n):
    return step.loss_fn(p, rest, obj_state, x, y, k, method=method, graphdef=graphdef)[1][0][n]

  grad = jax.jit(jax.grad(metric), static_argnums=1)
  out = {}
  for n in names:
    key_ = 'head' if n == 'loss_head' else int(n[len('loss_u'):]) - 1
    out[key_] = {(path[0].key, path[1].key if path[0].key in ('units', 'aux') else None)
                 for path, v in jax.tree_util.tree_leaves_with_path(grad(params, n))
                 if float(jnp.abs(v).sum()) > 0}
  return out


def loss_owners(c, net, l, image_shape=(32, 32, 3)):
  """(collection, unit) pairs whose parameters get a nonzero gradient from unit l's own
  one-pass loss: what locality (or block-locality) allows to learn from it."""
  return {o for o in owners_by_unit(c, image_shape, units=(l,))[l] if o[0] in ('units', 'aux')}


def param_layout(net):
  """[(path, shape)] of a network's state: equal layouts load each other's checkpoints."""
  import jax
  from flax import nnx
  state = nnx.state(net)
  return [(jax.tree_util.keystr(p), np.shape(v)) for p, v in jax.tree_util.tree_leaves_with_path(state)]


def build(config, image_shape=(28, 28, 1), num_classes=10, num_train=None):
  """The trainer's parts for config (train.build), as a run on num_train images makes them."""
  from ffjax import assembly
  n = num_train or config.train.batch_size * 10
  return assembly.build(config, image_shape, num_classes, n)


def trainer_step(config, image_shape=(28, 28, 1), num_classes: int = 10, num_train=None):
  """(parts, state, step): the trainer's parts, a fresh state (replicated on the mesh)
  and its jitted step taking host batches: step(state, x_u8, y) -> (state, metrics)."""
  from ffjax import loop, parallel
  from ffjax import assembly
  parts = build(config, image_shape, num_classes, num_train)
  mesh = parallel.make_mesh()
  state = assembly.init_state(parts, mesh)
  jitted = loop.HostLoop(parts.step, mesh, None, 1, 1)._step
  return parts, state, lambda st, x, y: jitted(st, *parallel.put_batch(mesh, x, y))


def train_steps(config, x, y, n: int = 2, image_shape=(28, 28, 1), num_classes: int = 10):
  """The trainer's own jitted step, n times on one batch, from a fresh state. Returns
  (initial variable leaves, copied: the step donates its state), the final leaves of
  every network variable (parameters and the rest), and each step's metrics."""
  import jax
  _, state, step = trainer_step(config, image_shape, num_classes)
  p0 = [np.array(p) for p in jax.tree.leaves((state['params'], state['rest']))]
  metrics = []
  for _ in range(n):
    state, m = step(state, x, y)
    metrics.append(m)
  return p0, jax.tree.leaves((state['params'], state['rest'])), metrics
