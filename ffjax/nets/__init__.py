"""Networks by name: each returns the per-unit model fields (config.model) of one
architecture, its defaults in its signature; a config picks one and overrides:

  c.model.update(nets.get('resnet18', widths=(16, 32, 64, 128)))

  ffcnn.py      the FF-CNN stacks (papers/001): 'ffcnn' (the paper's 3 x 128 7x7), 'ffcnn_cpu'
  vgg.py        ASGE's nets: 'vgg8', 'vgg11' (the authors' code), 'asge_gray', 'asge_rgb'
                (our reading of the paper), 'vgg_imagenet' (ours, for 224 x 224)
  resnet.py     'resnet18' (basic blocks; variant 'cifar' or 'standard')
  mobilenet.py  'mobilenetv3_small'
The units themselves are ffjax/units.py's; a network is which units, in what order, with
which skips and blocks.
"""
from __future__ import annotations

from typing import Callable

from ffjax.nets import ffcnn, mobilenet, resnet, vgg

NETS: dict[str, Callable[..., dict]] = {
    'ffcnn': ffcnn.ffcnn, 'ffcnn_cpu': ffcnn.ffcnn_cpu,
    'vgg8': vgg.vgg8, 'vgg11': vgg.vgg11, 'asge_gray': vgg.asge_gray, 'asge_rgb': vgg.asge_rgb,
    'vgg_imagenet': vgg.vgg_imagenet,
    'resnet18': resnet.resnet18,
    'mobilenetv3_small': mobilenet.small,
}


def get(name: str, **overrides) -> dict:
  """The model fields of network `name`, with its arguments overridden."""
  if name not in NETS:
    from ffjax.errors import ConfigError
    raise ConfigError(f'network {name!r}: unknown; one of {sorted(NETS)}')
  return NETS[name](**overrides)
