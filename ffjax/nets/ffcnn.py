"""The FF-CNN's plain stacks (papers/001): conv units, no skips, one block each."""
from __future__ import annotations

from ffjax import registry


@registry.net('ffcnn')
def ffcnn(widths=(128, 128, 128), kernels=(7, 7, 7), pools=(1, 1, 1)) -> dict:
  """The paper's best: 3 units of 128 filters 7x7, no pooling (the paper found it hurt)."""
  return dict(kind='conv', widths=tuple(widths), kernels=tuple(kernels), pools=tuple(pools))


@registry.net('ffcnn_cpu')
def ffcnn_cpu(widths=(16, 16, 16), kernels=(7, 7, 7), pools=(1, 2, 2)) -> dict:
  """Sized for 2 CPU cores: 16 filters 7x7, pooling after units 2 and 3 (a wider
  receptive field, which goodness inference needs most)."""
  return ffcnn(widths, kernels, pools)
