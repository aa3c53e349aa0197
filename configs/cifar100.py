"""FF-CNN with spatially extended labels on CIFAR-100: the CIFAR-10 recipe
(configs/cifar10.py) with label sets built for 100 classes: morphological labels by
random structuring elements (12 offsets in a 9x9 window, default) or Fourier set 3
(integer wave vectors x cos/sin, exactly orthogonal). Both are held to a
distinguishability bound by tests/test_labels.py.
No CIFAR-100 data exists on these machines: the code path is tested on generated files
in the official binary format (cifar100/cifar-100-binary/train.bin, test.bin).
  python -m experiments.main --config=configs/cifar100.py --workdir=runs/c100
Expected: not measured (no data here).

Arguments: as configs/cifar10.py; labels=morph_random (default) | fourier3.
"""
from ffjax import config_args

_cifar10 = config_args.load_sibling(__file__, 'cifar10.py')
ARGS = _cifar10.ARGS  # labels: morph_random (default) | fourier3


def get_config(arg=None):
  args = config_args.parse(arg)
  name = args.pop('labels', 'morph_random')
  if name not in ('morph_random', 'fourier3'):
    raise config_args.ConfigError(f'labels={name!r}: CIFAR-100 ships morph_random and fourier3')
  rest = ','.join(f'{k}={v}' if v is not True else k for k, v in args.items())
  c = _cifar10.get_config(f'{rest},labels={name}' if rest else f'labels={name}')
  c.data.name = 'cifar100'
  return c
