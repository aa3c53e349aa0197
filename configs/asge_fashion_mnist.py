"""ASGE on fashion_mnist (papers/003; see configs/asge_mnist.py for the method and arguments).

Paper (test): 93.41%.
  python -m experiments.main --config=configs/asge_fashion_mnist.py --workdir=runs/asge_fashion_mnist
  python -m experiments.main --config=configs/asge_fashion_mnist.py:cpu --workdir=runs/asge_fashion_mnist_cpu
Ours (measured 2026-11-22, 2-core CPU, official test set, docs/RESULTS.md section 7):
cpu,epochs=4, 25 minutes on a shared machine: test 91.90% fusion, 91.73% last, 91.74% best
(paper 93.41).
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location('_asge', pathlib.Path(__file__).with_name('asge_mnist.py'))
_asge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_asge)


def get_config(arg=None):
  return _asge.get_config_for('fashion_mnist', arg)
