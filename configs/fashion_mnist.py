"""FF-CNN with Fourier labels on Fashion-MNIST: the MNIST recipe (configs/mnist.py) on
the harder dataset. No published FF-CNN-with-spatial-labels number exists for it; the
closest peers are CwComp 92.31 and ASGE 93.41 (METHODS.md).
  python -m experiments.main --config=configs/fashion_mnist.py --workdir=runs/fmnist
  python -m experiments.main --config=configs/fashion_mnist.py:cpu --workdir=runs/fmnist_cpu
Expected (docs/RESULTS.md, 2-core CPU): cpu,epochs=4: test 77.12% goodness, 87.34% linear
in 30 minutes (shared machine); cpu,method=bp,epochs=2: 90.33%.

Arguments: as configs/mnist.py (cpu, tiny, method=bp, seed, epochs, K, label_set, width, kernel).
"""
from ffjax import config_args

_mnist = config_args.load_sibling(__file__, 'mnist.py')
ARGS = _mnist.ARGS


def get_config(arg=None):
  c = _mnist.get_config(arg)
  c.data.name = 'fashion_mnist'
  return c
