"""ASGE on cifar10 (papers/003; see configs/asge_mnist.py for the method and arguments).

Paper (test): 90.62%.
Data here: all 50,000 training images (45,000 train / 5,000 held out, fixed); only the
FIRST 1,000 official test images exist on these machines, and the test accuracy written
is on those 1,000 (eval.json says so). Training uses random crop (pad 4) and flips.
  python -m experiments.main --config=configs/asge_cifar10.py --workdir=runs/asge_cifar10
  python -m experiments.main --config=configs/asge_cifar10.py:cpu --workdir=runs/asge_cifar10_cpu
Ours (measured 2026-11-22, 2-core CPU, docs/RESULTS.md section 7): cpu,epochs=4, 22 minutes
on a shared machine: 76.42% fusion on the 5,000 held-out images, 76.50% on the first 1,000
test images; the same net by backprop (cpu,method=bp,epochs=4): 74.90% / 75.50%.
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location('_asge', pathlib.Path(__file__).with_name('asge_mnist.py'))
_asge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_asge)


def get_config(arg=None):
  return _asge.get_config_for('cifar10', arg)
