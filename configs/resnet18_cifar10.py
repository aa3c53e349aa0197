"""ResNet-18 (32x32-input variant) trained forward-only, hybrid, or by backprop, with
scalable FF's per-class goodness (papers/002, METHODS.md section 2), on CIFAR-10.

The net: a 3x3 stem conv, then 4 stages x 2 basic blocks (64-128-256-512 filters,
stride 2 at the first block of stages 2-4); a block is two conv units, the second adding
the block's input (projected by a 1x1 conv when its shape changes) before its ReLU; batch
norm after every conv. 17 conv units.
variant=standard: the ImageNet stem for large images (7x7 conv at stride 2, then a 2x2 max
pool, where the original pools 3x3 at stride 2): 224 -> 56 before stage 1, 7x7 at the end.
  method=ff      layer-wise: every conv unit has its own auxiliary class conv and loss,
                 stop_gradient at every unit's input (and on the skip)
  method=hybrid  backprop inside each block, a loss at each block's end, stop_gradient
                 between blocks; block outputs layer-normed
  method=bp      the same units end to end, softmax on the last unit
Inference: each unit's class goodness alone, last, fusion (mean of probabilities), best.
The paper's tables were not retrieved; not measured at paper size here (no GPU lent).
  python -m experiments.main --config=configs/resnet18_cifar10.py:method=hybrid --workdir=runs/r18_hybrid
CPU-sized (filters 16-32-64-128, 3 epochs):
  python -m experiments.main --config=configs/resnet18_cifar10.py:cpu,method=hybrid --workdir=runs/r18_cpu_hybrid
Data here: 45,000 training / the last 5,000 held out; test = the FIRST 1,000 official
test images (eval.json says so). Small-data runs: fraction=0.01 or 0.1 trains on that
share of the 45,000.
Measured (docs/RESULTS.md sections 12-13, 2026-11-22, CPU), cpu, val fusion (BP: softmax):
  1 epoch, all data:        ff 41.5%, hybrid 45.9%, bp 52.2%
  fraction=0.1, epochs=10:  ff 41.8%, hybrid 46.4%, bp 53.3%
  fraction=0.01, epochs=50: ff 34.3%, hybrid 36.6%, bp 39.0%

Arguments: cpu, tiny, variant=cifar|standard, method=ff|hybrid|bp, seed=N, epochs=N, fraction=X.
"""
from ffjax import config_args, nets
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('cpu', 'fraction', 'variant')


def block_net_config(args: dict, net: str, **net_args):
  """The frame the block nets share (this ResNet-18, MobileNetV3): CIFAR-10 with crop and
  flip, per-class goodness by a 1x1 aux conv, batch norm, layer norm at every block's last
  unit (none inside blocks; none at all by backprop), Adam 1e-3, batch 128; the net's own
  blocks for hybrid. net: the registered network (ffjax/nets/) and its arguments."""
  c = get_base()
  c.data.name = 'cifar10'
  c.data.num_val = 5000
  c.data.normalize = 'standardize'
  c.data.augment = 'crop_flip'
  c.labels.kind = 'none'
  c.objective.kind = 'per_class'
  c.objective.aux_kernel = 1
  nets.apply(c.model, net, **net_args)
  n = len(c.model.widths)
  c.model.batch_norm = True
  b = c.model.blocks
  c.model.norms = tuple('layer' if (l == n - 1 or b[l] != b[l + 1]) else 'none' for l in range(n))
  c.optim.lr = 1e-3
  c.train.batch_size = 128
  c.train.eval_batch_size = 500
  c.train.num_epochs = 3 if args.get('cpu') else 100
  apply_common_args(c, args)
  c.model.blocks = b  # the net's own blocks, for hybrid (not pairs of units)
  if c.method == 'bp':
    c.model.norms = ('none',) * n  # the standard net end to end
  if 'fraction' in args:
    c.data.train_limit = max(c.train.batch_size, int(45000 * float(args['fraction'])))
  return c


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  widths = (16, 32, 64, 128) if args.get('cpu') else (64, 128, 256, 512)
  return block_net_config(args, 'resnet18', widths=widths, variant=args.get('variant', 'cifar'))
