"""FIRST DRAFT. FF-CNN with Fourier labels on CIFAR-100. 100 classes need 100 label
patterns: label set 1 with 25 frequencies x 4 orientations (the label issue replaces
this by sets designed for 100 classes).
No CIFAR-100 data exists on these machines: the code path is tested on generated files
in the official binary format (cifar100/cifar-100-binary/train.bin, test.bin).
  python -m experiments.main --config=configs/cifar100.py --workdir=runs/c100
Expected: not yet measured (no data here).

Arguments: cpu, tiny, method=bp, seed=N, epochs=N.
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('cpu',)


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  c = get_base()
  c.data.name = 'cifar100'
  c.data.num_val = 5000
  c.labels.cycles = tuple(float(f) for f in range(1, 26))
  c.model.kernels = (5, 5, 5)
  c.labels.intensity = 0.3
  c.optim.lr = 1e-4
  c.train.num_epochs = 100
  if args.get('cpu'):
    c.model.widths = (16, 16, 16)
    c.optim.lr = 1e-3
    c.train.num_epochs = 5
  apply_common_args(c, args)
  return c
