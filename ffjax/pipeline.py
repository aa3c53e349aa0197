"""Unit-parallel pipelining: Forward-Forward's own way to use many devices.

The units are cut into contiguous stages, one per device. At every call of `step`, each
stage trains its units on the activations the previous stage produced at the previous
call, and hands its own output on: stage s works on batch t - s at call t, so all
devices are busy at once (JAX dispatches the stages' jitted steps asynchronously) and
only one stage's activations per batch cross a device boundary. No gradient crosses a
stage, which FF's locality makes exact: the result after `flush` equals training stage
0 on the whole stream, recording its outputs, then stage 1 on those, and so on (tested).

Scope: one-pass objectives (ASGE, per-class goodness, channel groups) without residual
skips, batch norm or per-unit schedules; each stage's optimizer counts its own steps.
Design notes and what throughput to expect: README "Performance".
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ffjax import network as net_lib
from ffjax import train
from ffjax.config_args import ConfigError


class Stage(nnx.Module):
  """A contiguous run of units with their own heads."""

  def __init__(self, units, aux):
    self.units = nnx.List(units)
    self.aux = nnx.List(aux)


def stage_bounds(num_units: int, num_stages: int) -> list[tuple[int, int]]:
  """[(first, end)] of each stage: contiguous, sizes differing by at most one."""
  if not 1 <= num_stages <= num_units:
    raise ConfigError(f'{num_stages} pipeline stages for {num_units} units: 1 to {num_units}')
  cuts = np.linspace(0, num_units, num_stages + 1).round().astype(int)
  return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def check(config) -> None:
  m, o = config.model, config.optim
  kind = config.objective.get('kind', 'threshold')
  problems = [
      (config.method == 'ff', f'method={config.method!r} (pipelining is for layer-wise ff)'),
      (kind in net_lib.ONE_PASS, f'objective.kind={kind!r} (needs a one-pass objective)'),
      (not any(j >= 0 for j in m.get('skips', ())), 'model.skips (residual units)'),
      (not m.get('batch_norm'), 'model.batch_norm'),
      (not o.get('unit_lr_scale') and not o.get('unit_stop_epochs'), 'per-unit schedules'),
      (not config.predict.get('linear_head'), 'predict.linear_head'),
  ]
  bad = [why for ok, why in problems if not ok]
  if bad:
    raise ConfigError('pipelining does not support ' + '; '.join(bad))


def _stage_step(config, graphdef, tx, first: int, is_first: bool):
  base_key = jax.random.key(config.seed)

  def step(params, opt_state, h, y, t):
    if is_first:  # stage 0 receives the raw batch: the trainer's own preparation
      h = train.prepare_batch(config, h, jax.random.fold_in(base_key, t))

    def loss_fn(p):
      stage = nnx.merge(graphdef, p)
      total, metrics, hh = 0., {}, h
      for i, (unit, head) in enumerate(zip(stage.units, stage.aux)):
        y_l, hh = net_lib.apply_unit(unit, hh, local=True)
        loss_l, m = train.spatial_objective(first + i, True, head, y_l, y)
        total += loss_l
        metrics.update(m)
      return total, (metrics, jax.lax.stop_gradient(hh))

    (_, (metrics, h_out)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, h_out, metrics

  return jax.jit(step, donate_argnums=(0, 1))


class Pipeline:
  """Trains config's network with its units spread over `devices` as stages.

    pipe = Pipeline(config, (28, 28, 1), 10, jax.devices()[:4], total_steps)
    for x_u8, y in batches: metrics = pipe.step(x_u8, y)
    pipe.flush()                       # the last batches through the later stages
    net = pipe.network()               # every stage's parameters in one network
  """

  def __init__(self, config, image_shape, num_classes: int, devices, total_steps: int):
    check(config)
    net = net_lib.build(config, image_shape, num_classes, nnx.Rngs(config.seed))
    self.net_graphdef, self.net_params = nnx.split(net)
    self.bounds = stage_bounds(len(net.units), len(devices))
    self.devices = list(devices)
    tx, _ = train.make_optimizer(config, total_steps)
    self.graphdefs, self.params, self.opt, self.steps = [], [], [], []
    for s, (a, b) in enumerate(self.bounds):
      gd, p = nnx.split(Stage(list(net.units[a:b]), list(net.aux[a:b])))
      # Own copies: the stage step donates its buffers, the whole network keeps its own.
      p = jax.device_put(jax.tree.map(lambda v: jnp.array(v, copy=True), p), self.devices[s])
      self.graphdefs.append(gd)
      self.params.append(p)
      self.opt.append(jax.device_put(tx.init(p), self.devices[s]))
      self.steps.append(_stage_step(config, gd, tx, a, s == 0))
    self.inflight = [None] * len(self.bounds)  # (h, y, t) waiting for each stage
    self.t = 0

  def step(self, x_u8=None, y=None) -> dict:
    """One call: stage 0 takes (x_u8, y) (None: nothing new, while flushing), every later
    stage the previous call's output of the stage before it. Returns the metrics of the
    stages that ran (device arrays; reading them waits for those stages)."""
    if x_u8 is not None:
      dev = self.devices[0]
      self.inflight[0] = (jax.device_put(x_u8, dev), jax.device_put(y, dev), self.t)
      self.t += 1
    nxt, metrics = [None] * len(self.bounds), {}
    for s, job in enumerate(self.inflight):
      if job is None:
        continue
      h, yy, t = job
      self.params[s], self.opt[s], h_out, m = self.steps[s](self.params[s], self.opt[s], h, yy,
                                                             np.int32(t))
      metrics.update(m)
      if s + 1 < len(self.bounds):  # handed on: the only transfer between devices
        dev = self.devices[s + 1]
        nxt[s + 1] = (jax.device_put(h_out, dev), jax.device_put(yy, dev), t)
    self.inflight = nxt
    return metrics

  def flush(self) -> None:
    """Runs the later stages until every batch given to `step` has been through all."""
    while any(job is not None for job in self.inflight):
      self.step()

  def network(self):
    """The whole network with every stage's current parameters (on the host)."""
    net = nnx.merge(self.net_graphdef, self.net_params)
    for (a, b), gd, p in zip(self.bounds, self.graphdefs, self.params):
      stage = nnx.merge(gd, jax.device_get(p))
      for i in range(b - a):
        nnx.update(net.units[a + i], nnx.state(stage.units[i]))
        nnx.update(net.aux[a + i], nnx.state(stage.aux[i]))
    return net
