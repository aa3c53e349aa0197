"""The training step's images/s under sets of XLA:CPU options, side by side, per config.

  python -m benchmarks.xla_flags                      # every method family, the sets below
  python -m benchmarks.xla_flags configs/mnist.py:cpu --sets none,onednn --steps 10

For each config, each set runs `benchmarks.throughput` (the step alone, --loop none) in a
fresh process with FFJAX_XLA_FLAGS set to it (ffjax/cpu_options.py: XLA_FLAGS is read once,
when the backend starts); the sets take turns config by config, so a drift of the shared
machine's speed hits them alike. One JSON line per config: images/s per set and each
set's ratio to the first set named ('none', XLA:CPU's defaults, unless --sets says
otherwise), then a summary line (geometric mean ratio).
"""
import argparse
import json
import math
import os
import subprocess
import sys

SETS = {
    'none': 'none',
    'onednn': '--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true',
    'xnnpack': '--xla_cpu_use_xnnpack=true',
    'onednn+xnnpack': ('--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true '
                       '--xla_cpu_use_xnnpack=true'),
    'nothunk': '--xla_cpu_use_thunk_runtime=false',  # the runtime before XLA's thunks
    # oneDNN with XLA:CPU's scheduler for concurrency (thunks run two at a time on 2 cores)
    # on and off (one of them is XLA's default).
    'onednn+concsched': ('--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true '
                         '--xla_cpu_enable_concurrency_optimized_scheduler=true'),
    'onednn-concsched': ('--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true '
                         '--xla_cpu_enable_concurrency_optimized_scheduler=false'),
    # oneDNN on the runtime before XLA's thunks (one compiled function, no per-op dispatch:
    # MobileNetV3's steps run some hundred small ops).
    'onednn-nothunk': ('--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true '
                       '--xla_cpu_use_thunk_runtime=false'),
    # oneDNN with XLA's YNNPACK fusions off (empty list): on jaxlib 0.12 YNNPACK takes the
    # 3x3 convolutions (and some reductions and products) before oneDNN sees them.
    'onednn-ynn': ('--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true '
                   '--xla_cpu_experimental_ynn_fusion_type='),
    # oneDNN with YNNPACK's reductions off, its other fusions kept: on jaxlib 0.12 YNNPACK
    # reduces over image axes of few channels (pools, norms, the label blend's per-image
    # range) at a tenth of memory speed.
    'onednn-ynnreduce': ('--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true '
                         '--xla_cpu_experimental_ynn_fusion_type=-reduce'),
}

# Every method family's CPU-sized step, and its backprop baseline.
FAMILIES = [
    'configs/mnist.py:cpu', 'configs/mnist.py:cpu,method=bp',
    'configs/asge_mnist.py:cpu', 'configs/asge_mnist.py:cpu,method=bp',
    'configs/asge_mnist.py:cpu,recipe=official',
    'configs/cwcomp.py', 'configs/cwcomp.py:method=bp',
    'configs/resnet18_cifar10.py:cpu', 'configs/resnet18_cifar10.py:cpu,method=bp',
    'configs/mobilenetv3_cifar10.py:cpu', 'configs/mobilenetv3_cifar10.py:cpu,method=bp',
    'configs/mnist_mlp.py', 'configs/mnist_mlp.py:method=bp',
    'configs/symba.py:cpu', 'configs/scff.py:dataset=mnist,cpu', 'configs/scff.py:cpu',
]


def run(spec: str, flags: str, steps: int, repeats: int, batch: int) -> dict:
  cmd = [sys.executable, '-m', 'benchmarks.throughput', spec, '--loop', 'none',
         '--steps', str(steps), '--repeats', str(repeats)] + (['--batch', str(batch)] if batch else [])
  env = dict(os.environ, FFJAX_XLA_FLAGS=flags)
  env.pop('XLA_FLAGS', None)
  r = subprocess.run(cmd, capture_output=True, text=True, env=env)
  if r.returncode:
    return {'error': (r.stderr.strip().splitlines() or ['?'])[-1][:200]}
  return json.loads(r.stdout.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='*', default=FAMILIES)
  ap.add_argument('--sets', default=','.join(SETS), help=f'comma separated, of {list(SETS)}')
  ap.add_argument('--steps', type=int, default=10)
  ap.add_argument('--repeats', type=int, default=3)
  ap.add_argument('--batch', type=int, default=0)
  a = ap.parse_args()
  sets = a.sets.split(',')
  logs = {s: [] for s in sets}
  for spec in a.configs:
    out = {'bench': 'xla_flags', 'config': spec}
    for s in sets:
      r = run(spec, SETS[s], a.steps, a.repeats, a.batch)
      out[s] = round(r['images_per_sec'], 1) if 'images_per_sec' in r else r['error']
      out[f'spread_{s}'] = round(r.get('spread', float('nan')), 3)
      out.setdefault('jax', r.get('jax'))
      out.setdefault('device', r.get('device'))
    base = sets[0]
    for s in sets[1:]:
      if isinstance(out[s], float) and isinstance(out.get(base), float):
        out[f'{s}/{base}'] = round(out[s] / out[base], 3)
        logs[s].append(math.log(out[s] / out[base]))
    print(json.dumps(out), flush=True)
  print(json.dumps({'bench': 'xla_flags', 'summary': f'geometric mean of each set over {sets[0]}',
                    **{s: round(math.exp(sum(v) / len(v)), 3) for s, v in logs.items() if v}}))


if __name__ == '__main__':
  main()
