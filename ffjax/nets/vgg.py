"""VGG-like stacks of 3x3 conv units: ASGE's (papers/003) and ours for ImageNet."""
from __future__ import annotations

from ffjax import registry


def _stack(widths, pools) -> dict:
  widths = tuple(widths)
  return dict(kind="conv", widths=widths, kernels=(3,) * len(widths), pools=tuple(pools))


@registry.net('vgg8')
def vgg8(scale: float = 1.) -> dict:
  """The authors' code for the grey datasets; scale multiplies the widths (cpu: 1/4)."""
  return _stack((int(w * scale) for w in (128, 256, 256, 512, 512, 512, 512)), (1, 2, 1, 2, 2, 2, 1))


@registry.net('vgg11')
def vgg11(scale: float = 1.) -> dict:
  """The authors' code for CIFAR."""
  return _stack((int(w * scale) for w in (128, 256, 256, 512, 512, 512, 512, 512, 512, 512)),
                (1, 2, 1, 2, 1, 2, 1, 2, 1, 1))


@registry.net('asge_gray')
def asge_gray(cpu: bool = False) -> dict:
  """Our reading of the paper's nets, grey images (cpu: 4 units)."""
  return _stack((32, 32, 64, 64), (1, 2, 1, 2)) if cpu else _stack(
      (64, 64, 128, 128, 256, 256), (1, 2, 1, 2, 1, 2))


@registry.net('asge_rgb')
def asge_rgb(cpu: bool = False) -> dict:
  """Our reading, colour images (cpu: 4 units)."""
  return _stack((32, 32, 64, 64), (1, 2, 1, 2)) if cpu else _stack(
      (128, 128, 256, 256, 512, 512), (1, 2, 1, 2, 1, 2))


@registry.net('vgg_imagenet')
def vgg_imagenet(scale: float = 1., pools=(2, 2, 1, 2, 1, 2, 1, 2)) -> dict:
  """Ours for 224 x 224 (the paper gives no ImageNet net in the text we have): VGG11's
  widths 64-128-256-256-512-512-512-512, five 2x2 pools (224 -> 7)."""
  return _stack((int(w * scale) for w in (64, 128, 256, 256, 512, 512, 512, 512)), pools)
