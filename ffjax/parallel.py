"""Data parallelism: one mesh over all devices, the batch split along 'data'.

Plain `jax.jit` with `NamedSharding`s: parameters replicated, batches sharded on
their leading axis; XLA inserts the gradient all-reduce. On one device this is
ordinary jit.

Several processes (hosts): `initialize` starts JAX's distributed runtime, after which
`jax.devices()` lists every process's devices and the mesh spans them all. Every
process reads the same data in the same (seeded) order and hands each of its devices
that device's rows of the global batch (`put_batch`), so the program is the same
whatever the number of processes; process 0 alone writes files and prints.
"""
from __future__ import annotations

import functools
import os

import jax
import numpy as np
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
  """Global host arrays (the same in every process) -> device arrays split over the
  mesh's 'data' axis; each process fills only its own devices' rows."""
  s = batch_sharding(mesh)
  if jax.process_count() == 1:
    return tuple(jax.device_put(a, s) for a in arrays)
  return tuple(jax.make_array_from_callback(a.shape, s, lambda idx, a=a: a[idx]) for a in arrays)


def process_rows(mesh, batch_size: int) -> tuple[int, int]:
  """(lo, hi): the rows of a global batch this process's devices hold (a streamed source
  reads only these)."""
  spans = [idx[0].indices(batch_size)[:2] for idx in
           batch_sharding(mesh).addressable_devices_indices_map((batch_size,)).values()]
  lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
  assert sum(b - a for a, b in set(spans)) == hi - lo, spans  # one contiguous block
  return lo, hi


def put_rows(mesh, batch_size: int, lo: int, *arrays):
  """This process's rows lo.. of global batches of `batch_size` -> device arrays split
  over the mesh's 'data' axis (together, the processes' rows make the global batch)."""
  s = batch_sharding(mesh)
  if jax.process_count() == 1:
    return tuple(jax.device_put(a, s) for a in arrays)

  def local(a, idx):
    start, stop, _ = idx[0].indices(batch_size)
    return a[start - lo:stop - lo][(slice(None),) + tuple(idx[1:])]
  return tuple(jax.make_array_from_callback((batch_size,) + a.shape[1:], s,
                                            functools.partial(local, a)) for a in arrays)


def put(mesh, a, spec: P):
  """A global host array (the same in every process) -> a device array laid out by
  `spec` over the mesh; each process fills only its own devices' parts."""
  s = NamedSharding(mesh, spec)
  if jax.process_count() == 1:
    return jax.device_put(a, s)
  return jax.make_array_from_callback(a.shape, s, lambda idx: a[idx])


def put_replicated(mesh, tree):
  """A pytree with the same value in every process -> replicated over the mesh."""
  rep = replicated(mesh)
  if jax.process_count() == 1:
    return jax.device_put(tree, rep)
  return jax.tree.map(
      lambda v: jax.make_array_from_callback(np.shape(v), rep, lambda idx, v=v: np.asarray(v)[idx]),
      tree)


def is_main_process() -> bool:
  return jax.process_index() == 0


def initialize(coordinator: str = '', num_processes: int = 0, process_id: int = -1) -> None:
  """Starts JAX's distributed runtime when there is more than one process.

  Explicit: coordinator 'host:port', num_processes, process_id (flags of
  experiments.main, or FFJAX_COORDINATOR / FFJAX_NUM_PROCESSES / FFJAX_PROCESS_ID).
  coordinator='auto': let JAX read the cluster's environment (SLURM, Open MPI, ...).
  Nothing given: one process, nothing to start. On CPUs the collectives go over gloo.
  """
  coordinator = coordinator or os.environ.get('FFJAX_COORDINATOR', '')
  num_processes = num_processes or int(os.environ.get('FFJAX_NUM_PROCESSES', '0') or 0)
  if process_id < 0:
    process_id = int(os.environ.get('FFJAX_PROCESS_ID', '-1') or -1)
  if not coordinator:
    return
  if jax.distributed.is_initialized():
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  if coordinator == 'auto':
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
