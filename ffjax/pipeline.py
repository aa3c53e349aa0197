"""Unit-parallel pipelining: Forward-Forward's own way to use many devices.

The units are cut into contiguous stages, one per device. At every call of `step`, each
stage trains its units on the activations the previous stage produced at the previous
call, and hands its own output on: stage s works on batch t - s at call t, so all
devices are busy at once (JAX dispatches the stages' jitted steps asynchronously) and
only one stage's activations per batch cross a device boundary. No gradient crosses a
stage, which FF's locality makes exact: the result after `flush` equals training stage
0 on the whole stream, recording its outputs, then stage 1 on those, and so on (tested).

Stages are balanced by FLOPs (`unit_flops`: a 7x7 unit on a 28x28 map costs as much
as many 3x3 units on 4x4 ones) and cut only where nothing else crosses: never inside a
residual block (a skip's source and its unit share a stage) nor, for hybrid, inside a
backprop block. A stage is a `network.Network` of its units, so it runs the same
forward pass (cuts, skips, batch norm) as the whole network.

A stage's step is the trainer's own loss (step.loss_fn) over a sub-network and the
matching slice of the method's objectives and cuts: no second copy of the step. In a
run, `train.schedule='pipelined'` (and `train.pipeline_stages`) drives it through
`PipelineLoop`, which hands the trainer the same calls as the other loops.

Scope: one-pass objectives (ASGE, per-class goodness, channel groups), ff or hybrid,
without per-unit schedules or the linear head; each stage's optimizer counts its own
steps. Design notes and what throughput to expect: README "Performance".
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ffjax import metrics as metrics_lib
from ffjax import labels as labels_lib
from ffjax import modes
from ffjax import objectives
from ffjax import network as net_lib
from ffjax import optim
from ffjax.data import preprocess as prep_lib
from ffjax import step as step_lib
from ffjax.errors import ConfigError
from ffjax.method import Method


def unit_flops(config, image_shape) -> list[float]:
  """Each unit's forward FLOPs (2 x multiply-adds of its convolution or product), from
  the config alone, as its type counts them (units.UnitType.flops). An FF unit's
  training step costs about twice that (forward and weight gradient; no input
  gradient), the same factor for every unit."""
  kind, m = net_lib.unit_type(config), config.model
  return [kind.flops(m, l, hwc) for l, hwc in enumerate(net_lib.input_shapes(config, image_shape))]


def allowed_starts(net, method: Method) -> list[int]:
  """Units a stage may start at: not inside a residual block (no later unit adds the
  input of a unit before it) nor inside a hybrid's backprop block (its input is cut)."""
  n = len(net.units)
  crossing = lambda c: any(0 <= net.skips[l] < c for l in range(c, n))
  return [c for c in range(1, n) if method.cuts[c] and not crossing(c)]


def stage_bounds(costs, num_stages: int, starts=None) -> list[tuple[int, int]]:
  """[(first, end)] of contiguous stages whose largest summed cost is the smallest
  possible (a pipeline runs at the pace of its slowest stage), the others as even as
  that allows (smallest sum of squares next); stages start only at `starts` (default:
  any unit). costs: one per unit, or the number of units (all 1)."""
  costs = [1.] * costs if isinstance(costs, int) else [float(c) for c in costs]
  n = len(costs)
  starts = sorted(set(range(1, n) if starts is None else starts))
  if not 1 <= num_stages <= len(starts) + 1:
    raise ConfigError(f'{num_stages} pipeline stages for {n} units that can be cut before '
                      f'{len(starts)} of them: 1 to {len(starts) + 1} stages')
  edges = [0] + starts + [n]
  acc = np.concatenate([[0.], np.cumsum(costs)])
  # best[s][i]: (largest stage cost, sum of squared stage costs) of the best cut of
  # units [0, edges[i]) into s stages, compared in that order.
  inf = (float('inf'), float('inf'))
  best = [[inf] * len(edges) for _ in range(num_stages + 1)]
  arg = [[0] * len(edges) for _ in range(num_stages + 1)]
  best[0][0] = (0., 0.)
  for s in range(1, num_stages + 1):
    for i in range(1, len(edges)):
      for j in range(i):
        c = acc[edges[i]] - acc[edges[j]]
        v = (max(best[s - 1][j][0], c), best[s - 1][j][1] + c * c)
        if v < best[s][i]:
          best[s][i], arg[s][i] = v, j
  bounds, i = [], len(edges) - 1
  for s in range(num_stages, 0, -1):
    j = arg[s][i]
    bounds.append((edges[j], edges[i]))
    i = j
  return bounds[::-1]


def check(config) -> None:
  o = config.optim
  problems = [
      (modes.get(config.method).local, f'method={config.method!r} (pipelining is for local training)'),
      (not objectives.get(config.objective.kind).pairs,
       f'objective.kind={config.objective.kind!r} (needs a one-pass objective)'),
      (not any(o.get(k) for k in optim.PER_UNIT), 'per-unit schedules'),
      (not config.predict.linear_head, 'predict.linear_head'),
  ]
  bad = [why for ok, why in problems if not ok]
  if bad:
    raise ConfigError('pipelining does not support ' + '; '.join(bad))


def stage_network(net, a: int, b: int) -> net_lib.Network:
  """Units [a, b) of net, with their heads, as a network of their own: skips renumbered
  from a; the network's input normalization on stage 0 only."""
  rel = lambda j: j - a if j >= 0 else -1
  return net_lib.Network(list(net.units[a:b]), None, list(net.aux[a:b]),
                         skips=[rel(j) for j in net.skips[a:b]],
                         input_norm=net.input_norm if a == 0 else 'none')


def stage_method(method: Method, a: int, b: int):
  """The method's pieces for units [a, b): their objectives and cuts; stage 0 keeps the
  encoder (later stages receive activations, not images)."""
  enc: labels_lib.LabelEncoder = (method.encoder if a == 0 else
                                  labels_lib.Encoder('none', method.encoder.num_classes))
  return dataclasses.replace(method, encoder=enc, objectives=method.objectives[a:b],
                             trained=method.trained[a:b], cuts=method.cuts[a:b], readout=None,
                             predictors=(), goodness_units=())


def _stage_step(method: Method, graphdef, tx, preprocess, first: int):
  def step(params, rest, opt_state, obj_state, h, y, key):
    if first == 0:  # stage 0 receives the raw batch: the trainer's own preparation
      h = preprocess.train(h, key)
    _, metrics, obj_state, rest, params, opt_state, h_out = step_lib.update(
        params, rest, opt_state, obj_state, h, y, key, method=method, graphdef=graphdef, tx=tx,
        unit_offset=first)
    return params, rest, opt_state, obj_state, h_out, metrics

  return jax.jit(step, donate_argnums=(0, 1, 2))


class Pipeline:
  """Trains a network with its units spread over `devices` as stages.

    pipe = Pipeline(config, net, method, devices, total_steps)
    for x_u8, y in batches: metrics = pipe.step(x_u8, y)
    pipe.flush()                       # the last batches through the later stages
    net = pipe.network()               # every stage's parameters in one network
  """

  def __init__(self, config, net, method: Method, devices, total_steps: int, steps_per_epoch: int = 1):
    check(config)
    self.net_graphdef, self.net_params, self.net_rest = step_lib.split(net)
    self.bounds = stage_bounds(unit_flops(config, _image_shape(net, config)), len(devices),
                               allowed_starts(net, method))
    self.devices = list(devices)
    self.base_key = jax.random.key(config.seed)
    tx, _ = optim.for_run(config, len(net.units), total_steps, steps_per_epoch)
    prep = prep_lib.make(config.data)
    self.graphdefs, self.params, self.rest, self.opt, self.obj, self.steps = [], [], [], [], [], []
    for s, (a, b) in enumerate(self.bounds):
      gd, p, r = step_lib.split(stage_network(net, a, b))
      dev = self.devices[s]
      # Own copies: the stage step donates its buffers, the whole network keeps its own.
      p = jax.device_put(jax.tree.map(lambda v: jnp.array(v, copy=True), p), dev)
      r = jax.device_put(jax.tree.map(lambda v: jnp.array(v, copy=True), r), dev)
      self.graphdefs.append(gd)
      self.params.append(p)
      self.rest.append(r)
      self.opt.append(jax.device_put(tx.init(p), dev))
      self.obj.append([None] * (b - a))  # one-pass objectives keep no state
      self.steps.append(_stage_step(stage_method(method, a, b), gd, tx, prep, a))
    self.inflight: list = [None] * len(self.bounds)  # (h, y, t) waiting for each stage
    self.t = 0

  def step(self, x_u8=None, y=None) -> dict:
    """One call: stage 0 takes (x_u8, y) (None: nothing new, while flushing), every later
    stage the previous call's output of the stage before it. Returns {batch t: metrics
    of the stages that ran on it} (device arrays; reading them waits for those stages)."""
    if x_u8 is not None:
      dev = self.devices[0]
      self.inflight[0] = (jax.device_put(x_u8, dev), jax.device_put(y, dev), self.t)
      self.t += 1
    nxt: list = [None] * len(self.bounds)
    metrics: dict = {}
    for s, job in enumerate(self.inflight):
      if job is None:
        continue
      h, yy, t = job
      key = jax.random.fold_in(self.base_key, t)
      (self.params[s], self.rest[s], self.opt[s], self.obj[s], h_out, m) = self.steps[s](
          self.params[s], self.rest[s], self.opt[s], self.obj[s], h, yy, key)
      metrics.setdefault(t, {}).update(m)
      if s + 1 < len(self.bounds):  # handed on: the only transfer between devices
        dev = self.devices[s + 1]
        nxt[s + 1] = (jax.device_put(h_out, dev), jax.device_put(yy, dev), t)
    self.inflight = nxt
    return metrics

  def flush(self) -> dict:
    """Runs the later stages until every batch given to `step` has been through all."""
    out: dict = {}
    while any(job is not None for job in self.inflight):
      for t, m in self.step().items():
        out.setdefault(t, {}).update(m)
    return out

  def network(self):
    """The whole network with every stage's current parameters (on the host)."""
    net = nnx.merge(self.net_graphdef, self.net_params, self.net_rest)
    for (a, b), gd, p, r in zip(self.bounds, self.graphdefs, self.params, self.rest):
      stage = nnx.merge(gd, jax.device_get(p), jax.device_get(r))
      for i in range(b - a):
        nnx.update(net.units[a + i], nnx.state(stage.units[i]))
        nnx.update(net.aux[a + i], nnx.state(stage.aux[i]))
    return net


def _image_shape(net, config):
  from ffjax import data
  _, h, w, c = data.shape_of(config.data)
  return prep_lib.output_shape(config.data, (h, w, c))


class PipelineLoop:
  """The trainer's loop over a Pipeline (train.schedule='pipelined'): a call feeds n
  batches (host-fed, in the run's order), flushes, and writes every stage's parameters
  back into the trainer's state. Flushing changes nothing: stage s's j-th update
  always reads stage s-1's output made with stage s-1's parameters after j updates, so
  where calls end does not matter (tested: equal to training stage after stage)."""

  def __init__(self, config, net, method: Method, train_split, batch_size: int, steps_per_epoch: int,
               total_steps: int):
    stages = config.train.pipeline_stages or len(jax.devices())
    if stages > len(jax.devices()):
      raise ConfigError(f'config.train.pipeline_stages={stages}: more stages than the '
                        f'{len(jax.devices())} devices')
    self.pipe = Pipeline(config, net, method, jax.devices()[:stages], total_steps, steps_per_epoch)
    self.train, self.b, self.spe, self.seed = train_split, batch_size, steps_per_epoch, config.seed

  def opt_state(self):
    return list(self.pipe.opt)

  def run(self, state, start: int, n: int, seeds=None):
    from ffjax import data as data_lib
    pipe = self.pipe
    net = nnx.merge(pipe.net_graphdef, jax.device_get(state['params']), jax.device_get(state['rest']))
    for s, ((a, b), gd) in enumerate(zip(pipe.bounds, pipe.graphdefs)):  # the state into the stages
      _, p, r = step_lib.split(stage_network(net, a, b))
      pipe.params[s] = jax.device_put(p, pipe.devices[s])
      pipe.rest[s] = jax.device_put(r, pipe.devices[s])
      pipe.opt[s] = jax.device_put(jax.device_get(state['opt_state'][s]), pipe.devices[s])
    pipe.t = start
    ms: dict = {}
    for t in range(start, start + n):
      epoch, i = divmod(t, self.spe)
      idx = data_lib.epoch_order_host(self.seed, epoch, len(self.train))[i * self.b:(i + 1) * self.b]
      for tt, m in pipe.step(self.train.x[idx], self.train.y[idx]).items():
        ms.setdefault(tt, {}).update(m)
    for tt, m in pipe.flush().items():
      ms.setdefault(tt, {}).update(m)
    net = pipe.network()
    _, params, rest = step_lib.split(net)
    rows = [ms[t] for t in range(start, start + n)]
    for r in rows:
      r['loss'] = sum(r[k] for k in metrics_lib.unit_keys(r, 'loss'))
    new = dict(state, step=state['step'] + n, params=params, rest=rest,
               opt_state=[jax.device_get(o) for o in pipe.opt])
    return new, rows

  def fetch(self, rows, n: int) -> dict:
    got = jax.device_get(rows)
    return {k: np.stack([np.asarray(r[k]) for r in got]) for k in got[0]}


def initial_opt_state(config, parts) -> list:
  """Every stage's initial optimizer state (the trainer's state holds one per stage): the
  optimizer's init on each stage's parameters, as the Pipeline builds them."""
  stages = config.train.pipeline_stages or len(jax.devices())
  bounds = stage_bounds(unit_flops(config, _image_shape(parts.net, config)), stages,
                        allowed_starts(parts.net, parts.method))
  tx, _ = optim.for_run(config, len(parts.net.units), parts.total_steps, parts.steps_per_epoch)
  return [jax.device_get(tx.init(step_lib.split(stage_network(parts.net, a, b))[1])) for a, b in bounds]
