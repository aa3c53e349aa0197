"""A convolution and its weight gradient, straight-line versus inside a loop (lax.scan),
per iteration. On XLA:CPU the gradient inside a loop runs 40-60x slower (measured
2026-11-30, jax 0.10.2 and 0.12.0.1), which is why the device loop dispatches one step
per call on a CPU (ffjax/loop.py, train.steps_per_call).

  python -m benchmarks.scan_conv [--k 7] [--channels 16] [--batch 100]
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--k', type=int, default=7)
  ap.add_argument('--channels', type=int, default=16)
  ap.add_argument('--batch', type=int, default=100)
  ap.add_argument('--iters', type=int, default=5)
  a = ap.parse_args()
  x = jax.random.normal(jax.random.key(0), (a.batch, 28, 28, a.channels))
  w = jax.random.normal(jax.random.key(1), (a.k, a.k, a.channels, a.channels))
  conv = lambda w: jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME',
                                                dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  fwd = lambda w: w + 1e-3 * jnp.tanh(conv(w)).mean()
  grad = lambda w: w - 1e-3 * jax.grad(lambda w: jnp.tanh(conv(w)).sum())(w)
  n = a.iters

  def straight(f):
    def run(w):
      for _ in range(n):
        w = f(w)
      return w
    return run

  def scanned(f):
    return lambda w: jax.lax.scan(lambda w, i: (f(w), None), w, jnp.arange(n))[0]

  out = {'k': a.k, 'channels': a.channels, 'batch': a.batch, 'jax': jax.__version__,
         'device': jax.devices()[0].device_kind}
  for name, f in (('forward', fwd), ('weight_grad', grad)):
    for how, make in (('straight', straight), ('scan', scanned)):
      g = jax.jit(make(f))
      jax.block_until_ready(g(w))
      t0 = time.perf_counter()
      jax.block_until_ready(g(w))
      out[f'{name}_{how}_ms'] = round((time.perf_counter() - t0) / n * 1e3, 2)
  print(json.dumps(out))


if __name__ == '__main__':
  main()
