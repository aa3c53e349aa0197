"""ASGE on ImageNet and its subsets, streamed from disk (papers/003; ffjax/data/stream.py).

Paper (ASGE): "the first successful application of FF-based training to ImageNet",
top-1 / top-5 26.21 / 47.49 (a later version: 51.58 / 75.23). Other FF numbers on these
data: DTG-FF 49.4 on ImageNet-100 at 224x224, Distance-Forward 82.5 on Imagenette.
The paper does not give its ImageNet net in the text we have; this one is ours: ASGE's
units (3x3 conv -> ReLU -> RMS pool -> channel layer norm, spatial goodness on an
adaptive grid) in a VGG11-like stack 64-128-256-256-512-512-512-512 with five 2x2
pools (224 -> 7; ffjax/nets/vgg.py, 'vgg_imagenet'), Adam 1e-3, batch 256, random-resized crops and flips on the host,
90 epochs. No ImageNet on these machines: not run; rows in docs/REPRODUCTION.md.

Data: data.dir holds train/<class>/*.JPEG and val/<class>/*.JPEG (README, "Data larger
than memory"), or experiments.pack's shards (data.source=array_record, faster on
network filesystems), or is tfds' data directory holding a prepared imagenet2012 /
imagenette (argument tfds: data.source=tfds, read by tfds.data_source).
  python -m experiments.main --config=configs/asge_imagenet.py --config.data.dir=/data/imagenet --workdir=runs/in1k
  python -m experiments.main --config=configs/asge_imagenet.py:dataset=imagenette,size=128 --config.data.dir=/data/imagenette2 --workdir=runs/inette
  python -m experiments.main --config=configs/asge_imagenet.py:method=bp --config.data.dir=/data/imagenet --workdir=runs/in1k_bp

Arguments: dataset=imagenet|imagenet100|imagenette|folder (default imagenet; folder:
any tree, classes=N), size=64|112|128|224 (the crop, default 224), packed (read
experiments.pack's shards), tfds (a prepared tensorflow-datasets dataset), cpu (a quarter of the widths, 64x64 crops, 3 epochs),
tiny, method=ff|bp|hybrid, seed=N, epochs=N, bf16.
"""
from ffjax import config_args, nets
from ffjax.config_base import COMMON_ARGS, apply_common_args, get_base

ARGS = COMMON_ARGS + ('dataset', 'size', 'classes', 'packed', 'tfds', 'cpu')


def get_config(arg=None):
  args = config_args.parse(arg)
  config_args.check_known(args, ARGS)
  c = get_base()
  dataset = args.get('dataset', 'imagenet')
  if dataset not in ('imagenet', 'imagenet100', 'imagenette', 'folder'):
    raise config_args.ConfigError(f'dataset={dataset!r}: imagenet, imagenet100, imagenette or folder')
  c.data.name = dataset
  c.data.source = 'array_record' if args.get('packed') else 'tfds' if args.get('tfds') else 'folder'
  c.data.image_size = int(args.get('size', 64 if args.get('cpu') else 224))
  if dataset == 'folder':
    c.data.num_classes = int(args.get('classes', 0))
  c.data.num_val = 10000 if dataset == 'imagenet' else 0
  c.data.normalize = 'standardize'
  c.data.augment = 'none'          # crops and flips happen on the host (stream.py)
  c.labels.kind = 'none'
  c.objective.kind = 'spatial'
  c.objective.grid_min = 2
  nets.apply(c.model, 'vgg_imagenet', scale=0.25 if args.get('cpu') else 1.)
  c.model.pool_kind = 'rms'
  c.model.norm = 'channel'
  c.optim.lr = 1e-3
  c.train.batch_size = 64 if args.get('cpu') else 256
  c.train.eval_batch_size = 250
  c.train.num_epochs = 3 if args.get('cpu') else 90
  c.train.log_every_steps = 100

  def tiny(c):
    c.data.image_size = int(args.get('size', 32))
    c.model.pools = (2, 2, 1, 2, 1, 2, 1, 1)  # 32 -> 4
    c.optim.lr = 3e-3
  apply_common_args(c, args, tiny)
  return c
