"""FIRST DRAFT. FF-CNN with Fourier labels on CIFAR-100: the CIFAR-10 draft
(configs/cifar10.py) with 100 label patterns: label set 1 with 25 frequencies x 4
orientations (the label issue replaces this by sets designed for 100 classes).
No CIFAR-100 data exists on these machines: the code path is tested on generated files
in the official binary format (cifar100/cifar-100-binary/train.bin, test.bin).
  python -m experiments.main --config=configs/cifar100.py --workdir=runs/c100
Expected: not yet measured (no data here).

Arguments: as configs/cifar10.py (cpu, tiny, method=bp, seed=N, epochs=N, K=).
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location('_cifar10', pathlib.Path(__file__).with_name('cifar10.py'))
_cifar10 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cifar10)


def get_config(arg=None):
  c = _cifar10.get_config(arg)
  c.data.name = 'cifar100'
  c.labels.cycles = tuple(float(f) for f in range(1, 26))
  return c
