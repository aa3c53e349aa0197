"""Transfer: a network pre-trained on one dataset, then a linear probe or a fine-tune on
another (papers/002 reports transfer for scalable FF; METHODS.md section 2).

The model is the source run's own (its config.json); only the data, the heads and what
trains change. Same input shape needed (MNIST <-> Fashion-MNIST, CIFAR-10 <-> CIFAR-100).
  mode=probe     units frozen (batch norm on its running averages), the heads learn
  mode=finetune  units start from the source, everything learns
  mode=scratch   the same model and budget from random units (the control)

  python -m experiments.main --config=configs/asge_fashion_mnist.py:cpu --workdir=runs/asge_fmnist_cpu
  python -m experiments.main --config=configs/transfer.py:from=runs/asge_fmnist_cpu,dataset=mnist,mode=probe,fraction=0.01 \\
      --workdir=runs/xfer_probe

Measured (docs/RESULTS.md section 14, 2026-11-22, CPU): ASGE cpu pre-trained on
Fashion-MNIST, then MNIST with 1% of its labels (fraction=0.01, epochs=30), test:
scratch 94.00%, probe 93.68%, finetune 94.41%; with 10% (epochs=10): 98.49 / 97.97 / 98.56.

Arguments: from=WORKDIR (required), dataset=NAME (required), mode=probe|finetune|scratch,
fraction=X (share of the target's training set), epochs=N, lr=X, seed=N.
"""
import json
from pathlib import Path

from ffjax import config_args
from ffjax.config_base import get_base
from ffjax.data import DATASETS

ARGS = ('from', 'dataset', 'mode', 'fraction', 'epochs', 'lr', 'seed', 'tiny')


def _merge(c, d):
  """Source config values onto the current defaults (fields added since keep theirs)."""
  for k, v in d.items():
    if isinstance(v, dict) and k in c:
      _merge(c[k], v)
    elif k in c:
      c[k] = tuple(v) if isinstance(v, list) else v


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  for need in ('from', 'dataset'):
    if need not in args:
      raise config_args.ConfigError(f'configs/transfer.py needs {need}=... (see its docstring)')
  src = Path(args['from'])
  if not (src / 'config.json').exists():
    raise config_args.ConfigError(f'from={src}: no config.json there (not a run directory)')
  if args['dataset'] not in DATASETS:
    raise config_args.ConfigError(f"dataset={args['dataset']!r}: one of {sorted(DATASETS)}")
  c = get_base()
  _merge(c, json.loads((src / 'config.json').read_text()))
  mode = args.get('mode', 'probe')
  if mode not in ('probe', 'finetune', 'scratch'):
    raise config_args.ConfigError(f"mode={mode!r}: one of 'probe', 'finetune', 'scratch'")
  name = args['dataset']
  c.data.name = name
  c.data.num_val = 5000 if name.startswith('cifar') else 10000
  c.data.train_limit, c.data.eval_limit = 0, 0
  if 'fraction' in args:
    n_train = DATASETS[name][4] - c.data.num_val
    c.data.train_limit = max(c.train.batch_size, int(n_train * float(args['fraction'])))
  c.transfer.init_from = '' if mode == 'scratch' else str(src)
  c.transfer.train = 'heads' if mode == 'probe' else 'all'
  if args.get('tiny'):
    c.train.num_epochs = 2
    c.data.eval_limit = 500
    c.plots = False
  if 'epochs' in args:  # explicit values win over tiny's
    c.train.num_epochs = int(args['epochs'])
  if 'lr' in args:
    c.optim.lr = float(args['lr'])
  if 'seed' in args:
    c.seed = int(args['seed'])
  return c
