"""Channel-wise competitive FF (CwComp, Papachristodoulou et al., AAAI 2024; METHODS.md
section 4), its published recipe, for comparison with its public PyTorch code.

The recipe, as read from the authors' code (github.com/andreaspapac/CwComp: configure.py,
Models.py, Layer_cnn.py, Layer_fc.py, Datasets.py; we read it, we did not copy it):
  4 conv units, 3x3, SAME, 20-80-240-480 channels; units 2 and 4 grouped convs with one
  group per class ("CFSE"); each unit: conv -> ReLU -> [2x2 max pool on units 2, 4] ->
  batch norm (after the pool); no normalization between units beyond that.
  Goodness of class k at a unit: mean of y^2 over its k-th contiguous block of channels
  and all positions; loss: plain cross-entropy of those goodnesses (objective
  channel_groups); every unit local (its input detached), all trained at once.
  Adam lr 0.01, constant, batch 128, no augmentation; each unit stops at its own epoch
  (their "Acc" schedule): MNIST 2/3/4/5, Fashion-MNIST 10/15/19/23, CIFAR-10 11/16/21/25;
  runs of 20 / 50 / 50 epochs (their schedules' lengths; the code's default is 20).
  Predictors: "Avg" = the last unit's class goodness (our `last`), and "Sf" = a softmax
  layer on the last unit's flattened output trained on it as a constant with SGD lr 0.01
  (our `linear`; their code applies softmax twice, we do not).
  Normalization constants: MNIST (0.1307, 0.3081), Fashion-MNIST (0.5, 0.5), CIFAR-10 the
  ImageNet ones, as their code does.
Reported test errors (their README): MNIST 0.58%, Fashion-MNIST 7.69%, CIFAR-10 21.89%
(99.42 / 92.31 / 78.11% accuracy). Their checkpoint is chosen on the test set; ours
reports the last epoch, with validation held out (10,000 / 5,000 training images), and
CIFAR-10's test here is the first 1,000 official images.
Differences we keep: validation held out of training; CIFAR-100 (superclass schedule) not
configured.

  python -m experiments.main --config=configs/cwcomp.py:dataset=mnist --workdir=runs/cwcomp_mnist
  python -m experiments.main --config=configs/cwcomp.py:dataset=cifar10 --workdir=runs/cwcomp_c10

Not measured yet (the CIFAR-10 recipe is about 50 epochs at ~0.4 GFLOP per image: a GPU job).

Arguments: dataset=mnist|fashion_mnist|cifar10, tiny, seed=N, epochs=N.
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('dataset',)

# dataset: (epochs, each unit's stop epoch, normalization mean, std)
RECIPES = {
    'mnist': (20, (2, 3, 4, 5), (0.1307,), (0.3081,)),
    'fashion_mnist': (50, (10, 15, 19, 23), (0.5,), (0.5,)),
    'cifar10': (50, (11, 16, 21, 25), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  name = args.get('dataset', 'mnist')
  if name not in RECIPES:
    raise config_args.ConfigError(f'dataset={name!r}: one of {sorted(RECIPES)}')
  epochs, stops, mean, std = RECIPES[name]
  c = get_base()
  c.data.name = name
  c.data.num_val = 5000 if name == 'cifar10' else 10000
  c.data.normalize = 'standardize'
  c.data.mean, c.data.std = mean, std
  c.labels.kind = 'none'
  c.objective.kind = 'channel_groups'
  c.model.widths = (20, 80, 240, 480)
  c.model.kernels = (3, 3, 3, 3)
  c.model.pools = (1, 2, 1, 2)
  c.model.groups = (1, 10, 1, 10)
  c.model.norm = 'none'
  c.model.batch_norm = True
  c.model.bn_position = 'post_pool'
  c.optim.name = 'adam'
  c.optim.lr = 0.01
  c.optim.schedule = 'constant'
  c.optim.unit_stop_epochs = stops
  c.optim.head_name, c.optim.head_lr = 'sgd', 0.01
  c.optim.momentum = 0.  # the softmax head's SGD has none
  c.predict.linear_head = True
  c.train.batch_size = 128
  c.train.eval_batch_size = 500
  c.train.num_epochs = epochs
  apply_common_args(c, args, tiny=_tiny)
  return c


def _tiny(c):
  c.model.widths = (10, 20, 20, 40)  # multiples of the 10 class groups
  c.optim.unit_stop_epochs = (1, 1, 2, 2)
  c.optim.lr = 0.01
