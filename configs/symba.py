"""SymBa, the symmetric FF loss (Lee and Song 2023; ffjax/methods/symba.py), on the FF-CNN.

The network, labels, data, schedule and predictors are those of configs/mnist.py (or
configs/cifar10.py with dataset=cifar10); only the objective changes: each positive is
scored against its own negative, softplus(-alpha (G_pos - G_neg)), alpha 4 (the paper's).
  python -m experiments.main --config=configs/symba.py:cpu --workdir=runs/symba_cpu
  python -m experiments.main --config=configs/symba.py:quick --workdir=runs/symba_quick
  python -m experiments.main --config=configs/symba.py:dataset=cifar10,cpu --workdir=runs/symba_c10
Measured on the same budget as the threshold objective: docs/RESULTS.md section 23.

Arguments: dataset=mnist|cifar10 (default mnist), alpha=X (objective.symba_alpha),
goodness=mean|sum (objective.symba_goodness: ours, the mean of squares, or the
literature's sum of squares, the literal form; alpha then needs the unit's size), and
every argument of the dataset's FF-CNN config (cpu, quick, tiny, method=bp, lr=, K=, ...).
"""
from ffjax import config_args

DATASETS = {'mnist': 'mnist.py', 'cifar10': 'cifar10.py'}
# Its own, then those of the dataset's FF-CNN config (mnist.py's, then cifar10.py's others).
ARGS = ('dataset', 'alpha', 'goodness') + tuple(dict.fromkeys(
    a for f in DATASETS.values() for a in config_args.load_sibling(__file__, f).ARGS))


def get_config(arg=None):
  args = config_args.parse(arg)
  dataset = args.pop('dataset', 'mnist')
  if dataset not in DATASETS:
    raise config_args.ConfigError(f'dataset={dataset!r}: one of {sorted(DATASETS)}')
  alpha = float(args.pop('alpha', 4.))
  goodness = args.pop('goodness', 'mean')
  rest = ','.join(k if v is True else f'{k}={v}' for k, v in args.items())
  c = config_args.load_sibling(__file__, DATASETS[dataset]).get_config(rest)
  if c.method != 'bp':
    c.objective.kind = 'symba'
  c.objective.symba_alpha = alpha
  c.objective.symba_goodness = goodness
  return c
