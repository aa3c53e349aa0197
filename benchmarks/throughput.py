"""Training throughput of the jitted step, one JSON line per config.

  python -m benchmarks.throughput configs/mnist.py:cpu configs/mnist.py:cpu,method=bp configs/mnist_mlp.py

Random uint8 images of the config's dataset shape (no files needed); after warm-up
(compilation), `--repeats` timings of `--steps` steps each; the median is reported.
images/s counts input images (an FF step also runs each as negative and neutral).
"""
import argparse
import importlib.util
import json
import platform
import statistics
import time

import jax
import numpy as np

from ffjax import data, parallel, train


def load(spec: str):
  path, _, arg = spec.partition(':')
  m = importlib.util.spec_from_file_location('cfg', path)
  mod = importlib.util.module_from_spec(m)
  m.loader.exec_module(mod)
  return mod.get_config(arg or None)


def timed(run, repeats: int):
  """(median seconds, spread) of `repeats` calls of run(), which must finish its work
  (block) before returning; spread = (max - min) / median."""
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
  med = statistics.median(times)
  return med, (max(times) - min(times)) / med


def measure(config, steps: int, repeats: int):
  k, h, w, c, _, _ = data.DATASETS[config.data.name]
  bsz = config.train.batch_size
  rng = np.random.default_rng(0)
  n = bsz * 4
  split = data.Split(rng.integers(0, 256, (n, h, w, c), dtype=np.uint8),
                     rng.integers(0, k, n).astype(np.int32), 'train')
  ds = data.Dataset(config.data.name, k, split, None, split)
  mesh = parallel.make_mesh()
  s = train.init_state(config, ds, mesh)
  step = train.make_train_step(config, s['encoder'], s['graphdef'], s['tx'], mesh, s['trained'])
  batches = [parallel.put_batch(mesh, split.x[i * bsz:(i + 1) * bsz], split.y[i * bsz:(i + 1) * bsz])
             for i in range(4)]
  state = s['state']
  t0 = time.perf_counter()
  state, m = step(state, *batches[0])
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t0
  for i in range(2):
    state, m = step(state, *batches[i % 4])
  jax.block_until_ready(m)

  def run():
    nonlocal state
    for i in range(steps):
      state, m = step(state, *batches[i % 4])
    jax.block_until_ready((state, m))

  med, spread = timed(run, repeats)
  return dict(images_per_sec=steps * bsz / med, step_ms=1e3 * med / steps, compile_s=compile_s,
              spread=spread)


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--steps', type=int, default=20)
  ap.add_argument('--repeats', type=int, default=5)
  a = ap.parse_args()
  dev = jax.devices()[0]
  for spec in a.configs:
    config = load(spec)
    r = measure(config, a.steps, a.repeats)
    print(json.dumps({'config': spec, 'method': config.method, 'batch_size': config.train.batch_size,
                      'device': f'{dev.platform}:{dev.device_kind} x{jax.device_count()}',
                      'host': platform.node(), 'jax': jax.__version__,
                      **{k: round(v, 4) for k, v in r.items()}}), flush=True)


if __name__ == '__main__':
  main()
