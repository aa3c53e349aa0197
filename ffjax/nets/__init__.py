"""Networks by name: a network is a function returning the per-unit model fields
(config.model) of one architecture, its defaults in its signature, registered by name
(`@registry.net('resnet18')`) in its own file here; a config picks one and overrides:

  nets.apply(c.model, 'resnet18', widths=(16, 32, 64, 128))

which fills the fields and records the choice (model.net, model.net_args) in the config,
so a run's config.json names its network. A new network is a file in this folder and
nothing else (every module here is imported the first time a name is looked up).

  ffcnn.py      the FF-CNN stacks (papers/001): 'ffcnn' (the paper's 3 x 128 7x7), 'ffcnn_cpu'
  vgg.py        ASGE's nets: 'vgg8', 'vgg11' (the authors' code), 'asge_gray', 'asge_rgb'
                (our reading of the paper), 'vgg_imagenet' (ours, for 224 x 224)
  resnet.py     'resnet18' (basic blocks; variant 'cifar' or 'standard')
  mobilenet.py  'mobilenetv3_small'
The units themselves are ffjax/units.py's; a network is which units, in what order, with
which skips and blocks.
"""
from __future__ import annotations

from ffjax import registry


def get(name: str, **overrides) -> dict:
  """The model fields of network `name`, with its arguments overridden."""
  return registry.get('net', name)(**overrides)


def names() -> tuple[str, ...]:
  return registry.names('net')


def apply(model, name: str, **overrides) -> None:
  """Sets config.model's fields to network `name`'s and records it: model.net = name,
  model.net_args = the arguments given (the rest are the function's defaults)."""
  model.update(get(name, **overrides))
  model.net = name
  model.net_args = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in overrides.items()}
