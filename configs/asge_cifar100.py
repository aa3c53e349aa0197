"""ASGE on cifar100 (papers/003; see configs/asge_mnist.py for the method and arguments).

Paper (test): 65.42%.
No CIFAR-100 data exists on these machines: the code path is tested on generated files
in the official binary format; nothing is measured.
  python -m experiments.main --config=configs/asge_cifar100.py --workdir=runs/asge_cifar100
  python -m experiments.main --config=configs/asge_cifar100.py:cpu --workdir=runs/asge_cifar100_cpu
Ours: not measured (no CIFAR-100 data on these machines).
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location('_asge', pathlib.Path(__file__).with_name('asge_mnist.py'))
_asge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_asge)


def get_config(arg=None):
  return _asge.get_config_for('cifar100', arg)
