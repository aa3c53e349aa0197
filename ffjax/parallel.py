"""Data parallelism: one mesh over all devices, the batch split along 'data'.

Plain `jax.jit` with `NamedSharding`s: parameters replicated, batches sharded on
their leading axis; XLA inserts the gradient all-reduce. On one device this is
ordinary jit.
"""
from __future__ import annotations

import jax
from jax.sharding import NamedSharding, PartitionSpec as P


def make_mesh(devices=None):
  devices = devices if devices is not None else jax.devices()
  # Auto axes: the explicit-axes default of jax.make_mesh breaks some optax losses in jit.
  return jax.make_mesh((len(devices),), ('data',), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh):
  return NamedSharding(mesh, P('data'))


def replicated(mesh):
  return NamedSharding(mesh, P())


def put_batch(mesh, *arrays):
  """Host arrays -> device arrays split over the mesh's 'data' axis."""
  s = batch_sharding(mesh)
  return tuple(jax.device_put(a, s) for a in arrays)
