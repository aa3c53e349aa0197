"""Training throughput of the jitted step, one JSON line per config.

  python -m benchmarks.throughput configs/mnist.py:cpu configs/mnist.py:cpu,method=bp configs/mnist_mlp.py

Random uint8 images of the config's dataset shape (no files needed); after warm-up
(compilation), `--repeats` timings of `--steps` steps each; the median is reported.
images/s counts input images (an FF step also runs each as negative and neutral).

FLOPs: XLA's count for the compiled step (`cost_analysis`: every op it runs, the
convolutions and products dominate), so tflops = what the step achieved. It is set
against two peaks: the data sheet's for known GPUs (dense; float32 runs against TF32,
which XLA uses for float32 convolutions and products on these GPUs by default), and a
large matrix product's in the step's dtype measured in the same run (`matmul_tflops`,
what this device reaches in practice; on a CPU the only peak given).
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

# Dense tensor-core peaks, TFLOP/s per device (NVIDIA data sheets, SXM parts).
PEAK_TFLOPS = {'H100': {'float32': 494.7, 'bfloat16': 989.4},
               'H200': {'float32': 494.7, 'bfloat16': 989.4}}


def datasheet_peak(device_kind: str, dtype: str):
  for name, peaks in PEAK_TFLOPS.items():
    if name in device_kind and 'PCIe' not in device_kind:
      return peaks[dtype]
  return None


def matmul_tflops(dtype: str, repeats: int = 5) -> float:
  """TFLOP/s of a large square matrix product in dtype on the default device."""
  import jax.numpy as jnp
  n = 8192 if jax.default_backend() == 'gpu' else 1536
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
  f = jax.jit(lambda a: a @ a)
  jax.block_until_ready(f(a))
  med, _ = timed(lambda: jax.block_until_ready(f(a)), repeats)
  return 2 * n ** 3 / med / 1e12


def step_flops(step, *args) -> float:
  """XLA's FLOP count of one compiled call."""
  ca = step.lower(*args).compile().cost_analysis()
  ca = ca[0] if isinstance(ca, (list, tuple)) else ca
  return float(ca.get('flops', 0.)) if ca else 0.


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
  t0 = time.perf_counter()  # compile_s: lowering, compiling (once) and the first step
  flops = step_flops(step, state, *batches[0])
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
              spread=spread, gflop_per_step=flops / 1e9, tflops=flops * steps / med / 1e12)


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--steps', type=int, default=20)
  ap.add_argument('--repeats', type=int, default=5)
  ap.add_argument('--batch', type=int, default=0, help="train.batch_size (default: the config's)")
  a = ap.parse_args()
  dev = jax.devices()[0]
  peaks = {}
  for spec in a.configs:
    config = load(spec)
    if a.batch:
      config.train.batch_size = a.batch
    dtype = config.model.get('dtype', 'float32')
    r = measure(config, a.steps, a.repeats)
    if dtype not in peaks:
      peaks[dtype] = matmul_tflops(dtype)
    sheet = datasheet_peak(dev.device_kind, dtype)
    r.update(matmul_tflops=peaks[dtype], fraction_of_matmul=r['tflops'] / peaks[dtype])
    if sheet:
      r.update(peak_tflops=sheet, fraction_of_peak=r['tflops'] / sheet)
    print(json.dumps({'config': spec, 'method': config.method, 'batch_size': config.train.batch_size,
                      'dtype': dtype, 'device': f'{dev.platform}:{dev.device_kind} x{jax.device_count()}',
                      'host': platform.node(), 'jax': jax.__version__,
                      **{k: round(v, 4) for k, v in r.items()}}), flush=True)


if __name__ == '__main__':
  main()
