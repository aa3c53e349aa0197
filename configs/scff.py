"""SCFF, self-contrastive Forward-Forward (Chen et al., Nature Communications 2025;
ffjax/methods/scff.py): unsupervised units, positives an image paired with itself,
negatives paired with another image; a linear readout on the units is all that sees
labels.

Paper (linear readout, test): CIFAR-10 80.8% (this conv net), MNIST 98.7% (an MLP,
784-2000-2000). Settings read from the authors' public code (their "parallel"
recipes: every unit trains from the start, each stops at its own epoch):
  CIFAR-10  3 conv units 96-384-1536, kernels 5-3-3, pools 2-2-2 (theirs: max 4/2 pad 1
            twice, then avg 2), per-example standardization between units, goodness per
            position before the pool; thresholds (theta+, theta-) = (1, 2), (4, 5), (5, 7),
            lambda 8e-4, 4e-4, 1.6e-3; AdamW lr 0.02 / 0.001 / 0.0004, weight decay 1e-4,
            units stop after epochs 6, 6, 13; batch 100; flips.
  MNIST     2 dense units of 2,000 (theirs: trained one after the other); thresholds
            (4, 6), (1, 1), lambda 1e-4, 0; AdamW lr 0.003 / 0.002, weight decay 1e-4,
            units stop after epochs 20, 9.
The readout (ours: trained with the units, on their detached outputs, Adam 1e-3; theirs:
50 epochs on frozen units with dropout 0.2) reads every unit. Rows: docs/REPRODUCTION.md.
  python -m experiments.main --config=configs/scff.py --workdir=runs/scff_c10          # GPU
  python -m experiments.main --config=configs/scff.py:dataset=mnist --workdir=runs/scff_mnist
  python -m experiments.main --config=configs/scff.py:cpu --workdir=runs/scff_c10_cpu
  python -m experiments.main --config=configs/scff.py:dataset=mnist,cpu --workdir=runs/scff_mnist_cpu
CPU-sized (measured, docs/RESULTS.md section 23): CIFAR-10 units 16-32-64 and MNIST units
of 500, 3 epochs, every unit trained throughout.

Arguments: dataset=cifar10|mnist (default cifar10), cpu, tiny, seed=N, epochs=N,
seeds=N, bf16, method=bp (the same net by backprop, for comparison).
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('dataset', 'cpu')


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  dataset = args.get('dataset', 'cifar10')
  if dataset not in ('cifar10', 'mnist'):
    raise config_args.ConfigError(f"dataset={dataset!r}: 'cifar10' or 'mnist'")
  c = get_base()
  c.data.name = dataset
  c.labels.kind = 'self_contrast'
  c.objective.kind = 'scff'
  c.predict.skip_first = False   # the readout reads every unit
  c.model.norm = 'layer'         # per-example standardization between units
  c.optim.name, c.optim.weight_decay, c.optim.schedule = 'adamw', 1e-4, 'constant'
  c.optim.head_name, c.optim.head_lr = 'adam', 1e-3
  c.train.batch_size = 100
  if dataset == 'cifar10':
    c.data.num_val = 5000
    c.data.augment = 'flip'
    c.data.normalize = 'standardize'
    c.model.widths, c.model.kernels, c.model.pools = (96, 384, 1536), (5, 3, 3), (2, 2, 2)
    c.model.goodness_at = 'pre_pool'
    c.objective.scff_theta_pos, c.objective.scff_theta_neg = (1., 4., 5.), (2., 5., 7.)
    c.objective.scff_lambda = (8e-4, 4e-4, 1.6e-3)
    c.optim.lr = 0.02
    c.optim.unit_lr_scale = (1., 0.05, 0.02)
    c.optim.unit_stop_epochs = (6, 6, 13)
    c.train.num_epochs = 13
    if args.get('cpu'):
      c.model.widths = (16, 32, 64)
      c.optim.lr, c.optim.unit_lr_scale, c.optim.unit_stop_epochs = 2e-3, (), ()
      c.train.num_epochs = 3
  else:
    c.model.kind = 'dense'
    c.model.widths = (2000, 2000)
    c.objective.scff_theta_pos, c.objective.scff_theta_neg = (4., 1.), (6., 1.)
    c.objective.scff_lambda = (1e-4, 0.)
    c.optim.lr = 0.003
    c.optim.unit_lr_scale = (1., 2. / 3.)
    c.optim.unit_stop_epochs = (20, 9)
    c.train.num_epochs = 20
    if args.get('cpu'):
      c.model.widths = (500, 500)
      c.optim.lr, c.optim.unit_lr_scale, c.optim.unit_stop_epochs = 1e-3, (), ()
      c.train.num_epochs = 3

  def tiny(c):
    c.model.widths = tuple(8 for _ in c.model.widths) if c.model.kind == 'conv' else (32, 32)
    c.optim.lr, c.optim.unit_lr_scale, c.optim.unit_stop_epochs = 1e-2, (), ()

  apply_common_args(c, args, tiny)
  return c
