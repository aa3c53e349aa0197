"""The training order: a pure function of (seed, epoch), the same on the device (the
resident loop draws it inside a call) and on the host (the host-fed loop, the streamed
pipeline, which reads it for the epoch after this one while this one's last batches are
consumed). Compiled once per process and dataset size."""
from __future__ import annotations

import numpy as np


def epoch_order(seed, epoch, n: int):
  """The training order of one epoch: a permutation of n, a pure function of (seed,
  epoch), drawn by JAX so that the device can draw it itself inside a training call
  (ffjax/loop.py); the host-fed loop uses the same function, so both see the same
  batches. seed and epoch may be traced."""
  import jax
  return jax.random.permutation(jax.random.fold_in(jax.random.key(seed), epoch), n)


_host_order: dict = {}


def epoch_order_host(seed: int, epoch: int, n: int) -> np.ndarray:
  """epoch_order as a numpy array (the host-fed loop)."""
  import jax
  if n not in _host_order:
    _host_order[n] = jax.jit(lambda s, e: epoch_order(s, e, n))
  return np.asarray(_host_order[n](np.int32(seed), np.int32(epoch)))


def batch_indices(seed: int, epoch: int, n: int, batch_size: int, i: int) -> np.ndarray:
  """Indices of batch i of an epoch (the remainder that fills no batch is dropped)."""
  return epoch_order_host(seed, epoch, n)[i * batch_size:(i + 1) * batch_size]
