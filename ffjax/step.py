"""One training step, for every method: the loss of a Method's pieces, its gradient, the
update. Fused (one jax.grad of the summed unit losses: by locality each unit gets the
gradient of its own loss) or streamed (unit by unit, the same update, memory flat in
depth).

The state is a plain pytree:
  step       int32, the number of updates done
  seed       int32, the run's seed: the step's key is fold_in(key(seed), step), so a
             restart needs no saved RNG and a population member carries its own
  params     the network's nnx.Param variables: what is differentiated and optimized
  rest       its other variables (batch-norm statistics, fixed projections), set by the
             forward pass or never
  opt_state  the optimizer's (with the learning rate, optim.py)
  obj_state  per unit: its objective's state (peer normalization), or None
  hparams    a population member's own settings (method.POPULATION_KEYS), else {}
  elapsed_s  training wall time so far (kept across resumes)

One batch's way through `step`: uint8 images -> preprocess (floats, augmentation)
-> method.training_input (labels embedded: [x + y; x + wrong label], or x alone)
-> network.forward (stop_gradient where method.cuts says) -> one objective per unit
(+ the readout on the neutral-label pass) -> sum -> jax.grad -> optimizer update.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from ffjax import metrics as metrics_lib
from ffjax import network as net_lib
from ffjax.method import Method

NOT_PARAM = nnx.Not(nnx.Param)


def split(net):
  """(graphdef, params, rest): trainable parameters apart from everything else, by
  variable type (nnx.Param versus batch statistics and fixed projections)."""
  return nnx.split(net, nnx.Param, NOT_PARAM)


def _fresh(tree):
  """New variable objects for tree: nnx refuses to update (batch statistics) a variable
  made outside the trace it is updated in, so what is not differentiated is rebuilt
  inside the differentiated function."""
  return jax.tree.map(lambda v: v, tree)


def _head(net, l):
  return net.aux[l] if len(net.aux) else None


def loss_fn(params, rest, obj_state, x, y, key, *, method: Method, graphdef, unit_offset: int = 0):
  """The summed loss of every trained unit (and the readout); with its metrics, the
  objectives' new state, the forward pass's new batch statistics and the last unit's
  output (a pipeline stage hands it on). unit_offset: the first unit's number in the
  whole network (a pipeline stage's), for the metric names."""
  net = nnx.merge(graphdef, params, _fresh(rest))
  x_in = method.training_input(net, x, y, key)
  acts, hs = net_lib.forward(net, x_in, method.cuts, key=units_key(net, key))
  total, metrics, new_state = 0., {}, list(obj_state)
  for l, obj in enumerate(method.objectives):
    if obj is None:
      continue
    loss_l, m, st = obj.loss(acts[l], y, _head(net, l), obj_state[l])
    metrics.update({metrics_lib.unit_key(k, unit_offset + l): v for k, v in m.items()})
    if method.trained[l]:
      total += loss_l
      new_state[l] = st
  if method.readout is not None:
    loss_h, m = method.readout.loss(net.head, method.readout_hs(net, x, hs), y)
    total += loss_h
    metrics.update(m)
  return total, (metrics, new_state, nnx.state(net, NOT_PARAM), jax.lax.stop_gradient(hs[-1]))


def units_key(net, key):
  """The key of the units' own randomness (dropout; pairs that units make, SCFF's
  scff_conv): network.forward folds in each unit's index. None when no unit draws
  anything: their calls then stay exactly as without one."""
  if not net_lib.draws(net):
    return None
  return jax.random.fold_in(key, 0xD0)  # apart from the key of the negatives


def _after(x, deps):
  """x, made to wait for deps. The streamed step needs unit l's gradient done before
  unit l+1 starts, so that unit l's activations can be freed. XLA:CPU drops
  optimization barriers before it schedules, so this is a data dependency instead:
  a zero made from deps that the compiler cannot fold (0 * NaN is NaN)."""
  z = sum(jnp.sum(d.reshape(-1)[:1]) for d in jax.tree.leaves(deps))
  return x + (0. * z).astype(x.dtype)


def streamed_grads(params, rest, obj_state, x, y, key, *, method: Method, graphdef):
  """The fused step's loss and gradients, one unit at a time (train.schedule='streamed').

  Unit l's forward, loss and gradient are computed before unit l+1 starts (its input
  is made to depend on unit l's gradient, `_after`): one unit's activations are alive
  at a time, so peak memory does not grow with depth. By locality these are the fused
  step's gradients exactly (tested). The readout's logits are summed unit by unit;
  its weight gradient (`readout_grads`) comes from a second, forward-only pass that
  recomputes the outputs it reads instead of keeping them.
  Returns (total loss, metrics, objectives' state, rest, grads).
  """
  net = nnx.merge(graphdef, params, _fresh(rest))
  grads = jax.tree.map(jnp.zeros_like, params)
  ro = method.readout
  ukey = units_key(net, key)
  x_in = method.training_input(net, x, y, key)
  walk = net_lib.Walk(net, net_lib.network_input(net, x_in), key=ukey)
  second = ro is not None and method.pairs  # the readout reads its own pass
  if second:
    walk_ro = net_lib.Walk(net, net_lib.network_input(net, method.encoder.embed_neutral(x)))
  if ro is not None:
    w = net.head.kernel[...]
    logits = jnp.zeros((x.shape[0], w.shape[-1])) + (net.head.bias[...] if net.head.bias is not None else 0.)
    offsets, start = {}, 0  # the head's kernel rows of each unit it reads
  total: Any = 0.  # a jax scalar once a loss is added
  metrics, new_state, stats = {}, list(obj_state), []
  for l, unit in enumerate(net.units):
    obj, head = method.objectives[l], _head(net, l)
    _, h, skip, k_u, _ = walk.enter()
    gd_u, p_u, r_u = split(unit)
    gd_a, p_a, r_a = split(head) if head is not None else (None, None, None)

    def f(p_u, p_a, h_in, l=l, obj=obj, skip=skip, gd_u=gd_u, r_u=r_u, gd_a=gd_a, r_a=r_a, k_u=k_u):
      u = nnx.merge(gd_u, p_u, _fresh(r_u))
      a, h_out = net_lib.apply_unit(u, h_in, skip=skip, key=k_u)
      m, st, loss = {}, obj_state[l], 0.
      if obj is not None:
        loss, m, st = obj.loss(a, y, nnx.merge(gd_a, p_a, _fresh(r_a)) if gd_a is not None else None, st)
      return loss, (h_out, m, st, nnx.state(u, NOT_PARAM))

    if method.trained[l]:
      (loss_l, (h, m, st, s_u)), (g_u, g_a) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(
          p_u, p_a, h)
      grads['units'][l] = g_u
      if g_a is not None and jax.tree.leaves(g_a):  # a head with parameters
        grads['aux'][l] = g_a
      total += loss_l
      new_state[l] = st
      h = _after(h, (g_u, g_a))
    else:  # measured, not trained: its loss is only a metric
      _, (h, m, _, s_u) = f(p_u, p_a, h)
      g_u = None
    walk.leave(h)
    stats.append(s_u)
    metrics.update({metrics_lib.unit_key(k, l): v for k, v in m.items()})
    if ro is not None and l <= max(ro.units):
      if second:
        _, h_ro = walk_ro.next()
        if g_u is not None:  # after unit l's gradient, as the main pass
          h_ro = walk_ro.h = _after(h_ro, g_u)
      if l in ro.units:
        flat = jax.lax.stop_gradient(h_ro if second else h).reshape(x.shape[0], -1)
        offsets[l] = start
        logits = logits + flat @ w[start:start + flat.shape[1]]
        start += flat.shape[1]
  if ro is not None:
    loss_h = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    total += loss_h
    metrics.update(loss_head=loss_h, acc_head=jnp.mean(jnp.argmax(logits, -1) == y))
    g_kernel, g_bias = readout_grads(net, method, x, y, logits)
    grads['head']['kernel'] = grads['head']['kernel'].replace(g_kernel)
    if g_bias is not None:
      grads['head']['bias'] = grads['head']['bias'].replace(g_bias)
  for unit, s_u in zip(net.units, stats):  # batch-norm statistics of the training pass
    nnx.update(unit, s_u)
  return total, metrics, new_state, nnx.state(net, NOT_PARAM), grads


def readout_grads(net, method: Method, x, y, logits_BxK):
  """The readout's weight gradient without keeping the outputs it reads: mean
  cross-entropy's d/d(logits) is (softmax - onehot) / B, and the kernel's rows for unit
  l are h_l^T of it; h_l is recomputed by a forward-only pass, unit by unit."""
  b = x.shape[0]
  d_logits = (jax.nn.softmax(logits_BxK) - jax.nn.one_hot(y, logits_BxK.shape[-1])) / b
  ro = method.readout
  assert ro is not None  # called for a method with a readout
  walk, rows = net_lib.Walk(net, net_lib.network_input(net, method.encoder.embed_neutral(x))), []
  for l in range(max(ro.units) + 1):
    _, h = walk.next()
    if l in ro.units:
      rows.append(jax.lax.stop_gradient(h).reshape(b, -1).T @ d_logits)
      walk.h = _after(h, rows[-1])  # the next unit after this row: one output alive at a time
  return jnp.concatenate(rows), (d_logits.sum(0) if net.head.bias is not None else None)


def update(params, rest, opt_state, obj_state, x, y, key, *, method: Method, graphdef, tx,
           grads_fn=None, unit_offset: int = 0):
  """One update from the method's loss on (x, y), the core of every step (the trainer's,
  a pipeline stage's): (loss, metrics, objectives' state, rest, params, optimizer state,
  the last unit's output). grads_fn: streamed_grads (unit by unit; no output handed on)
  or None (one jax.grad of loss_fn)."""
  args = (params, rest, obj_state, x, y, key)
  if grads_fn is not None:
    total, metrics, obj_state, rest, grads = grads_fn(*args, method=method, graphdef=graphdef)
    h_out = None
  else:
    (total, (metrics, obj_state, rest, h_out)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        *args, method=method, graphdef=graphdef, unit_offset=unit_offset)
  updates, opt_state = tx.update(grads, opt_state, params)
  return total, metrics, obj_state, rest, optax.apply_updates(params, updates), opt_state, h_out


def make_step(method: Method, graphdef, tx, preprocess, schedule: str = 'fused'):
  """step(state, x_u8_BxHxWxC, y_B) -> (new state, metrics): pure, not jitted (the
  caller jits it alone, scans it, or vmaps it over a population)."""
  grads_fn = streamed_grads if schedule == 'streamed' else None

  def step(state, x_u8, y):
    key = jax.random.fold_in(jax.random.key(state['seed']), state['step'])
    x = preprocess.train(x_u8, key)
    total, metrics, obj_state, rest, params, opt_state, _ = update(
        state['params'], state['rest'], state['opt_state'], state['obj_state'], x, y, key,
        method=method.with_hparams(state['hparams']), graphdef=graphdef, tx=tx, grads_fn=grads_fn)
    metrics['loss'] = total
    return dict(state, step=state['step'] + 1, params=params, rest=rest, opt_state=opt_state,
                obj_state=obj_state), metrics

  return step
