"""How well unit-parallel pipelining can split a network: one JSON line per (config, D).

  python -m benchmarks.pipeline_balance configs/resnet18_cifar10.py configs/asge_cifar10.py

For D devices, the stages `Pipeline` would use (FLOP-balanced, cut only between residual
and backprop blocks) and the largest stage's share of the step's FLOPs: the pipeline
runs at that stage's pace, so 1 / share bounds its speed-up over one device (before
transfers and filling, README "Performance"). Counts only; nothing runs.
"""
import argparse
import json

from flax import nnx

from benchmarks import throughput
from ffjax import data, pipeline
from ffjax import method as method_lib
from ffjax.config_args import ConfigError


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--devices', default='2,4,8')
  a = ap.parse_args()
  for spec in a.configs:
    config = throughput.load(spec)
    k, h, w, c = data.shape_of(config.data)
    flops = pipeline.unit_flops(config, (h, w, c))
    starts = pipeline.allowed_starts(*method_lib.build(config, (h, w, c), k, nnx.Rngs(0)))
    for d in map(int, a.devices.split(',')):
      try:
        bounds = pipeline.stage_bounds(flops, d, starts)
      except ConfigError as e:
        print(json.dumps({'config': spec, 'devices': d, 'error': str(e)}), flush=True)
        continue
      share = max(sum(flops[i:j]) for i, j in bounds) / sum(flops)
      print(json.dumps({'config': spec, 'devices': d, 'units': len(flops),
                        'gflop_forward_per_image': round(sum(flops) / 1e9, 4),
                        'stages': bounds, 'largest_stage_share': round(share, 3),
                        'speedup_bound': round(1 / share, 2)}), flush=True)


if __name__ == '__main__':
  main()
