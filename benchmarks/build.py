"""Building a net: seconds from a config to its initialized parameters, in a fresh process.

  python -m benchmarks.build                         # ResNet-18, MobileNetV3, the FF-CNN
  python -m benchmarks.build --configs=mobilenetv3_cifar10 --init=flax

jax compiles a random sampler for every weight shape it draws; ffjax/inits.py draws
flat at power-of-two sizes instead (the same values). --init=flax swaps flax's own
initializers back in (the same weights, drawn shape by shape) to measure the difference.
Each config is built in its own process (nothing compiled before it); one JSON line each:
seconds, parameter count, XLA compilations.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_ONE = r'''
import json, sys, time
import jax
from flax import nnx
from ffjax import config_args, inits, method as method_lib, data
if sys.argv[2] == 'flax':  # flax's own initializers, shape by shape
  inits.LECUN = nnx.initializers.lecun_normal()
  inits.KAIMING = nnx.initializers.variance_scaling(2., 'fan_in', 'normal')
  inits.CONV.update(lecun=inits.LECUN, kaiming=inits.KAIMING)
  inits.DENSE.update(kernel_init=inits.LECUN, bias_init=nnx.initializers.zeros)
  inits.NORM.update(scale_init=nnx.initializers.ones, bias_init=nnx.initializers.zeros)
from experiments import cli
c = cli.load_config_module(f'configs/{sys.argv[1]}.py').get_config(None)
config_args.validate(c)
k, h, w, ch = data.shape_of(c.data)
n = [0]
jax.monitoring.register_event_duration_secs_listener(
    lambda name, *a, **kw: n.__setitem__(0, n[0] + name.endswith('backend_compile_duration')))
t = time.time()
net, _ = method_lib.build(c, (h, w, ch), k, nnx.Rngs(0))
jax.block_until_ready(nnx.state(net))
s = time.time() - t
params = sum(x.size for x in jax.tree.leaves(nnx.state(net, nnx.Param)))
print(json.dumps({'config': sys.argv[1], 'init': sys.argv[2], 'seconds': round(s, 2),
                  'params': int(params), 'compilations': n[0], 'jax': jax.__version__}))
'''


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--configs', default='resnet18_cifar10,mobilenetv3_cifar10,mnist')
  ap.add_argument('--init', default='ffjax,flax', help='ffjax, flax, or both (comma separated)')
  a = ap.parse_args()
  for name in a.configs.split(','):
    for init in a.init.split(','):
      r = subprocess.run([sys.executable, '-c', _ONE, name, init], capture_output=True, text=True,
                         env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
      print(r.stdout.strip() or json.dumps({'config': name, 'init': init,
                                            'error': r.stderr.strip().splitlines()[-1:]}), flush=True)


if __name__ == '__main__':
  main()
