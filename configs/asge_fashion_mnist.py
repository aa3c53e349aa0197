"""ASGE on fashion_mnist (papers/003; see configs/asge_mnist.py for the method and arguments).

Paper (test): 93.41%.
  python -m experiments.main --config=configs/asge_fashion_mnist.py --workdir=runs/asge_fashion_mnist
  python -m experiments.main --config=configs/asge_fashion_mnist.py:cpu --workdir=runs/asge_fashion_mnist_cpu
Ours (measured 2026-11-22, 2-core CPU, official test set, docs/RESULTS.md section 7):
cpu,epochs=4, 25 minutes on a shared machine: test 91.90% fusion, 91.73% last, 91.74% best
(paper 93.41).
"""
from ffjax import config_args

_asge = config_args.load_sibling(__file__, 'asge_mnist.py')
ARGS = _asge.ARGS


def get_config(arg=None):
  return _asge.get_config_for('fashion_mnist', arg)
