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

Scope: one-pass objectives (ASGE, per-class goodness, channel groups), ff or hybrid,
without per-unit schedules or the linear head; each stage's optimizer counts its own
steps. Design notes and what throughput to expect: README "Performance".
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


def unit_flops(config, image_shape) -> list[float]:
  """Each unit's forward FLOPs (2 x multiply-adds of its convolution or product), from
  the config alone. An FF unit's training step costs about twice that (forward and
  weight gradient; no input gradient), the same factor for every unit."""
  m = config.model
  n = len(m.widths)
  outs = net_lib.unit_shapes(config, image_shape)
  ins = [tuple(image_shape)] + outs[:-1]
  strides = tuple(s or 1 for s in net_lib.per_unit(m.get('strides', ()), n))
  depthwise = tuple(m.get('depthwise', ())) or (False,) * n
  groups = tuple(m.get('groups', ())) or (1,) * n
  flops = []
  for l, ((h, w, c), cout) in enumerate(zip(ins, m.widths)):
    if m.kind != 'conv':
      flops.append(2. * h * w * c * cout)
      continue
    g = c if depthwise[l] else groups[l]
    ho, wo = -(-h // strides[l]), -(-w // strides[l])
    flops.append(2. * ho * wo * m.kernels[l] ** 2 * (c // g) * cout)
  return flops


def allowed_starts(net) -> list[int]:
  """Units a stage may start at: not inside a residual block (no later unit adds the
  input of a unit before it) nor inside a hybrid's backprop block (its input is cut)."""
  n = len(net.units)
  crossing = lambda c: any(0 <= net.skips[l] < c for l in range(c, n))
  return [c for c in range(1, n) if net.cuts[c] and not crossing(c)]


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
  kind = config.objective.get('kind', 'threshold')
  problems = [
      (config.method in ('ff', 'hybrid'), f'method={config.method!r} (pipelining is for local training)'),
      (kind in net_lib.ONE_PASS, f'objective.kind={kind!r} (needs a one-pass objective)'),
      (not o.get('unit_lr_scale') and not o.get('unit_stop_epochs'), 'per-unit schedules'),
      (not config.predict.get('linear_head'), 'predict.linear_head'),
  ]
  bad = [why for ok, why in problems if not ok]
  if bad:
    raise ConfigError('pipelining does not support ' + '; '.join(bad))


def stage_network(net, a: int, b: int) -> net_lib.Network:
  """Units [a, b) of net, with their heads, as a network of their own: skips and
  scored units renumbered from a; the network's input normalization on stage 0 only."""
  rel = lambda j: j - a if j >= 0 else -1
  return net_lib.Network(list(net.units[a:b]), None, (), net.input_norm if a == 0 else 'none',
                         list(net.aux[a:b]), cuts=net.cuts[a:b],
                         scored=[l - a for l in net.scored if a <= l < b],
                         skips=[rel(j) for j in net.skips[a:b]])


def _stage_step(config, graphdef, tx, first: int, is_first: bool, trained):
  base_key = jax.random.key(config.seed)

  def step(params, opt_state, h, y, t):
    if is_first:  # stage 0 receives the raw batch: the trainer's own preparation
      h = train.prepare_batch(config, h, jax.random.fold_in(base_key, t))

    def loss_fn(p):
      stage = nnx.merge(graphdef, p)
      ys, hs = net_lib.forward(stage, h, local=True)  # the whole network's forward pass
      total, metrics = 0., {}
      for i in stage.scored:
        loss_l, m = train.spatial_objective(first + i, first + i in trained, stage.aux[i], ys[i], y)
        total += loss_l
        metrics.update(m)
      return total, (metrics, jax.lax.stop_gradient(hs[-1]), nnx.state(stage, nnx.BatchStat))

    (_, (metrics, h_out, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    if jax.tree.leaves(stats):  # batch norm: the forward pass's running averages (as train.py)
      stage = nnx.merge(graphdef, params)
      nnx.update(stage, stats)
      params = nnx.state(stage)
    return params, opt_state, h_out, metrics

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
    self.bounds = stage_bounds(unit_flops(config, image_shape), len(devices), allowed_starts(net))
    self.devices = list(devices)
    tx, _ = train.make_optimizer(config, total_steps)
    trained = train.trained_units(config, len(net.units))
    self.graphdefs, self.params, self.opt, self.steps = [], [], [], []
    for s, (a, b) in enumerate(self.bounds):
      gd, p = nnx.split(stage_network(net, a, b))
      # Own copies: the stage step donates its buffers, the whole network keeps its own.
      p = jax.device_put(jax.tree.map(lambda v: jnp.array(v, copy=True), p), self.devices[s])
      self.graphdefs.append(gd)
      self.params.append(p)
      self.opt.append(jax.device_put(tx.init(p), self.devices[s]))
      self.steps.append(_stage_step(config, gd, tx, a, s == 0, trained))
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
