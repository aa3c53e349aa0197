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
from ffjax import config_args

_asge = config_args.load_sibling(__file__, 'asge_mnist.py')
ARGS = _asge.ARGS


def get_config(arg=None):
  return _asge.get_config_for('cifar10', arg)
