"""Peak memory of one training step versus depth, from XLA's compiled memory analysis.

  python -m benchmarks.memory                       # depths 4 8 16 32, every mode
  python -m benchmarks.memory --depths 4,8 --modes ff,ff_streamed --batch 64

One JSON line per (mode, depth). Nothing runs: each step is compiled for the device
and XLA reports the buffers it will hold, so the figures are exact for that compiled
program and cheap to get on a CPU (they are what the GPU would hold for the same
program only up to the GPU compiler's own scheduling: measure there too).

The network: `depth` conv units of `--width` filters 3x3, no pooling, on
`--size` x `--size` x 3 images (CIFAR-10 shape), batch `--batch`.
Modes:
  bp            backprop end to end (all activations kept for the backward pass)
  bp_remat      backprop, every unit rematerialized (jax.checkpoint): keeps unit inputs
  ff            Forward-Forward (threshold goodness, Fourier labels, linear head), one
                fused step: one jax.grad of the summed unit losses
  ff_streamed   the same update, unit by unit (train.schedule='streamed')
  asge, asge_streamed   ASGE (one pass, per-unit heads), fused and streamed
peak_MiB = arguments + outputs - donated (aliased) + temporaries: what the step holds
at its high-water mark, parameters and optimizer state included.
"""
import argparse
import json

import jax
import numpy as np

from ffjax import config_base, data, loop, parallel
from ffjax import assembly

MODES = ('bp', 'bp_remat', 'ff', 'ff_streamed', 'asge', 'asge_streamed')


def make_config(mode: str, depth: int, width: int, batch: int, conv: str = 'auto',
                head: str = 'all'):
  c = config_base.get_base()
  c.model.conv_impl = conv
  c.predict.head_units = head
  c.data.name = 'cifar10'
  c.model.widths = (width,) * depth
  c.model.kernels = (3,) * depth
  c.model.pools = (1,) * depth
  c.train.batch_size = batch
  c.train.num_epochs = 1
  if mode.startswith('bp'):
    c.method, c.labels.kind = 'bp', 'none'
    c.model.remat = mode == 'bp_remat'
  elif mode.startswith('asge'):
    c.labels.kind, c.objective.kind = 'none', 'spatial'
    c.model.pool_kind, c.model.norm = 'rms', 'channel'
  c.train.schedule = 'streamed' if mode.endswith('_streamed') else 'fused'
  return c


def step_memory(config) -> dict:
  """Compiled memory analysis of config's training step (bytes)."""
  k, h, w, ch = data.shape_of(config.data)
  b = config.train.batch_size
  mesh = parallel.make_mesh()
  parts = assembly.build(config, (h, w, ch), k, b)
  state = assembly.init_state(parts, mesh)
  step = loop.HostLoop(parts.step, mesh, None, b, 1)._step
  x, y = parallel.put_batch(mesh, np.zeros((b, h, w, ch), np.uint8), np.zeros(b, np.int32))
  ma = step.lower(state, x, y).compile().memory_analysis()
  out = dict(temp=ma.temp_size_in_bytes, arguments=ma.argument_size_in_bytes,
             outputs=ma.output_size_in_bytes, aliased=ma.alias_size_in_bytes)
  out['peak'] = out['arguments'] + out['outputs'] - out['aliased'] + out['temp']
  out['params'] = int(sum(np.prod(p.shape) * p.dtype.itemsize
                          for p in jax.tree.leaves(state['params'])))
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--depths', default='4,8,16,32')
  ap.add_argument('--modes', default=','.join(MODES))
  ap.add_argument('--width', type=int, default=32)
  ap.add_argument('--batch', type=int, default=64)
  ap.add_argument('--conv', default='auto', help='model.conv_impl: auto | lax | matmul')
  ap.add_argument('--head', default='all', help="threshold FF's linear head reads 'all' units or the 'last'")
  a = ap.parse_args()
  dev = jax.devices()[0]
  mib = lambda v: round(v / 2 ** 20, 2)
  for mode in a.modes.split(','):
    if mode not in MODES:
      raise SystemExit(f'error: unknown mode {mode!r}; one of {MODES}')
    for depth in map(int, a.depths.split(',')):
      r = step_memory(make_config(mode, depth, a.width, a.batch, a.conv, a.head))
      print(json.dumps({'bench': 'memory', 'mode': mode, 'depth': depth, 'width': a.width,
                        'batch': a.batch, 'conv': a.conv, 'head': a.head, 'device': f'{dev.platform}:{dev.device_kind}',
                        'jax': jax.__version__, **{f'{k}_MiB': mib(v) for k, v in r.items()}}),
            flush=True)


if __name__ == '__main__':
  main()
