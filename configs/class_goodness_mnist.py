"""Per-class goodness, one pass, no negatives (METHODS.md sections 2 and 4), on MNIST or
Fashion-MNIST: the CPU-sized VGG-like units of configs/asge_mnist.py (3x3 conv, ReLU, RMS
pool, layer norm over channels), each unit scored by its own per-class goodness.

  variant=per_class (default)  scalable FF (papers/002): an auxiliary 3x3 conv with one
                               channel per class; class k's goodness = mean square of
                               channel k; cross-entropy over the goodnesses.
  variant=channel_groups       channel-wise competitive FF (CwComp): the unit's own
                               channels cut into 10 groups, a group's mean square is its
                               class's goodness (widths 40-40-80-80, multiples of 10).
Prediction: each unit alone (u1..uL), last, fusion (mean of probabilities), best.
The published CwComp architecture and schedule are not in the text we have (its public
PyTorch code is not on these machines): this is not that recipe, and CwComp's 99.42 /
92.31 (MNIST / F-MNIST) are its numbers, not ours.
  python -m experiments.main --config=configs/class_goodness_mnist.py:cpu --workdir=runs/cg_mnist
  python -m experiments.main --config=configs/class_goodness_mnist.py:cpu,variant=channel_groups --workdir=runs/cwcomp_mnist
Expected: see docs/RESULTS.md.

Arguments: cpu, tiny, method=bp, seed=N, epochs=N, variant=per_class|channel_groups,
dataset=mnist|fashion_mnist.
"""
from ffjax import config_args

_asge = config_args.load_sibling(__file__, 'asge_mnist.py')
ARGS = ('variant', 'dataset') + _asge.ARGS


def get_config(arg=None):
  args = config_args.parse(arg)
  variant = args.pop('variant', 'per_class')
  dataset = args.pop('dataset', 'mnist')
  if variant not in ('per_class', 'channel_groups'):
    raise config_args.ConfigError(f'variant={variant!r}: per_class or channel_groups')
  if dataset not in ('mnist', 'fashion_mnist'):
    raise config_args.ConfigError(f'dataset={dataset!r}: mnist or fashion_mnist')
  rest = ','.join(k if v is True else f'{k}={v}' for k, v in args.items())
  c = _asge.get_config_for(dataset, rest or None)
  c.objective.kind = variant
  if variant == 'channel_groups':
    c.model.widths = tuple(10 * -(-w // 10) for w in c.model.widths)  # multiples of 10
  return c
