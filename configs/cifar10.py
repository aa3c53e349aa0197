"""FF-CNN with spatially extended labels on CIFAR-10 (papers/000, the later version of the
FF-CNN paper; METHODS.md section 1): RGB input, deeper nets, Fourier or morphological
labels, crop/flip augmentation (the same augmented image for a positive and its negatives).

Default (GPU): 6 conv units 64-64-128-128-256-256, 5x5 then 3x3 kernels, pooling after
units 2, 4, 6, morphological labels (dilation by line elements), 100 epochs. The paper's
CIFAR-10 numbers could not be retrieved; this net is our reading. Not yet measured.
  python -m experiments.main --config=configs/cifar10.py --workdir=runs/c10
CPU-sized (4 units of 16 filters, pooling after units 2 and 4, 3 epochs):
  python -m experiments.main --config=configs/cifar10.py:cpu --workdir=runs/c10_cpu
  python -m experiments.main --config=configs/cifar10.py:cpu,labels=fourier --workdir=runs/c10_cpu_fourier
  python -m experiments.main --config=configs/cifar10.py:cpu,method=bp --workdir=runs/c10_cpu_bp
Data here: all 50,000 training images (45,000 train / the last 5,000 held out, fixed);
only the FIRST 1,000 official test images exist on these machines, so the test accuracy
it writes is on those 1,000 (eval.json says so).
Measured (2026-11-22, 2-core CPU, docs/RESULTS.md section 8), cpu, 3 epochs, val (5,000
held out): Fourier labels 24.5% goodness / 50.2% linear; morphological 12.8% / 48.7%;
method=bp 64.4%.

Arguments: cpu, tiny, method=bp, seed=N, epochs=N, K=X (label intensity),
  labels=fourier|fourier3|morph|morph_gradient|morph_random (fourier: set 1; fourier3:
  set 3; morph*: labels.py), hard=X (fraction of hard negatives), augment=0|1.
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('cpu', 'K', 'labels', 'hard', 'augment')

LABELS = {
    'fourier': dict(kind='fourier', label_set=1, intensity=0.3),
    'fourier3': dict(kind='fourier', label_set=3, intensity=0.3),
    'morph': dict(kind='morph', morph_op='dilation', morph_se='lines', intensity=0.5),
    'morph_gradient': dict(kind='morph', morph_op='gradient', morph_se='lines', intensity=0.5),
    'morph_random': dict(kind='morph', morph_op='dilation', morph_se='random', morph_size=12,
                         morph_radius=4, intensity=0.5),
}


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  c = get_base()
  c.data.name = 'cifar10'
  c.data.num_val = 5000
  c.data.augment = 'crop_flip' if args.get('augment', 1) else 'none'
  c.model.widths = (64, 64, 128, 128, 256, 256)
  c.model.kernels = (5, 5, 3, 3, 3, 3)
  c.model.pools = (1, 2, 1, 2, 1, 2)
  c.optim.lr = 1e-4
  c.train.num_epochs = 100
  if args.get('cpu'):
    c.model.widths = (16, 16, 16, 16)
    c.model.kernels = (5, 5, 5, 3)
    c.model.pools = (1, 2, 1, 2)
    c.optim.lr = 1e-3
    c.train.num_epochs = 3
  name = args.get('labels', 'morph')
  if name not in LABELS:
    raise config_args.ConfigError(f'labels={name!r}: one of {sorted(LABELS)}')
  c.labels.update(LABELS[name])
  apply_common_args(c, args)
  if 'K' in args:
    c.labels.intensity = float(args['K'])
  if 'hard' in args:
    c.labels.hard_negatives = float(args['hard'])
  return c
