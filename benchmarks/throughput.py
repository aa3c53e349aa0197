"""Training throughput of the jitted step and of the training loop, one JSON line per config.

  python -m benchmarks.throughput configs/mnist.py:cpu configs/mnist.py:cpu,method=bp configs/mnist_mlp.py
  python -m benchmarks.throughput configs/mnist.py:bf16 --population 5   # 5 seeds at once

Random uint8 images of the config's dataset shape (no files needed); after warm-up
(compilation), `--repeats` timings of `--steps` steps each; the median is reported.
images/s counts input images (an FF step also runs each as negative and neutral);
page_faults_per_step and sys_ms_per_step: what the process spent mapping memory a step;
max_rss_mb: its peak resident memory by the end of the timing.
The step (`images_per_sec`) is timed on batches already on the device; the loop
(`device_loop_*`, `host_loop_*`) as the trainer runs it (ffjax/loop.py): from data
resident on the device with steps_per_call steps per call, or from the host, one batch
copied per step. `*_fraction_of_step` is the loop's speed over the step's. With
--population S, images/s count every member's images, `*_per_member` one member's.

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
import os
import platform
import resource
import statistics
import sys
import time

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from ffjax import assembly, cpu_options, data, loop, malloc_options, parallel

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
  """XLA's FLOP count of one call, of the program as traced: the compiled program's count
  is -1 under XLA:CPU's oneDNN options (its rewrites hide the FLOPs of what they replace);
  optimization removes dead code but changes no convolution's or product's count."""
  ca = step.lower(*args).cost_analysis()
  ca = ca[0] if isinstance(ca, (list, tuple)) else ca
  return float(ca.get('flops', 0.)) if ca else 0.


def load(spec: str):
  path, _, arg = spec.partition(':')
  m = importlib.util.spec_from_file_location('cfg', path)
  mod = importlib.util.module_from_spec(m)
  m.loader.exec_module(mod)
  return mod.get_config(arg or None)


def apply_config_options(configs) -> None:
  """Each config's own XLA:CPU options (ffjax/cpu_options.py, BY_CONFIG), as a run of it
  sets them, before the backend starts: one set per process, so configs that want
  different ones are measured with ffjax's common options only (said on stderr)."""
  wanted = {cpu_options.for_config(c) for c in configs}
  if len(wanted) == 1:
    cpu_options.apply_for(configs[0])
  else:
    print(f'note: these configs want different XLA:CPU options ({sorted(wanted)}): measured '
          'with the common options only; one config per process measures each as it runs',
          file=sys.stderr)


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


def _setup(config, n_batches: int = 4):
  """Random uint8 images of the config's dataset shape (no files needed), the run's
  parts and a fresh state."""
  k, h, w, c = data.shape_of(config.data)
  bsz = config.train.batch_size
  rng = np.random.default_rng(0)
  n = bsz * n_batches
  split = data.ResidentSplit(rng.integers(0, 256, (n, h, w, c), dtype=np.uint8),
                     rng.integers(0, k, n).astype(np.int32), 'train')
  parts = assembly.build(config, (h, w, c), k, n)
  mesh = parallel.make_mesh()
  return split, parts, mesh, assembly.init_state(parts, mesh)


def measure(config, steps: int, repeats: int):
  """The jitted step alone, on batches already on the device."""
  split, parts, mesh, state = _setup(config)
  bsz = config.train.batch_size
  members = len(parts.members) or 1
  step = loop.HostLoop(parts.step, mesh, split, bsz, 4, bool(parts.members))._step
  spec = P(None, 'data') if parts.members else P('data')
  stack = (lambda a: np.stack([a] * members)) if parts.members else (lambda a: a)
  batches = [(parallel.put(mesh, stack(split.x[i * bsz:(i + 1) * bsz]), spec),
              parallel.put(mesh, stack(split.y[i * bsz:(i + 1) * bsz]), spec)) for i in range(4)]
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

  r0 = resource.getrusage(resource.RUSAGE_SELF)
  med, spread = timed(run, repeats)
  r1 = resource.getrusage(resource.RUSAGE_SELF)
  ips = steps * bsz * members / med
  n = steps * repeats
  # Page faults and system CPU time a step: memory the step maps and faults in anew
  # (ffjax/malloc_options.py; every thread of the process, all repeats).
  return dict(images_per_sec=ips, images_per_sec_per_member=ips / members,
              step_ms=1e3 * med / steps, compile_s=compile_s, spread=spread,
              gflop_per_step=flops / 1e9, tflops=flops * steps / med / 1e12,
              page_faults_per_step=(r1.ru_minflt - r0.ru_minflt) / n,
              sys_ms_per_step=1e3 * (r1.ru_stime - r0.ru_stime) / n,
              max_rss_mb=r1.ru_maxrss / 1024)  # the process's peak so far (Linux: KiB)


def measure_loop(config, steps: int, repeats: int, where: str):
  """The training loop as the trainer runs it: 'device' (data resident, steps_per_call
  steps per call, order and gather on the device) or 'host' (a batch gathered on the
  host and copied per step). images/s of training, compilation excluded."""
  spe = max(steps, 4)
  split, parts, mesh, state = _setup(config, n_batches=spe)
  bsz = config.train.batch_size
  members = len(parts.members) or 1
  seeds = tuple(m.seed for m in parts.members) or (config.seed,)
  if where == 'device':
    k = assembly.steps_per_call(config)
    runner = loop.DeviceLoop(parts.step, mesh, split, bsz, spe, k, bool(parts.members))
  else:
    k, runner = 1, loop.HostLoop(parts.step, mesh, split, bsz, spe, bool(parts.members))
  state, m = runner.run(state, 0, min(k, spe), seeds)
  jax.block_until_ready(runner.fetch(m, 1))
  pos = {'step': min(k, spe)}

  def run():
    nonlocal state
    done = 0
    while done < steps:
      n = min(k, steps - done, spe - pos['step'] % spe)
      state, m = runner.run(state, pos['step'], n, seeds)
      pos['step'] += n
      done += n
    runner.fetch(m, 1)  # waits for the last call

  med, spread = timed(run, repeats)
  ips = steps * bsz * members / med
  return {f'{where}_loop_images_per_sec': ips, f'{where}_loop_images_per_sec_per_member': ips / members,
          f'{where}_loop_spread': spread, f'{where}_loop_steps_per_call': k}


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--steps', type=int, default=20)
  ap.add_argument('--repeats', type=int, default=5)
  ap.add_argument('--batch', type=int, default=0, help="train.batch_size (default: the config's)")
  ap.add_argument('--loop', default='device,host',
                  help="also time the training loop: 'device', 'host', both (default) or 'none'")
  ap.add_argument('--population', type=int, default=0,
                  help='S > 0: a population of S seeds (train.population), images/s per member too')
  ap.add_argument('--loop_steps', type=int, default=0,
                  help='steps per timed loop run (default: 4 calls of the device loop)')
  a = ap.parse_args()
  configs = [load(spec) for spec in a.configs]
  apply_config_options(configs)
  dev = jax.devices()[0]
  peaks = {}
  for spec, config in zip(a.configs, configs):
    if a.batch:
      config.train.batch_size = a.batch
    if a.population:
      config.train.population.seeds = tuple(range(config.seed, config.seed + a.population))
    dtype = config.model.get('dtype', 'float32')
    r = measure(config, a.steps, a.repeats)
    for where in a.loop.split(',') if a.loop != 'none' else ():
      n = a.loop_steps or 4 * assembly.steps_per_call(config)
      r.update(measure_loop(config, n, a.repeats, where))
      r[f'{where}_loop_fraction_of_step'] = r[f'{where}_loop_images_per_sec'] / r['images_per_sec']
    if dtype not in peaks:
      peaks[dtype] = matmul_tflops(dtype)
    sheet = datasheet_peak(dev.device_kind, dtype)
    r.update(matmul_tflops=peaks[dtype], fraction_of_matmul=r['tflops'] / peaks[dtype])
    if sheet:
      r.update(peak_tflops=sheet, fraction_of_peak=r['tflops'] / sheet)
    print(json.dumps({'config': spec, 'method': config.method, 'batch_size': config.train.batch_size,
                      'population': a.population,
                      'dtype': dtype, 'device': f'{dev.platform}:{dev.device_kind} x{jax.device_count()}',
                      'host': platform.node(), 'jax': jax.__version__,
                      'xla_flags': os.environ.get('XLA_FLAGS', ''),
                      'malloc_options': ' '.join(malloc_options.applied()),
                      **{k: round(v, 4) for k, v in r.items()}}), flush=True)


if __name__ == '__main__':
  main()
