"""How batches reach the step: many steps per call from data resident on the device, or
one step per call from the host.

DeviceLoop (data that fits: MNIST, Fashion-MNIST and CIFAR on any GPU, and on a CPU):
the training images stay on the device(s), replicated, from the start of the run;
a call runs `steps_per_call` steps in one `lax.scan`, drawing the epoch's order on the
device from (seed, epoch) and gathering each batch there (B-sharded over the mesh, so
each device gathers only its rows); the state is donated; the per-step metrics come
back stacked, fetched once per call. The host does nothing per step. On a CPU the
default is one step per call (steps_per_call=1: the same order and gather on the
device, dispatched per step), because XLA:CPU runs convolution gradients inside a loop
far slower than outside one.

Replicated, not sharded: a random order gathers every batch from the whole training
set, which on a sharded copy would cost an all-to-all per step; a replicated one costs
each device one copy (MNIST 47 MB, CIFAR-10 150 MB).

HostLoop (data read from disk, or too large for the device): the same order, one batch
per step from the split's stream (data.Split.stream: gathered from memory, or decoded
from disk ahead of the step and across epochs' ends, ffjax/data/stream.py), copied over;
the same step. Each process reads only its devices' rows of every batch.

Both run `run(state, start, n)`: n steps from global step `start` (a call never crosses
an epoch's end: the trainer cuts calls there), returning the new state and the metrics
of those n steps as host arrays {name: (n,) or (n, S)}. With a population (S members,
a leading axis on the state), each member draws its own order from its own seed and
the step is vmapped over members.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from ffjax import data as data_lib
from ffjax import parallel


def _batch_spec(population: bool):
  return P(None, 'data') if population else P('data')


class DeviceLoop:

  def __init__(self, step, mesh, train: data_lib.Split, batch_size: int, steps_per_epoch: int,
               steps_per_call: int, population: bool = False):
    self.mesh, self.k, self.population = mesh, steps_per_call, population
    self.x = parallel.put(mesh, train.x, P())
    self.y = parallel.put(mesh, train.y, P())
    n, b, spe = len(train), batch_size, steps_per_epoch
    bsh = NamedSharding(mesh, _batch_spec(population))
    run_step = jax.vmap(step) if population else step

    def orders(seeds, epoch):
      return (jax.vmap(lambda s: data_lib.epoch_order(s, epoch, n))(seeds) if population
              else data_lib.epoch_order(seeds, epoch, n))

    def batch(x_all, y_all, order, s):
      """Step s's batch, gathered on the device (B-sharded: each device its rows)."""
      at = (s % spe) * b
      idx = (jax.vmap(lambda o: jax.lax.dynamic_slice(o, (at,), (b,)))(order) if population
             else jax.lax.dynamic_slice(order, (at,), (b,)))
      return (jax.lax.with_sharding_constraint(x_all[idx], bsh),
              jax.lax.with_sharding_constraint(y_all[idx], bsh))

    # On a CPU a call's steps are straight-line code (the scan unrolled, no cond): XLA:CPU
    # runs a convolution's weight gradient inside a loop 20-60x slower (jax-ml/jax#12868),
    # and with its oneDNN options any convolution inside a loop or a cond: a 4-step call of
    # the tiny FF-CNN took 0.40 s as a loop, 6.2 s as a loop under oneDNN, 0.07 s unrolled
    # under oneDNN (docs/RESULTS.md 26). The cost: k copies of the step to compile.
    straight = jax.default_backend() == 'cpu'

    def call(state, x_all, y_all, start, n_active):
      order = orders(state['seed'], start // spe)

      def body(state, i):
        x, y = batch(x_all, y_all, order, start + i)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), self._metrics_shape)
        # Steps past n_active do nothing (the last call of a run, or one cut short):
        # one compiled call serves every length.
        if straight:  # every step runs; a select keeps what the inactive ones made out
          # (a barrier on either side: each step compiled alone, as in a loop body, so a
          # step computes the same bits wherever it falls in a call: exact resume)
          state, x, y = jax.lax.optimization_barrier((state, x, y))
          new, m = jax.lax.optimization_barrier(run_step(state, x, y))
          keep = i < n_active
          return (jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, state),
                  jax.tree.map(lambda a, z: jnp.where(keep, a, z), m, zeros))
        return jax.lax.cond(i < n_active, lambda s: run_step(s, x, y), lambda s: (s, zeros), state)

      return jax.lax.scan(body, state, jnp.arange(self.k), unroll=self.k if straight else 1)

    def one(state, x_all, y_all, order, s):
      return run_step(state, *batch(x_all, y_all, order, s))

    rep = parallel.replicated(mesh)
    self._call = jax.jit(call, in_shardings=(rep, rep, rep, None, None),
                         out_shardings=(rep, rep), donate_argnums=0)
    self._one = jax.jit(one, in_shardings=(rep, rep, rep, rep, None), out_shardings=(rep, rep),
                        donate_argnums=0)
    self._orders = jax.jit(orders, out_shardings=rep)
    self._order_of: tuple = (None, None)  # (epoch, its order): the per-step path's
    self._run_step, self._b, self._metrics_shape = run_step, b, None
    self._spe = spe

  def run(self, state, start: int, n: int, seeds=None):
    """n <= steps_per_call steps from `start`. steps_per_call > 1: one scanned call,
    returning device metrics (k, ...) whose rows past n are zeros (`fetch` trims them);
    1: n calls of one step (XLA:CPU runs a conv's weight gradient inside a loop 40-60x
    slower than outside one, docs/RESULTS.md section 19: on a CPU the dispatch is cheap
    and the loop is better left to Python). The seeds are in the state."""
    assert n > 0 and (self.k == 1 or n <= self.k)
    if self.k == 1:
      epoch = start // self._spe
      if self._order_of[0] != epoch:
        self._order_of = (epoch, self._orders(state['seed'], np.int32(epoch)))
      ms = []
      for s in range(start, start + n):
        state, m = self._one(state, self.x, self.y, self._order_of[1], np.int32(s))
        ms.append(m)
      return state, ms
    if self._metrics_shape is None:  # what a step returns, for the steps a call skips
      lead = tuple(np.shape(state['seed']))  # (S,) for a population
      xs = jax.ShapeDtypeStruct(lead + (self._b,) + self.x.shape[1:], self.x.dtype)
      ys = jax.ShapeDtypeStruct(lead + (self._b,), self.y.dtype)
      self._metrics_shape = jax.eval_shape(self._run_step, state, xs, ys)[1]
    return self._call(state, self.x, self.y, np.int32(start), np.int32(n))

  def fetch(self, metrics, n: int) -> dict:
    got = jax.device_get(metrics)
    if isinstance(got, list):
      return {k: np.stack([np.asarray(m[k]) for m in got]) for k in got[0]}
    return {k: np.asarray(v)[:n] for k, v in got.items()}


class HostLoop:

  def __init__(self, step, mesh, train: data_lib.Split, batch_size: int, steps_per_epoch: int,
               population: bool = False):
    self.mesh, self.train, self.b, self.spe = mesh, train, batch_size, steps_per_epoch
    self.population = population
    rep, bat = parallel.replicated(mesh), NamedSharding(mesh, _batch_spec(population))
    self._step = jax.jit(jax.vmap(step) if population else step, in_shardings=(rep, bat, bat),
                         out_shardings=(rep, rep), donate_argnums=0)
    self._rows = parallel.process_rows(mesh, batch_size)  # this process's rows of a batch
    self._it: Any = None  # the split's batches, kept while calls go on in order
    self._at: tuple | None = None  # the (seed, step) of its next batch

  def _next(self, seed: int, s: int):
    """Batch s from the split's stream (this process's rows, decoded ahead across epochs);
    kept while the calls go on in order (a resume starts a new one at its step)."""
    if self._at != (seed, s):
      self._it = self.train.stream(seed, s, self.b, self._rows)
    self._at = (seed, s + 1)
    return next(self._it)

  def _members(self, seeds: tuple, s: int):
    """Batch s of each member of a population (each its own order; resident data)."""
    epoch, i = divmod(s, self.spe)
    idx = [data_lib.epoch_order_host(m, epoch, len(self.train))[i * self.b:(i + 1) * self.b]
           for m in seeds]
    spec = _batch_spec(True)
    return (parallel.put(self.mesh, np.stack([self.train.x[j] for j in idx]), spec),
            parallel.put(self.mesh, np.stack([self.train.y[j] for j in idx]), spec))

  def run(self, state, start: int, n: int, seeds: tuple):
    """n steps from `start` with batches fed from the host; seeds: each member's (or the
    run's) seed, which fixes its order."""
    ms = []
    for s in range(start, start + n):
      xy = (self._members(seeds, s) if self.population else
            parallel.put_rows(self.mesh, self.b, self._rows[0], *self._next(seeds[0], s)))
      state, m = self._step(state, *xy)
      ms.append(m)
    return state, ms

  def fetch(self, metrics, n: int) -> dict:
    got = jax.device_get(metrics)
    return {k: np.stack([np.asarray(m[k]) for m in got]) for k in got[0]}


def fits_on_device(dataset: data_lib.Dataset, fraction: float = 0.25) -> bool:
  """Whether the run's images fit in `fraction` of one device's memory (always on a CPU,
  whose memory is the host's)."""
  dev = jax.devices()[0]
  if dev.platform == 'cpu':
    return True
  try:
    limit = dev.memory_stats()['bytes_limit']
  except Exception:  # a backend without memory_stats: assume a small device
    limit = 8 << 30
  return data_lib.nbytes(dataset) <= fraction * limit
