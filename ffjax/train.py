"""The trainer: state, the jitted step, the loop, evaluation. It knows no method by name
beyond `local` (Forward-Forward) versus end-to-end (backprop).

One batch's way (method=ff):
  x_BxHxWxC, y_B (uint8, int) -> floats in [0, 1]
  -> labels: positives x+y, negatives x+wrong label, and the neutral-label image
  -> network.forward(local=True): every unit takes stop_gradient(h) of the one before
  -> objectives: one threshold-goodness loss per trained unit (+ peer norm),
     cross-entropy of the linear head on stop_gradient(neutral features)
  -> one jax.grad of the sum (by locality, each unit's gradient is that of its own loss)
  -> optax update -> metrics (per-unit loss and discrimination accuracy).

objective.kind='spatial' (ASGE) has no label in the input and no negatives: one
forward pass, and every unit's own head (network.aux) turns its spatial goodness
into class logits trained with cross-entropy; its metrics are per-unit loss and
accuracy.
"""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

from ffjax import augment
from ffjax import checkpoint as ckpt_lib
from ffjax import config_args
from ffjax import data as data_lib
from ffjax import labels as labels_lib
from ffjax import metrics as metrics_lib
from ffjax import network as net_lib
from ffjax import objectives
from ffjax import parallel
from ffjax import predict

# Per-channel mean and std of the training images, for data.normalize='standardize'.
STATS = {'mnist': ((0.1307,), (0.3081,)), 'fashion_mnist': ((0.2860,), (0.3530,)),
         'cifar10': ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
         'cifar100': ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}


class TrainingDiverged(FloatingPointError):
  """A loss became NaN or Inf."""


# ----------------------------------------------------------------------------- set-up


def to_float(config, x_u8):
  x = x_u8.astype(jnp.float32) / 255.
  if config.data.normalize == 'standardize':
    mean, std = STATS[config.data.name]
    if config.data.get('mean'):  # a recipe's own constants
      mean, std = config.data.mean, config.data.std
    x = (x - jnp.asarray(mean)) / jnp.asarray(std)
  return x


def prepare_batch(config, x_u8, key):
  """Training images as floats, augmented by a key drawn from (seed, step). Done once per
  batch, before labels are embedded: a positive and its negatives share one image."""
  x = to_float(config, x_u8)
  return augment.AUGMENTS[config.data.get('augment', 'none')](
      jax.random.fold_in(key, 1), x, config.data.get('crop_pad', 4))


def make_schedule(config, total_steps: int):
  lr = config.optim.lr
  if config.optim.schedule == 'constant':
    return optax.constant_schedule(lr)
  half = total_steps // 2  # constant, then a linear cool-down to 0 at the last step
  return optax.join_schedules(
      [optax.constant_schedule(lr), optax.linear_schedule(lr, 0., max(total_steps - half, 1))], [half])


def _one_tx(name, schedule, momentum, weight_decay):
  # Coupled L2 (added to the gradient), as torch's SGD / Adam weight_decay.
  base = optax.sgd(schedule, momentum=momentum or None) if name == 'sgd' else optax.adam(schedule)
  return optax.chain(optax.add_decayed_weights(weight_decay), base) if weight_decay else base


def _param_group(path, per_unit: bool, probe: bool = False) -> str:
  keys = [getattr(k, 'key', None) for k in path]
  if probe and keys[0] == 'units':
    return 'frozen'  # transfer by linear probe: only the heads learn
  if 'fixed_proj' in keys:
    return 'frozen'  # ASGE's fixed random projections: part of the model, never trained
  if 'bn' in keys and ('mean' in keys or 'var' in keys):
    return 'frozen'  # batch-norm running statistics: set from the forward pass, not trained
  if keys[0] == 'head':
    return 'head'
  return f'unit{keys[1]}' if per_unit else 'units'  # a unit and its own head (aux) together


def make_optimizer(config, total_steps: int):
  """Units (with their own heads) and the linear head each get their own transform (the
  head may have its own lr and optimizer); fixed projections get none. Per unit: an lr
  factor (optim.unit_lr_scale) and an epoch after which it stops (optim.unit_stop_epochs)."""
  o = config.optim
  sched = make_schedule(config, total_steps)
  head_lr = o.head_lr or o.lr
  head_sched = lambda s: sched(s) * (head_lr / o.lr)
  tx = {'units': _one_tx(o.name, sched, o.momentum, o.weight_decay),
        'head': _one_tx(o.get('head_name') or o.name, head_sched, o.momentum, o.head_weight_decay),
        'frozen': optax.set_to_zero()}
  n = len(config.model.widths)
  scales = tuple(o.get('unit_lr_scale', ())) or (1.,) * n
  stops = tuple(o.get('unit_stop_epochs', ())) or (0,) * n
  per_unit = bool(o.get('unit_lr_scale')) or bool(o.get('unit_stop_epochs'))
  spe = max(1, total_steps // max(1, config.train.num_epochs))
  probe = config.get('transfer', {}).get('train', 'all') == 'heads'
  for l in range(n) if per_unit else ():
    # A unit past its stop epoch is frozen (CwComp trains each layer for its own epochs).
    stop = stops[l] * spe if stops[l] else None
    f = lambda s, f=scales[l], stop=stop: sched(s) * f * (1. if stop is None else (s < stop))
    tx[f'unit{l}'] = _one_tx(o.name, f, o.momentum, o.weight_decay)
  label = lambda params: jax.tree_util.tree_map_with_path(
      lambda path, _: _param_group(path, per_unit, probe), params)
  return optax.multi_transform(tx, label), sched


def trained_units(config, num_units: int):
  """Units whose loss counts: all, or all but the first (which then keeps its random
  weights); hybrid: the last unit of every block (its loss trains the whole block)."""
  if config.method == 'hybrid':
    blocks = net_lib.block_ids(config)
    return tuple(l for l in range(num_units) if l == num_units - 1 or blocks[l] != blocks[l + 1])
  if (config.method == 'bp' or config.objective.train_first_unit or num_units == 1
      or config.objective.get('kind', 'threshold') != 'threshold'):
    return tuple(range(num_units))
  return tuple(range(1, num_units))


def scored_units(net):
  """Units whose goodness the goodness predictor sums."""
  return net.goodness_units


# ----------------------------------------------------------------------------- loss and step


def negatives(config, net, encoder, x, y, key):
  """A wrong label per example: uniform, or (a fraction) the hardest under the model."""
  y_neg = labels_lib.sample_negatives(key, y, encoder.num_classes)
  rate = config.labels.get('hard_negatives', 0.)
  if rate:
    # Hard negatives: the wrong label the current model scores highest (no gradient).
    if config.labels.get('hard_negative_score', 'goodness') == 'linear':
      scores = predict.linear_logits(net, encoder, x)
    else:
      scores = predict.goodness_scores(net, encoder, x, scored_units(net))
    y_hard = labels_lib.hardest_negatives(jax.lax.stop_gradient(scores), y)
    y_neg = labels_lib.mix_negatives(jax.random.fold_in(key, 2), y_neg, y_hard, rate)
  return y_neg


def threshold_objective(config, l, is_trained, y_l, b, peer_l):
  """Unit l's threshold-FF loss on its activations for [positives; negatives] (b each).
  Returns (loss to differentiate, metrics, new peer running mean)."""
  theta = objectives.num_neurons(y_l)
  g = objectives.goodness(y_l)
  loss_l = objectives.ff_loss(g[:b], g[b:], theta, config.objective.reduce,
                              config.objective.temperature)
  m = {f'loss_u{l + 1}': loss_l,
       f'disc_acc_u{l + 1}': objectives.discrimination_accuracy(g[:b], g[b:], theta)}
  total = loss_l if is_trained else 0.
  if config.objective.peer_weight and is_trained:
    peer_loss, peer_l = objectives.peer_norm_loss(y_l[:b], peer_l, config.objective.peer_momentum)
    total += config.objective.peer_weight * peer_loss
    m[f'peer_u{l + 1}'] = peer_loss
  return total, m, peer_l


def spatial_objective(l, is_trained, head, y_l, y):
  """Unit l's one-pass loss (ASGE, per-class goodness, channel groups): cross-entropy
  of its own head's logits. Returns (loss, metrics)."""
  logits = head(y_l)
  loss_l = objectives.cross_entropy(logits, y)
  m = {f'loss_u{l + 1}': loss_l, f'acc_u{l + 1}': jnp.mean(jnp.argmax(logits, -1) == y)}
  return (loss_l if is_trained else 0.), m


def head_loss(logits, y):
  loss = objectives.cross_entropy(logits, y)
  return loss, {'loss_head': loss, 'acc_head': jnp.mean(jnp.argmax(logits, -1) == y)}


def ff_loss_fn(config, encoder, graphdef, trained, params, peer, x, y, key):
  """Forward-Forward: per-unit threshold-goodness losses plus the linear head."""
  net = nnx.merge(graphdef, params)
  y_neg = negatives(config, net, encoder, x, y, key)
  b = x.shape[0]
  x_pn = jnp.concatenate([encoder.embed(x, y), encoder.embed(x, y_neg)])
  ys, _ = net_lib.forward(net, x_pn, local=True)
  metrics, total, new_peer = {}, 0., []
  for l, y_l in enumerate(ys):
    peer_l = peer[l] if config.objective.peer_weight else None
    loss_l, m, peer_l = threshold_objective(config, l, l in trained, y_l, b, peer_l)
    total += loss_l
    metrics.update(m)
    new_peer.append(peer_l)
  if not config.objective.peer_weight:
    new_peer = peer
  # The head learns on features of the neutral-label image; stop_gradient keeps it
  # from training the units (it is a read-out, not a teacher).
  _, hs = net_lib.forward(net, encoder.embed_neutral(x), local=True)
  feats = jax.lax.stop_gradient(net_lib.head_features(hs, net.head_units))
  loss_h, m = head_loss(net.head(feats), y)
  metrics.update(m)
  return total + loss_h, (metrics, new_peer, nnx.state(net, nnx.BatchStat))


def spatial_loss_fn(config, encoder, graphdef, trained, params, peer, x, y, key):
  """One-pass objectives (ASGE, per-class goodness): per-unit cross-entropy of each
  unit's own head's logits."""
  net = nnx.merge(graphdef, params)
  ys, hs = net_lib.forward(net, x, local=True)
  metrics, total = {}, 0.
  for l in net.scored:  # every unit, or (hybrid) the last unit of every block
    loss_l, m = spatial_objective(l, l in trained, net.aux[l], ys[l], y)
    total += loss_l
    metrics.update(m)
  if config.predict.get('linear_head'):
    # A softmax classifier on the last unit's output, trained on it as a constant (CwComp's
    # "Sf" predictor): no gradient reaches any unit.
    feats = jax.lax.stop_gradient(net_lib.head_features(hs, net.head_units))
    loss_h, m = head_loss(net.head(feats), y)
    total += loss_h
    metrics.update(m)
  return total, (metrics, peer, nnx.state(net, nnx.BatchStat))


def bp_loss_fn(config, encoder, graphdef, trained, params, peer, x, y, key):
  """Backprop baseline: the same units end to end, softmax head on the last one."""
  net = nnx.merge(graphdef, params)
  logits = predict.linear_logits(net, encoder, x, local=False)
  loss = objectives.cross_entropy(logits, y)
  return loss, ({'loss_head': loss, 'acc_head': jnp.mean(jnp.argmax(logits, -1) == y)}, peer,
                nnx.state(net, nnx.BatchStat))


def _after(x, deps):
  """x, made to wait for deps. The streamed step needs unit l's gradient done before
  unit l+1 starts, so that unit l's activations can be freed. XLA:CPU drops
  optimization barriers before it schedules, so this is a data dependency instead:
  a zero made from deps that the compiler cannot fold (0 * NaN is NaN)."""
  z = sum(jnp.sum(d.reshape(-1)[:1]) for d in jax.tree.leaves(deps))
  return x + (0. * z).astype(x.dtype)


def streamed_grads(config, encoder, graphdef, trained, params, peer, x, y, key):
  """The Forward-Forward step's gradients, one unit at a time (train.streamed=True).

  Unit l's forward, loss and gradient are computed before unit l+1 starts (its input
  is made to depend on unit l's gradient, `_after`): one unit's activations are
  alive at a time, so peak memory does not grow with depth. By
  locality these are the fused step's gradients exactly (tested). The linear head
  (threshold objective) reads every unit's neutral-label output; its logits are
  summed unit by unit, and its weight gradient comes from a second forward-only
  pass that recomputes those outputs instead of keeping them.
  Returns (total loss, metrics, new peer state, grads).
  """
  net = nnx.merge(graphdef, params)
  grads = jax.tree.map(jnp.zeros_like, params)
  metrics, total, new_peer, unit_stats = {}, 0., [], []
  spatial = config.objective.get('kind', 'threshold') in net_lib.ONE_PASS
  b = x.shape[0]
  if spatial:
    h = net_lib.network_input(net, x)
  else:
    y_neg = negatives(config, net, encoder, x, y, key)
    h = net_lib.network_input(net, jnp.concatenate([encoder.embed(x, y), encoder.embed(x, y_neg)]))
    x_neu = encoder.embed_neutral(x)
    h_neu = net_lib.network_input(net, x_neu)
    w = net.head.kernel[...]
    logits = jnp.zeros((b, w.shape[-1])) + (net.head.bias[...] if net.head.bias is not None else 0.)
    rows, start = {}, 0  # the head's kernel rows of each unit it reads
  for l, unit in enumerate(net.units):
    gd_u, p_u = nnx.split(unit)
    if spatial:
      gd_a, p_a = nnx.split(net.aux[l])

      def f(p_u, p_a, h_in, l=l, gd_u=gd_u, gd_a=gd_a):
        u = nnx.merge(gd_u, p_u)
        y_l, h_out = net_lib.apply_unit(u, h_in)
        loss_l, m = spatial_objective(l, l in trained, nnx.merge(gd_a, p_a), y_l, y)
        return loss_l, (h_out, m, nnx.state(u, nnx.BatchStat))

      (loss_l, (h, m, st)), (g_u, g_a) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(
          p_u, p_a, h)
      h = _after(h, (g_u, g_a))
      grads['units'][l], grads['aux'][l] = g_u, g_a
      unit_stats.append(st)
    else:
      peer_l = peer[l] if config.objective.peer_weight else None

      def f(p_u, h_in, l=l, gd_u=gd_u, peer_l=peer_l):
        y_l, h_out = net_lib.apply_unit(nnx.merge(gd_u, p_u), h_in)
        loss_l, m, peer_l = threshold_objective(config, l, l in trained, y_l, b, peer_l)
        return loss_l, (h_out, m, peer_l)

      (loss_l, (h, m, peer_l)), g_u = jax.value_and_grad(f, has_aux=True)(p_u, h)
      new_peer.append(peer_l)
      _, h_neu = net_lib.apply_unit(unit, h_neu)
      if l in net.head_units:
        flat = jax.lax.stop_gradient(h_neu).reshape(b, -1)
        rows[l] = (start, start + flat.shape[1])
        logits = logits + flat @ w[start:start + flat.shape[1]]
        start += flat.shape[1]
      h, h_neu = _after(h, g_u), _after(h_neu, g_u)
      grads['units'][l] = g_u
    total += loss_l
    metrics.update(m)
  if spatial:
    for unit, st in zip(net.units, unit_stats):  # batch-norm statistics, unit by unit
      nnx.update(unit, st)
    return total, metrics, peer, grads, nnx.state(net, nnx.BatchStat)
  if not config.objective.peer_weight:
    new_peer = peer
  loss_h, m = head_loss(logits, y)
  metrics.update(m)
  # d(mean cross-entropy)/d(logits); the kernel's rows for unit l are h_l^T of it.
  d_logits = (jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])) / b
  h_neu, g_rows = net_lib.network_input(net, x_neu), []
  for l, unit in enumerate(net.units):
    if l > max(net.head_units):
      break
    _, h_neu = net_lib.apply_unit(unit, h_neu)
    if l in net.head_units:
      g_rows.append(jax.lax.stop_gradient(h_neu).reshape(b, -1).T @ d_logits)
      h_neu = _after(h_neu, g_rows[-1])
  grads['head']['kernel'] = grads['head']['kernel'].replace(jnp.concatenate(g_rows))
  if net.head.bias is not None:
    grads['head']['bias'] = grads['head']['bias'].replace(d_logits.sum(0))
  return total + loss_h, metrics, new_peer, grads, nnx.state(net, nnx.BatchStat)


def make_train_step(config, encoder, graphdef, tx, mesh, trained):
  kind = config.objective.get('kind', 'threshold')
  loss_fn = (bp_loss_fn if config.method == 'bp' else  # hybrid: one-pass loss, cuts between blocks
             spatial_loss_fn if kind in net_lib.ONE_PASS else ff_loss_fn)
  base_key = jax.random.key(config.seed)
  streamed = config.method == 'ff' and config.train.get('streamed', False)

  def step(state, x_u8, y):
    key = jax.random.fold_in(base_key, state['step'])  # a restart needs no saved RNG
    x = prepare_batch(config, x_u8, key)
    if streamed:
      total, metrics, peer, grads, stats = streamed_grads(
          config, encoder, graphdef, trained, state['params'], state['peer'], x, y, key)
    else:
      grad_fn = jax.value_and_grad(
          lambda p: loss_fn(config, encoder, graphdef, trained, p, state['peer'], x, y, key),
          has_aux=True)
      (total, (metrics, peer, stats)), grads = grad_fn(state['params'])
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    params = optax.apply_updates(state['params'], updates)
    if jax.tree.leaves(stats):
      # Batch norm: the optimizer leaves running statistics alone ('frozen'); the
      # forward pass's new running averages replace them.
      net = nnx.merge(graphdef, params)
      nnx.update(net, stats)
      params = nnx.state(net)
    metrics['loss'] = total
    new = dict(state, step=state['step'] + 1, params=params, opt_state=opt_state, peer=peer)
    return new, metrics

  rep, bat = parallel.replicated(mesh), parallel.batch_sharding(mesh)
  return jax.jit(step, in_shardings=(rep, bat, bat), out_shardings=(rep, rep), donate_argnums=0)


def make_eval_step(config, encoder, graphdef, mesh):
  """Per-example predictions of every predictor, and per-unit FF diagnostics."""
  method_ff = config.method != 'bp'
  spatial = method_ff and config.objective.get('kind', 'threshold') in net_lib.ONE_PASS
  key = jax.random.key(config.seed + 1)  # fixed negatives: comparable across epochs

  def step(params, x_u8, y):
    net = nnx.merge(graphdef, params)
    net.eval()  # batch norm: running averages
    x = to_float(config, x_u8)
    if spatial:
      logits_LxBxK = predict.unit_logits(net, x)
      out = {f'pred_{k}': v for k, v in
             predict.per_unit_predictions(logits_LxBxK, net.scored).items()}
      for l, lg in zip(net.scored, logits_LxBxK):
        out[f'loss_u{l + 1}'] = optax.softmax_cross_entropy_with_integer_labels(lg, y)
      if config.predict.get('linear_head'):
        out['pred_linear'] = jnp.argmax(predict.linear_logits(net, encoder, x, local=True), -1)
      return out
    out = {'pred_linear': jnp.argmax(predict.linear_logits(net, encoder, x, local=method_ff), -1)}
    if method_ff:
      g_BxK = predict.goodness_scores(net, encoder, x, scored_units(net))
      out['pred_goodness'] = jnp.argmax(g_BxK, -1)
      out['scores_goodness'] = g_BxK
      b = x.shape[0]
      y_neg = labels_lib.sample_negatives(key, y, encoder.num_classes)
      ys, _ = net_lib.forward(net, jnp.concatenate([encoder.embed(x, y), encoder.embed(x, y_neg)]))
      for l, y_l in enumerate(ys):
        theta = objectives.num_neurons(y_l)
        g = objectives.goodness(y_l)
        out[f'loss_u{l + 1}'] = objectives.ff_loss_per_pair(
            g[:b], g[b:], theta, config.objective.reduce, config.objective.temperature)
        out[f'disc_acc_u{l + 1}'] = objectives.discrimination_per_pair(g[:b], g[b:], theta)
    return out

  rep, bat = parallel.replicated(mesh), parallel.batch_sharding(mesh)
  # Outputs replicated: per-example predictions are small, and every process can read them.
  return jax.jit(step, in_shardings=(rep, bat, bat), out_shardings=rep)


def evaluate(eval_step, params, split: data_lib.Split, batch_size: int, mesh, num_classes: int,
             goodness_offsets_K=None, best_unit: str | None = None):
  """Accuracy of each predictor on a whole split (the last batch padded and masked).

  goodness_offsets_K: each label's mean goodness on training images; subtracting it
  gives the 'goodness_centered' predictor, which removes a label's baseline goodness
  (some label patterns excite the units more whatever the image).
  best_unit: per-unit predictors (ASGE): the unit 'best' stands for ('u2'); None
  chooses the best on this split (right for validation, a leak on test).
  """
  n = len(split)
  outs = []
  for i in range(0, n, batch_size):
    x, y = split.x[i:i + batch_size], split.y[i:i + batch_size]
    pad = batch_size - len(y)
    if pad:
      x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
      y = np.concatenate([y, np.zeros((pad,), y.dtype)])
    o = jax.device_get(eval_step(params, *parallel.put_batch(mesh, x, y)))
    outs.append({k: v[:batch_size - pad] for k, v in o.items()})
  cat = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
  res = {'num_examples': n}
  if 'scores_goodness' in cat and goodness_offsets_K is not None:
    cat['pred_goodness_centered'] = np.argmax(cat['scores_goodness'] - goodness_offsets_K, -1)
  units = [k[len('pred_'):] for k in cat if k.startswith('pred_u')]
  if units:
    best_unit = best_unit or predict.best_unit(
        {u: float(np.mean(cat[f'pred_{u}'] == split.y)) for u in units})
    cat['pred_best'] = cat[f'pred_{best_unit}']
    res['best_unit'] = best_unit
  for k, v in cat.items():
    if k.startswith('scores_'):
      continue
    if k.startswith('pred_'):
      mode = k[len('pred_'):]
      res[f'acc_{mode}'] = float(np.mean(v == split.y))
      res[f'pred_counts_{mode}'] = np.bincount(v, minlength=num_classes).tolist()
    else:
      res[k] = float(np.mean(v))
  return res, cat


def evaluate_split(eval_step, params, split, config, dataset, mesh, best_unit=None):
  """evaluate(), with what it needs measured on the first 1,000 training images: FF's
  label offsets; ASGE's best unit when no validation split chose it."""
  run = lambda sp, off=None, best=None: evaluate(
      eval_step, params, sp, config.train.eval_batch_size, mesh, dataset.num_classes, off, best)
  calib = data_lib.Split(dataset.train.x[:1000], dataset.train.y[:1000], 'calib')
  if config.method == 'bp':
    return run(split)
  if config.objective.get('kind', 'threshold') in net_lib.ONE_PASS:
    if best_unit is None and split.name != 'val':
      best_unit = run(calib)[0]['best_unit']
    return run(split, best=best_unit)
  return run(split, run(calib)[1]['scores_goodness'].mean(0))


# ----------------------------------------------------------------------------- the loop


def fresh_state(config, image_shape, num_classes: int, total_steps: int, *,
                load_transfer: bool = True):
  """(network, graphdef, optimizer, schedule, state) of a new run, on the host."""
  net = net_lib.build(config, image_shape, num_classes, nnx.Rngs(config.seed))
  tr = config.get('transfer', {})
  if tr.get('init_from') and load_transfer:
    # Transfer: the units (and their batch-norm statistics) of another run; the heads
    # are new, for this dataset's classes.
    from ffjax import transfer
    transfer.load_units(tr.init_from, net)
  if tr.get('train', 'all') == 'heads':
    for u in net.units:
      u.eval()  # linear probe: frozen units, batch norm on its running averages
  tx, sched = make_optimizer(config, total_steps)
  # Peer normalization keeps a running mean of every trained unit's positive activity.
  peer = []
  if config.method == 'ff' and config.objective.peer_weight:
    x0 = jnp.zeros((1,) + tuple(image_shape))
    ys, _ = net_lib.forward(net, x0)
    # Initial running mean 0.5, as in the reference FF-MLP implementation.
    peer = [jnp.full((objectives.num_neurons(y_l),), 0.5) for y_l in ys]
  graphdef, params = nnx.split(net)
  state = {'step': jnp.zeros((), jnp.int32), 'params': params, 'opt_state': tx.init(params),
           'peer': peer, 'elapsed_s': jnp.zeros((), jnp.float32)}
  return net, graphdef, tx, sched, state


def init_state(config, dataset, mesh, *, load_transfer: bool = True):
  """Network, encoder and the training state pytree (replicated over the mesh).
  load_transfer=False: a run that restores its own checkpoint needs no source run."""
  h, w, _ = dataset.image_shape
  encoder = labels_lib.make_encoder(config.labels, dataset.num_classes, h, w)
  steps_per_epoch = len(dataset.train) // config.train.batch_size
  total = steps_per_epoch * config.train.num_epochs
  net, graphdef, tx, sched, state = fresh_state(config, dataset.image_shape, dataset.num_classes,
                                                total, load_transfer=load_transfer)
  trained = trained_units(config, len(net.units))
  state = parallel.put_replicated(mesh, state)
  return dict(encoder=encoder, graphdef=graphdef, tx=tx, sched=sched, trained=trained,
              steps_per_epoch=steps_per_epoch, total_steps=total, state=state)


def _check_finite(step, means, workdir, last_saved):
  bad = [k for k, v in means.items() if not np.isfinite(v)]
  if bad:
    raise TrainingDiverged(
        f'{", ".join(bad)} became {means[bad[0]]} by step {step}; stopping. The last good '
        f'checkpoint (step {last_saved}) stays in {workdir}/checkpoints. Try a lower optim.lr.')


def train_and_evaluate(config, workdir, *, stop_at_step: int | None = None) -> dict:
  """Trains config's model, writing to workdir; resumes from workdir's latest checkpoint.

  Returns the final evaluation record (also written to workdir/eval.json). With
  stop_at_step the run stops there as if interrupted (checkpoint saved), and
  returns {}.
  """
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  mesh = parallel.make_mesh()
  config_args.validate(config, mesh.size)
  dataset = data_lib.load(config.data)
  if len(dataset.train) < config.train.batch_size:
    raise config_args.ConfigError(
        f'config.train.batch_size={config.train.batch_size}: larger than the {len(dataset.train)} '
        'training examples')
  ckpt = ckpt_lib.Checkpointer(workdir / 'checkpoints')
  last_saved = ckpt.latest_step()
  s = init_state(config, dataset, mesh, load_transfer=last_saved is None)
  state, spe, total = s['state'], s['steps_per_epoch'], s['total_steps']
  main = parallel.is_main_process()  # with several processes, one writes and prints
  say = (lambda *a, **k: print(*a, **k)) if main else (lambda *a, **k: None)
  if main:
    _write_config(config, workdir)

  if last_saved is not None:
    state = ckpt.restore(last_saved, state)
    logging.info('resumed from step %d of %d', last_saved, total)
    say(f'resuming from {workdir}/checkpoints at step {last_saved}', flush=True)
  train_step = make_train_step(config, s['encoder'], s['graphdef'], s['tx'], mesh, s['trained'])
  eval_step = make_eval_step(config, s['encoder'], s['graphdef'], mesh)
  writer = metrics_lib.Writer(workdir, config.tensorboard) if main else metrics_lib.NullWriter()
  ev = lambda split: evaluate_split(eval_step, state['params'], split, config, dataset, mesh)

  step = int(state['step'])
  elapsed0 = float(state['elapsed_s'])
  t_start = time.time()
  bsz, log_every = config.train.batch_size, config.train.log_every_steps
  window, pending = [], None
  # Steps run asynchronously: a window's time ends when its last metrics are fetched (the
  # steps before it are then done), and starts where the previous window's ended.
  clock = {'ready': time.time()}

  def report(p):
    step_p, ms, epoch = p
    means = {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}  # waits for step_p
    now = time.time()
    secs, clock['ready'] = now - clock['ready'], now
    _check_finite(step_p, means, workdir, last_saved)
    ips = len(ms) * bsz / max(secs, 1e-9)
    rec = {'epoch': epoch, 'lr': float(s['sched'](step_p)), 'images_per_sec': ips,
           **{f'train/{k}': v for k, v in means.items()}}
    writer.write(step_p, rec)
    eta = (total - step_p) * bsz / max(ips, 1e-9)
    units = sorted(((k[len('loss_'):], v) for k, v in means.items() if k.startswith('loss_u')),
                   key=lambda kv: int(kv[0][1:]))
    units = units or [('head', means['loss_head'])]  # backprop: one loss
    say(metrics_lib.progress_line(epoch, config.train.num_epochs, step_p, total, ips, units, eta),
          flush=True)

  def save():
    nonlocal last_saved, state
    el = parallel.put_replicated(mesh, np.float32(elapsed0 + time.time() - t_start))
    state = dict(state, elapsed_s=el)
    ckpt.save(int(state['step']), state)
    last_saved = int(state['step'])

  interrupted = False
  old_handler = _raise_on_sigterm()
  try:
    while step < total:
      epoch, i0 = divmod(step, spe)
      order = data_lib.epoch_order(config.seed, epoch, len(dataset.train))
      for i in range(i0, spe):
        idx = order[i * bsz:(i + 1) * bsz]
        xb, yb = parallel.put_batch(mesh, dataset.train.x[idx], dataset.train.y[idx])
        state, m = train_step(state, xb, yb)
        step += 1
        window.append(m)
        if pending is not None:  # fetched after the next step was dispatched: no stall
          report(pending)
          pending = None
        if step % log_every == 0 or i == spe - 1:
          pending, window = (step, window, epoch + 1), []
        if stop_at_step is not None and step >= stop_at_step:
          raise KeyboardInterrupt
        if config.train.checkpoint_every_steps and step % config.train.checkpoint_every_steps == 0:
          if pending is not None:
            report(pending)
            pending = None
          save()
      if pending is not None:
        report(pending)
        pending = None
      rec = {'epoch': epoch + 1}
      # Per-epoch evaluation on the validation split; with none held out, on the test split.
      per_epoch = dataset.val or (dataset.test if config.eval_on_test else None)
      if per_epoch is not None and ((epoch + 1) % config.train.eval_every_epochs == 0 or step == total):
        rec.update({f'{per_epoch.name}/{k}': v for k, v in ev(per_epoch)[0].items()})
        say(f'  {per_epoch.name}: ' + ', '.join(f'{k.split("/")[1]} {v:.4f}' for k, v in rec.items()
                                                  if '/acc' in k), flush=True)
      rec['elapsed_s'] = elapsed0 + time.time() - t_start
      writer.write(step, rec)
      save()
      clock['ready'] = time.time()  # images/s counts training only, not evaluation or saving
  except KeyboardInterrupt:
    interrupted = True
    if window or pending:
      if pending is not None:
        report(pending)
      if window:
        report((step, window, step // spe + 1))
    save()
    if stop_at_step is None:
      say(f'interrupted: saved a checkpoint at step {step}; run the same command to resume',
            flush=True)
      raise
  finally:
    if old_handler is not None:
      signal.signal(signal.SIGTERM, old_handler)
    writer.close()
    ckpt.close()
  if interrupted:
    return {}

  record = {'step': step, 'epochs': config.train.num_epochs,
            'elapsed_s': float(state['elapsed_s'])}
  splits = [dataset.val] if dataset.val is not None else []
  if config.eval_on_test:
    splits.append(dataset.test)
  best = None  # ASGE: the unit chosen on validation is the one 'best' uses on test
  for split in splits:
    record[split.name], per_example = evaluate_split(eval_step, state['params'], split, config,
                                                     dataset, mesh, best)
    best = best or record[split.name].get('best_unit')
    # Per-example predictions, for confusion matrices and error galleries.
    if main:
      np.savez_compressed(workdir / f'predictions_{split.name}.npz', y=split.y,
                          **{k: v for k, v in per_example.items() if k.startswith('pred_')})
  if config.data.name == 'cifar10' and len(dataset.test) < 10000:
    record['test_note'] = f'CIFAR-10 test set incomplete: {len(dataset.test)} of 10000 images'
  if not main:
    return record
  (workdir / 'eval.json').write_text(json.dumps(record, indent=1))
  for split in splits:
    r = record[split.name]
    print(f'final {split.name} ({r["num_examples"]} examples): ' +
          ', '.join(f'{k} {v:.4f}' for k, v in r.items() if k.startswith('acc_')), flush=True)
  if config.plots and splits:
    _plot(workdir, splits[-1].name)
  return record


def _plot(workdir, split_name):
  try:
    from ffjax import plots
    plots.plot_run(workdir, split_name)
  except ImportError:
    print('no figures: matplotlib is not installed (pip install -e .[plots])', flush=True)


def _raise_on_sigterm():
  """SIGTERM (a scheduler's pre-emption) ends the run like Ctrl-C: checkpoint, then exit."""
  def handler(signum, frame):
    raise KeyboardInterrupt
  try:
    return signal.signal(signal.SIGTERM, handler)
  except ValueError:  # not the main thread (a notebook's worker): leave signals alone
    return None


def _write_config(config, workdir: Path):
  p = workdir / 'config.json'
  new = config.to_json_best_effort(indent=1, sort_keys=True)
  if p.exists() and p.read_text() != new:
    old = json.loads(p.read_text())
    diff = _diff(old, json.loads(new))
    logging.warning('workdir %s was started with another config (%s); resuming with the new one',
                    workdir, diff)
    print(f'warning: config differs from the one this workdir started with: {diff}', flush=True)
  p.write_text(new)


def _diff(a, b, prefix=''):
  out = []
  for k in sorted(set(a) | set(b)):
    va, vb = a.get(k), b.get(k)
    if isinstance(va, dict) and isinstance(vb, dict):
      out += _diff(va, vb, f'{prefix}{k}.')
    elif va != vb:
      out.append(f'{prefix}{k}: {va} -> {vb}')
  return out


def restore_run(workdir, *, with_state: bool = False):
  """(config, dataset, network, encoder) of a run, with its latest checkpoint's parameters:
  for plots, CAMs and notebooks. with_state adds the restored training state."""
  import ml_collections
  workdir = Path(workdir)
  if not (workdir / 'config.json').exists():
    raise FileNotFoundError(f'{workdir}/config.json: not a run directory')
  config = ml_collections.ConfigDict(json.loads((workdir / 'config.json').read_text()))
  mesh = parallel.make_mesh()
  dataset = data_lib.load(config.data)
  s = init_state(config, dataset, mesh, load_transfer=False)
  ckpt = ckpt_lib.Checkpointer(workdir / 'checkpoints')
  step = ckpt.latest_step()
  if step is None:
    raise FileNotFoundError(f'{workdir}/checkpoints: no checkpoint yet')
  state = ckpt.restore(step, s['state'])
  ckpt.close()
  net = nnx.merge(s['graphdef'], state['params'])
  net.eval()  # inference: batch norm uses its running averages
  out = config, dataset, net, s['encoder']
  return out + ((state, s['graphdef'], mesh),) if with_state else out


def evaluate_checkpoint(workdir) -> dict:
  """Every predictor's accuracy on val and test for a run's latest checkpoint."""
  config, dataset, _, encoder, (state, graphdef, mesh) = restore_run(workdir, with_state=True)
  eval_step = make_eval_step(config, encoder, graphdef, mesh)
  rec = {'step': int(state['step']), 'elapsed_s': float(state['elapsed_s'])}
  best = None
  for split in (dataset.val, dataset.test):
    if split is not None:
      rec[split.name] = evaluate_split(eval_step, state['params'], split, config, dataset, mesh,
                                       best)[0]
      best = best or rec[split.name].get('best_unit')
  return rec
