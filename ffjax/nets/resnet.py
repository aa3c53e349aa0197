"""ResNet-18 of ffjax units (scalable FF, papers/002): a 3x3 stem conv, then 4 stages x 2
basic blocks, a block being two conv units, the second adding the block's input
(projected by a 1x1 conv when its shape changes) before its ReLU. 17 units."""
from __future__ import annotations

from ffjax import registry


def resnet_units(stage_widths, blocks_per_stage=(2, 2, 2, 2)):
  """Per-unit widths, strides, skips and block ids of a ResNet with basic blocks."""
  widths, strides, skips, blocks = [stage_widths[0]], [1], [-1], [0]
  for s, (w, nb) in enumerate(zip(stage_widths, blocks_per_stage)):
    for b in range(nb):
      a = len(widths)  # unit A of this block; unit B adds A's input
      widths += [w, w]
      strides += [2 if (s > 0 and b == 0) else 1, 1]
      skips += [-1, a]
      blocks += [blocks[-1] + 1] * 2
  return tuple(widths), tuple(strides), tuple(skips), tuple(blocks)


@registry.net('resnet18')
def resnet18(widths=(64, 128, 256, 512), variant: str = 'cifar') -> dict:
  """variant 'cifar': for 32 x 32 images; 'standard': the ImageNet stem for large ones
  (7x7 conv at stride 2, then a 2x2 max pool where the original pools 3x3 at stride 2:
  224 -> 56 before stage 1)."""
  if variant not in ('cifar', 'standard'):
    from ffjax.errors import ConfigError
    raise ConfigError(f"variant={variant!r}: 'cifar' (32x32 input) or 'standard'")
  f = dict(zip(('widths', 'strides', 'skips', 'blocks'), resnet_units(widths)))
  n = len(f['widths'])
  f['kind'], f['kernels'], f['pools'] = 'conv', (3,) * n, (1,) * n
  if variant == 'standard':
    f['kernels'] = (7,) + f['kernels'][1:]
    f['strides'] = (2,) + f['strides'][1:]
    f['pools'] = (2,) + f['pools'][1:]
  return f
