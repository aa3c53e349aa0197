"""SCFF, self-contrastive Forward-Forward (Chen et al., Nature Communications 2025;
ffjax/methods/scff.py): unsupervised units, positives an image beside itself, negatives
beside another image; a linear readout on the units is all that sees labels.

Paper (linear readout, test): CIFAR-10 80.8% (this conv net), MNIST 98.7% (an MLP,
784-2000-2000). CIFAR-10 is the authors' layer (unit kind scff_conv, proven against their
code in tests/test_scff_authors.py): reflect padding 2-1-1 then per-example
standardization (unbiased std), a pair's halves through the same filters and added (+2b),
xavier weights and torch's default bias, 96-384-1536 filters of 5-3-3, the loss on
relu(z)^2 before the pool, triangle-triangle-ReLU passed on, max pool 4/2 pad 1 twice
then average 2, their input constants; thresholds and lambda per unit, AdamW per unit
(its own lr, weight decay and exponential decay every N batches), batch 100, flips.
  recipe=parallel (default; their SCFF_CIFAR_Parallel.py at 2d91618): every unit from the
            start, pairs made at units 1 and 3 (unit 2 takes both streams), units stop after
            epochs 6, 6, 13; lr 0.02 / 0.001 / 0.0004, decay 0.99 / 0.9 / 0.99 every 500
            batches, weight decay 1e-4 / 3e-4 / 1e-4, thresholds (1, 2), (4, 5), (5, 7),
            lambda 8e-4, 4e-4, 1.6e-3.
  recipe=staged (their README at a6fc0f8): unit k trains alone, the earlier ones frozen,
            for 6, 4, 21 epochs (one run of 31 epochs: unit k from its start epoch, its
            optimizer fresh then); lr 0.01 / 0.002 / 0.0002, decay 0.7 every 1000, 0.8
            every 100, none; weight decay 1e-4 / 1e-4 / 3e-4; thresholds (0, 1), (5, 9),
            (6, 10); lambda 0.0012, 0.0007, 0.0005. (Their stage 3 re-pairs at unit 2 too:
            that scales unit 2's output by 2, which unit 3 and the readout standardize away.)
Their readout is the probe phase after training (config.probe, ffjax/probe.py: 50 epochs
on the frozen units, each output avg-pooled 2x2 and standardized, dropout 0.2 + linear,
Adam 1e-3 halved 7 times, batches of 64 with flips): eval.json's probe.test is the row's
number; the head trained alongside the units is a monitor (acc_linear). Not the authors'
(docs/REPRODUCTION.md): their validation is the test set (here data.num_val=5000 is
held out).
  MNIST     2 dense units of 2,000, staged as theirs (unit 1 for 20 epochs, then unit 2
            for 9); thresholds (4, 6), (1, 1), lambda 1e-4, 0; AdamW lr 0.003 / 0.002,
            decay 0.9 every 1000 / 0.6 every 1500 batches, weight decay 1e-4. Not theirs
            (docs/REPRODUCTION.md): ffjax's pairs (made once, at the input, one bias),
            ReLU, one view (theirs: two views translated by up to 2 pixels), the monitor head.
Rows: docs/REPRODUCTION.md.
  python -m experiments.main --config=configs/scff.py --workdir=runs/scff_c10          # GPU
  python -m experiments.main --config=configs/scff.py:recipe=staged --workdir=runs/scff_c10_staged
  python -m experiments.main --config=configs/scff.py:dataset=mnist --workdir=runs/scff_mnist
  python -m experiments.main --config=configs/scff.py:cpu --workdir=runs/scff_c10_cpu
  python -m experiments.main --config=configs/scff.py:dataset=mnist,cpu --workdir=runs/scff_mnist_cpu
CPU-sized: CIFAR-10 units 16-32-64, 3 epochs, every unit trained throughout, a 10-epoch probe.

Arguments: dataset=cifar10|mnist (default cifar10), recipe=parallel|staged, cpu, tiny,
seed=N, epochs=N, seeds=N, bf16.
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('dataset', 'cpu', 'recipe')

# Per unit, as the authors' scripts set them: lr, weight decay, lr decay and its period in
# batches, thresholds (theta+, theta-), lambda, epochs.
RECIPES = {
    'parallel': dict(lr=(0.02, 0.001, 0.0004), wd=(1e-4, 3e-4, 1e-4), gamma=(0.99, 0.9, 0.99),
                     period=(500, 500, 500), th_pos=(1., 4., 5.), th_neg=(2., 5., 7.),
                     lam=(8e-4, 4e-4, 1.6e-3), epochs=(6, 6, 13)),
    'staged': dict(lr=(0.01, 0.002, 0.0002), wd=(1e-4, 1e-4, 3e-4), gamma=(0.7, 0.8, 1.),
                   period=(1000, 100, 500), th_pos=(0., 5., 6.), th_neg=(1., 9., 10.),
                   lam=(0.0012, 0.0007, 0.0005), epochs=(6, 4, 21)),
}


def cifar10(c, recipe: str):
  r = RECIPES[recipe]
  c.data.num_val = 5000
  c.data.augment = 'flip'
  c.data.normalize = 'standardize'
  c.data.mean, c.data.std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
  m = c.model
  m.kind, m.init, m.goodness_at = 'scff_conv', 'xavier', 'pre_pool'
  m.widths, m.kernels, m.pads = (96, 384, 1536), (5, 3, 3), (2, 1, 1)
  m.pools, m.pool_strides, m.pool_pads = (4, 4, 2), (2, 2, 2), (1, 1, 0)
  m.pool_kinds, m.acts, m.pair_at = ('max', 'max', 'avg'), ('triangle', 'triangle', 'relu'), (1, 0, 1)
  c.objective.scff_theta_pos, c.objective.scff_theta_neg = r['th_pos'], r['th_neg']
  c.objective.scff_lambda = r['lam']
  # Their readout, after training (ffjax/probe.py): frozen units, each output avg-pooled 2x2
  # and standardized, dropout 0.2 + linear, Adam 1e-3 for 50 epochs with the halvings,
  # batches of 64 with flips.
  c.probe.epochs, c.probe.batch_size, c.probe.lr = 50, 64, 1e-3
  c.probe.dropout, c.probe.pool, c.probe.augment = 0.2, 2, 'flip'
  o = c.optim
  o.schedule, o.lr = 'exponential', r['lr'][0]
  o.unit_lr_scale = tuple(lr / r['lr'][0] for lr in r['lr'])
  o.unit_weight_decay, o.unit_decay_rate, o.unit_decay_every = r['wd'], r['gamma'], r['period']
  if recipe == 'parallel':
    o.unit_stop_epochs = r['epochs']
    c.train.num_epochs = max(r['epochs'])
  else:  # unit k from the end of unit k-1's epochs
    starts = tuple(sum(r['epochs'][:l]) for l in range(3))
    o.unit_start_epochs = starts
    o.unit_stop_epochs = tuple(s + e for s, e in zip(starts, r['epochs']))
    c.train.num_epochs = sum(r['epochs'])


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  dataset, recipe = args.get('dataset', 'cifar10'), args.get('recipe', 'parallel')
  if dataset not in ('cifar10', 'mnist'):
    raise config_args.ConfigError(f"dataset={dataset!r}: 'cifar10' or 'mnist'")
  if recipe not in RECIPES:
    raise config_args.ConfigError(f"recipe={recipe!r}: one of {sorted(RECIPES)}")
  c = get_base()
  c.data.name = dataset
  c.labels.kind = 'self_contrast'
  c.objective.kind = 'scff'
  c.predict.skip_first = False   # the readout reads every unit
  c.model.norm = 'layer'         # per-example standardization between units (MNIST's)
  c.optim.name, c.optim.weight_decay, c.optim.schedule = 'adamw', 1e-4, 'constant'
  c.optim.head_name, c.optim.head_lr = 'adam', 1e-3
  c.train.batch_size = 100
  if dataset == 'cifar10':
    cifar10(c, recipe)
    if args.get('cpu'):
      c.model.widths = (16, 32, 64)
      c.optim.unit_stop_epochs = c.optim.unit_start_epochs = ()
      c.train.num_epochs = 3
      c.probe.epochs = 10
  else:  # their config.json's MNIST: staged, layer 1 for 20 epochs, then layer 2 for 9
    c.model.kind = 'dense'
    c.model.widths = (2000, 2000)
    c.objective.scff_theta_pos, c.objective.scff_theta_neg = (4., 1.), (6., 1.)
    c.objective.scff_lambda = (1e-4, 0.)
    o = c.optim
    o.schedule, o.lr, o.unit_lr_scale = 'exponential', 0.003, (1., 2. / 3.)
    o.unit_decay_rate, o.unit_decay_every = (0.9, 0.6), (1000, 1500)
    o.unit_start_epochs, o.unit_stop_epochs = (0, 20), (20, 29)
    c.train.num_epochs = 29
    if args.get('cpu'):
      c.model.widths = (500, 500)
      o.schedule, o.lr, o.unit_lr_scale = 'constant', 1e-3, ()
      o.unit_decay_rate = o.unit_decay_every = o.unit_start_epochs = o.unit_stop_epochs = ()
      c.train.num_epochs = 3

  def tiny(c):
    if c.model.kind == 'dense':
      c.model.widths = (32, 32)
      c.optim.lr, c.optim.unit_lr_scale = 1e-2, ()
      c.optim.unit_start_epochs = c.optim.unit_stop_epochs = ()
    else:  # the recipe's per-unit rates, scaled up for 40 steps; every unit throughout
      c.optim.lr = 1e-2
      c.optim.unit_stop_epochs = c.optim.unit_start_epochs = ()
      c.probe.epochs = 0  # a probe phase on request (--config.probe.epochs=N)

  apply_common_args(c, args, tiny)
  return c
