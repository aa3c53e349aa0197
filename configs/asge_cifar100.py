"""ASGE on cifar100 (papers/003; see configs/asge_mnist.py for the method and arguments).

Paper (test): 65.42%.
No CIFAR-100 data exists on these machines: the code path is tested on generated files
in the official binary format; nothing is measured.
  python -m experiments.main --config=configs/asge_cifar100.py --workdir=runs/asge_cifar100
  python -m experiments.main --config=configs/asge_cifar100.py:cpu --workdir=runs/asge_cifar100_cpu
Ours: not measured (no CIFAR-100 data on these machines).
"""
from ffjax import config_args

_asge = config_args.load_sibling(__file__, 'asge_mnist.py')
ARGS = _asge.ARGS


def get_config(arg=None):
  return _asge.get_config_for('cifar100', arg)
