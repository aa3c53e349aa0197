"""FIRST DRAFT. FF-CNN with Fourier labels on CIFAR-10 (RGB, 32x32). The label issue
(morphological labels, deeper nets, augmentation) makes this good; here it is the MNIST
recipe on CIFAR-10 so the pipeline runs end to end.
  python -m experiments.main --config=configs/cifar10.py:cpu --workdir=runs/c10
Data here: all 50,000 training images; only the FIRST 1,000 official test images exist
on these machines, so the test accuracy it writes is on those 1,000 (eval.json says so).
Expected: not yet measured (issue 4).

Arguments: cpu, tiny, method=bp, seed=N, epochs=N, K=.
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('cpu', 'K')


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  c = get_base()
  c.data.name = 'cifar10'
  c.data.num_val = 5000
  c.model.widths = (128, 128, 128)
  c.model.kernels = (5, 5, 5)
  c.labels.intensity = 0.3
  c.optim.lr = 1e-4
  c.train.num_epochs = 100
  if args.get('cpu'):
    c.model.widths = (16, 16, 16)
    c.optim.lr = 1e-3
    c.train.num_epochs = 5
  if 'K' in args:
    c.labels.intensity = float(args['K'])
  apply_common_args(c, args)
  return c
