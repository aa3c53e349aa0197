"""MobileNetV3-Small of ffjax units (scalable FF, papers/002): depthwise units, squeeze-
excite, hard-swish, linear projections with residuals."""
from __future__ import annotations

from ffjax import registry

# (kernel, expansion, out, squeeze-excite, activation, stride) per block.
SMALL = (
    (3, 16, 16, True, 'relu', 2),
    (3, 72, 24, False, 'relu', 2),
    (3, 88, 24, False, 'relu', 1),
    (5, 96, 40, True, 'hardswish', 2),
    (5, 240, 40, True, 'hardswish', 1),
    (5, 240, 40, True, 'hardswish', 1),
    (5, 120, 48, True, 'hardswish', 1),
    (5, 144, 48, True, 'hardswish', 1),
    (5, 288, 96, True, 'hardswish', 2),
    (5, 576, 96, True, 'hardswish', 1),
    (5, 576, 96, True, 'hardswish', 1),
)


def mobilenet_units(table=SMALL, stem=16, last=576, stem_stride=2, first_stride=None, scale=1.):
  """Per-unit fields (widths, kernels, strides, acts, depthwise, se, skips, blocks) of a
  MobileNetV3 from its block table; scale multiplies every width (rounded to 8)."""
  r = lambda c: max(8, int(c * scale + 4) // 8 * 8)
  u = dict(widths=[r(stem)], kernels=[3], strides=[stem_stride], acts=['hardswish'],
           depthwise=[False], se=[False], skips=[-1], blocks=[0])

  def add(w, k, s, act, dw, se, skip, block):
    for key, v in zip(('widths', 'kernels', 'strides', 'acts', 'depthwise', 'se', 'skips', 'blocks'),
                      (w, k, s, act, dw, se, skip, block)):
      u[key].append(v)

  cin = r(stem)
  for i, (k, exp, out, se, act, s) in enumerate(table):
    s = first_stride if (i == 0 and first_stride is not None) else s
    block, first = u['blocks'][-1] + 1, len(u['widths'])  # unit `first` receives the block input
    e, o = r(exp), r(out)
    if e != cin:
      add(e, 1, 1, act, False, False, -1, block)
    add(e, k, s, act, True, se, -1, block)
    add(o, 1, 1, 'none', False, False, first if (s == 1 and o == cin) else -1, block)
    cin = o
  add(r(last), 1, 1, 'hardswish', False, True, -1, u['blocks'][-1] + 1)
  return {key: tuple(v) for key, v in u.items()}


@registry.net('mobilenetv3_small')
def small(scale: float = 1., variant: str = 'cifar') -> dict:
  """MobileNetV3-Small; variant 'cifar' keeps 32 x 32 images' resolution in the stem and
  the first block (strides 1), 'standard' is the table's (224 -> 7)."""
  if variant not in ('cifar', 'standard'):
    from ffjax.errors import ConfigError
    raise ConfigError(f"variant={variant!r}: 'cifar' (32x32 input) or 'standard'")
  strides = dict(stem_stride=1, first_stride=1) if variant == 'cifar' else {}
  f = mobilenet_units(scale=scale, **strides)
  f['kind'], f['pools'] = 'conv', (1,) * len(f['widths'])
  return f
