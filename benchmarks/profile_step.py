"""Where a config's training step spends its time, per XLA thunk (a fusion, a library call).

  python -m benchmarks.profile_step configs/asge_mnist.py:cpu,method=bp
  python -m benchmarks.profile_step CONFIG --steps 10 --top 40

Runs the jitted step (benchmarks.throughput's setup: random uint8 images of the dataset's
shape) under `jax.profiler.trace`, then sums each trace event's duration by name over the
steps: milliseconds a step per thunk, and per kind of thunk (those whose fused computation
holds a convolution, a dot, or neither), the kinds read from the compiled HLO. Thunks
that run beside each other on several threads each count their own time, so the sum can
exceed the step's wall time (docs/RESULTS.md 34-35). Lines of text, not JSON: a reading
aid, not a figure to compare across runs.
"""
import argparse
import collections
import glob
import gzip
import json
import re
import tempfile
import time

import jax
from jax.sharding import PartitionSpec as P

from benchmarks import throughput
from ffjax import loop, parallel

# Events of the runtime, not of the program's thunks.
_RUNTIME = ('ThunkExecutor', '$', 'PjitFunction')


def _kinds(hlo: str) -> dict:
  """thunk name -> 'conv' | 'dot' | 'other', from the compiled HLO text."""
  calls = dict(re.findall(r'%([\w.\-]+) = [^\n]*?calls=%([\w.\-]+)', hlo))
  comps = {m.group(1): m.group(2)
           for m in re.finditer(r'^%?([\w.\-]+) \([^\n]*\{\n(.*?)\n\}', hlo, re.S | re.M)}
  out = {}
  for name, comp in calls.items():
    body = comps.get(comp, '')
    out[name] = 'conv' if 'convolution(' in body else 'dot' if ' dot(' in body else 'other'
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('config')
  ap.add_argument('--steps', type=int, default=10)
  ap.add_argument('--top', type=int, default=40, help='thunks listed, slowest first')
  a = ap.parse_args()
  config = throughput.load(a.config)
  throughput.apply_config_options([config])
  split, parts, mesh, state = throughput._setup(config)
  if parts.members:
    raise SystemExit('error: profile_step profiles one run, not a population')
  bsz = config.train.batch_size
  step = loop.HostLoop(parts.step, mesh, split, bsz, 4, False)._step
  batches = [(parallel.put(mesh, split.x[i * bsz:(i + 1) * bsz], P('data')),
              parallel.put(mesh, split.y[i * bsz:(i + 1) * bsz], P('data'))) for i in range(4)]
  for i in range(3):
    state, m = step(state, *batches[i % 4])
  jax.block_until_ready(m)
  t0 = time.perf_counter()
  for i in range(a.steps):
    state, m = step(state, *batches[i % 4])
  jax.block_until_ready(m)
  dt = (time.perf_counter() - t0) / a.steps
  print(f'{a.config}: step {1e3 * dt:.1f} ms ({bsz / dt:.0f} images/s), untraced')
  with tempfile.TemporaryDirectory() as d:
    with jax.profiler.trace(d, create_perfetto_trace=True):
      for i in range(a.steps):
        state, m = step(state, *batches[i % 4])
      jax.block_until_ready(m)
    events = json.load(gzip.open(glob.glob(f'{d}/**/*.trace.json.gz', recursive=True)[0]))
  events = events['traceEvents'] if isinstance(events, dict) else events
  total = collections.Counter()
  for e in events:
    if e.get('ph') == 'X' and not e['name'].startswith(_RUNTIME):
      total[e['name']] += e.get('dur', 0) / 1e3 / a.steps  # microseconds -> ms a step
  kinds = _kinds(step.lower(state, *batches[0]).compile().as_text())
  # oneDNN's convolutions are custom calls, not fusions: named for what they are.
  kind = lambda name: 'conv' if 'onednn$convolution' in name else kinds.get(name, 'other')  # noqa: E731
  by_kind = collections.Counter()
  for name, ms in total.items():
    by_kind[kind(name)] += ms
  print('ms a step by kind: ' + ', '.join(f'{k} {v:.1f}' for k, v in by_kind.most_common()))
  for name, ms in total.most_common(a.top):
    print(f'{ms:8.2f} ms  {kind(name):5s}  {name}')


if __name__ == '__main__':
  main()
