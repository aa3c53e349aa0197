"""MobileNetV3-Small trained forward-only, hybrid, or by backprop, with scalable FF's
per-class goodness (papers/002, METHODS.md section 2), on CIFAR-10.

The net (Howard et al. 2019, MobileNetV3-Small, table 2): a 3x3 stem conv (16, hard-swish),
11 inverted-residual blocks, a final 1x1 conv (576, hard-swish, squeeze-excite). A block is
up to three conv units, each with batch norm:
  expand   1x1 to the block's expansion width, ReLU or hard-swish (left out when the
           expansion equals the input width, as in the first block)
  depthwise k x k, one filter per channel, the block's stride, the activation, and
           squeeze-excite where the table has it
  project  1x1 to the block's output width, no activation (a linear bottleneck); the
           block's input is added when the shapes match (stride 1, same width)
32x32 variant (variant=cifar, the default): the stem and the first block keep stride 1,
so the map goes 32 -> 16 -> 8 -> 4 through the three remaining stride-2 blocks; the
standard variant (variant=standard) is the table's, for large images (224: 7x7 at the end).
  method=ff      layer-wise: every conv unit has its own auxiliary class conv and loss,
                 stop_gradient at every unit's input (and on the skip)
  method=hybrid  backprop inside each block (the stem and the final conv: blocks of their
                 own), a loss at each block's end, block outputs layer-normed
  method=bp      the same units end to end, softmax on the last unit
The paper's tables were not retrieved; its MobileNetV3 details (which variant, where the
losses sit) are not in our sources: this is our reading, stated above.
  python -m experiments.main --config=configs/mobilenetv3_cifar10.py:method=hybrid --workdir=runs/mnv3_hybrid
CPU-sized (half the widths, 3 epochs):
  python -m experiments.main --config=configs/mobilenetv3_cifar10.py:cpu,method=hybrid --workdir=runs/mnv3_cpu_hybrid
Data here: 45,000 training / the last 5,000 held out; test = the FIRST 1,000 official
test images (eval.json says so).
Measured (docs/RESULTS.md section 15, 2026-11-22, CPU), cpu, 1 epoch, val fusion (bp:
softmax): ff 32.6%, hybrid 35.4%, bp 48.0%; 247 / 324 / 246 images/s.

Arguments: cpu, tiny, variant=cifar|standard, method=ff|hybrid|bp, seed=N, epochs=N, fraction=X.
"""
from ffjax import config_args
from ffjax.config_base import COMMON_ARGS

ARGS = COMMON_ARGS + ('cpu', 'fraction', 'variant')

def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  # The frame ResNet-18's config sets (data, per-class goodness, batch norm, norms at
  # block ends, optimizer, fraction, tiny) is the same.
  resnet = config_args.load_sibling(__file__, 'resnet18_cifar10.py')
  return resnet.block_net_config(args, 'mobilenetv3_small', scale=0.5 if args.get('cpu') else 1.,
                                 variant=args.get('variant', 'cifar'))
