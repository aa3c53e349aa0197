"""Inference cost per image of each predictor, one JSON line per (config, predictor).

  python -m benchmarks.inference configs/mnist.py:cpu configs/asge_mnist.py:cpu

goodness  threshold FF: the image once per label (K passes, vmapped), goodness summed
linear    threshold FF: one pass with the neutral label, the linear head
one_pass  ASGE / per-class goodness: one pass, every unit's head (last / fusion / best
          all come from it)
bp        backprop: one pass, softmax head
Random images of the dataset's shape, batch --batch; median of --repeats timings of
--steps jitted calls after warm-up.
"""
import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from benchmarks import throughput
from ffjax import data
from ffjax.data import preprocess
from ffjax import method as method_lib


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--batch', type=int, default=500)
  ap.add_argument('--steps', type=int, default=5)
  ap.add_argument('--repeats', type=int, default=3)
  a = ap.parse_args()
  dev = jax.devices()[0]
  for spec in a.configs:
    config = throughput.load(spec)
    k, h, w, c = data.shape_of(config.data)
    net, method = method_lib.build(config, (h, w, c), k, nnx.Rngs(0))
    net.eval()
    prep = preprocess.make(config.data)
    x_u8 = np.random.default_rng(0).integers(0, 256, (a.batch, h, w, c), dtype=np.uint8)
    for name, fn in method.predictor_fns().items():  # the method's predictors, each alone
      name = 'bp' if config.method == 'bp' else name
      f = jax.jit(lambda x, fn=fn: fn(net, method.encoder, prep.to_float(x)))
      xs = jnp.asarray(x_u8)
      jax.block_until_ready(f(xs))

      def run(f=f, xs=xs):
        for _ in range(a.steps):
          out = f(xs)
        jax.block_until_ready(out)

      med, spread = throughput.timed(run, a.repeats)
      print(json.dumps({'bench': 'inference', 'config': spec, 'predictor': name,
                        'batch': a.batch, 'device': f'{dev.platform}:{dev.device_kind}',
                        'jax': jax.__version__, 'images_per_sec': round(a.steps * a.batch / med, 1),
                        'us_per_image': round(1e6 * med / (a.steps * a.batch), 1),
                        'spread': round(spread, 3)}), flush=True)


if __name__ == '__main__':
  main()
