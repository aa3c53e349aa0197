"""A linear probe on frozen units, after training: how unsupervised units are read (the
SCFF authors' readout; any label-free objective's), a phase of its own.

  features    for each unit read (probe.units; empty: all), its output on the neutral
              input, an extra average pool (probe.pool), standardized per example
              (units.stdnorm, unbiased std), flattened; concatenated
  classifier  dropout (probe.dropout) and a linear layer (torch's default init)
  training    Adam (probe.lr) for probe.epochs epochs of probe.batch_size images (the last
              partial batch of an epoch left out) with probe.augment ('': the run's own),
              the images through the frozen units again at every batch; the learning rate
              halved at 20, 35, 50, 60, 70, 80 and 90% of the epochs (the authors' CustomStepLR)
  result      val and test accuracy after the last epoch (none chosen on test), the curve

Run on a finished run's directory (readback.probe_run, `python -m experiments.probe`), or
after training when config.probe.epochs > 0 (experiments.main).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ffjax.data import augment as augment_lib
from ffjax import network as net_lib
from ffjax import pooling
from ffjax import units as units_lib
from ffjax.errors import need
from ffjax.method import Method

HALVINGS = (0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9)  # of the epochs


def check(p) -> None:
  need(p.epochs >= 0, 'probe.epochs', p.epochs, 'must be >= 0 (0: no probe)')
  need(p.batch_size >= 1, 'probe.batch_size', p.batch_size, 'must be >= 1')
  need(p.lr > 0, 'probe.lr', p.lr, 'must be positive')
  need(0. <= p.dropout < 1., 'probe.dropout', p.dropout, 'must be in [0, 1)')
  need(p.pool >= 1, 'probe.pool', p.pool, 'must be >= 1 (1: no extra pool)')


def feature(h, pool: int, standardize: bool = True):
  """One unit's features: avg pool (maps only), stdnorm, flattened (B x F)."""
  if h.ndim == 4 and pool > 1:
    h = pooling.avg_pool(h, pool)
  h = units_lib.stdnorm(h) if standardize else h
  return h.reshape(h.shape[0], -1)


def features_fn(graphdef, method: Method, units, pool: int, standardize: bool = True):
  """(params, rest, x) -> B x F: the frozen units' features of float images x."""
  def f(params, rest, x):
    net = nnx.merge(graphdef, params, rest)
    net.eval()
    _, hs = net_lib.forward(net, method.encoder.embed_neutral(x))
    out = [feature(hs[l], pool, standardize) for l in units]
    return jax.lax.stop_gradient(jnp.concatenate(out, -1))
  return f


def lr_factor(epoch, epochs: int):
  """0.5 per milestone passed, the milestones int(epochs * r) (each value once: their
  CustomStepLR halves when the epoch is in the list, so a mark of 0 halves from the start)."""
  marks = jnp.asarray(sorted({int(epochs * r) for r in HALVINGS}))
  return 0.5 ** jnp.sum(epoch >= marks)


def train_probe(p, *, graphdef, method: Method, preprocess, params, rest, dataset, seed: int = 0,
                log: Callable | None = None) -> dict:
  """Trains the probe on dataset.train and reads val and test. Returns the record. log:
  where its lines go (default: printed at once, as the trainer's, to a pipe or log file too)."""
  log = log or functools.partial(print, flush=True)
  units = tuple(p.units) or tuple(range(len(method.cuts)))
  feats = features_fn(graphdef, method, units, p.pool, p.standardize)
  tr = dataset.train
  need(hasattr(tr, 'x'), 'probe', 'streamed data', 'the probe reads in-memory splits')
  k = dataset.num_classes
  n, b = len(tr), min(p.batch_size, len(tr))
  steps_per_epoch = n // b
  if p.augment:
    need(p.augment in augment_lib.AUGMENTS, 'probe.augment', p.augment,
         f"'' (the run's) or one of {sorted(augment_lib.AUGMENTS)}")
    preprocess = dataclasses.replace(preprocess, augment=p.augment)
  f_dim = jax.eval_shape(feats, params, rest, jax.ShapeDtypeStruct((1,) + tr.x.shape[1:], jnp.float32)).shape[-1]
  kw, kb = jax.random.split(jax.random.key(seed))
  bound = 1. / math.sqrt(f_dim)  # torch's nn.Linear default
  head = {'w': jax.random.uniform(kw, (f_dim, k), jnp.float32, -bound, bound),
          'b': jax.random.uniform(kb, (k,), jnp.float32, -bound, bound)}
  tx = optax.adam(lambda c: p.lr * lr_factor(c // steps_per_epoch, p.epochs))
  opt = tx.init(head)

  def loss_fn(head, f, y, key):
    if p.dropout:
      keep = jax.random.bernoulli(key, 1. - p.dropout, f.shape)
      f = jnp.where(keep, f / (1. - p.dropout), 0.)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(f @ head['w'] + head['b'], y))

  @jax.jit
  def step(head, opt, x_u8, y, key):
    x = preprocess.train(x_u8, key)
    f = feats(params, rest, x)
    loss, g = jax.value_and_grad(loss_fn)(head, f, y, jax.random.fold_in(key, 7))
    upd, opt = tx.update(g, opt, head)
    return optax.apply_updates(head, upd), opt, loss

  @jax.jit
  def predict(head, x_u8):
    return jnp.argmax(feats(params, rest, preprocess.to_float(x_u8)) @ head['w'] + head['b'], -1)

  def accuracy(split):
    if split is None:
      return None
    eb = 500
    hits = sum(int(np.sum(np.asarray(predict(head, split.x[i:i + eb])) == split.y[i:i + eb]))
               for i in range(0, len(split), eb))
    return hits / len(split)

  log(f'probe: {len(units)} units, {f_dim} features, {p.epochs} epochs of {steps_per_epoch} '
      f'batches of {b}, dropout {p.dropout}, Adam {p.lr}')
  curve, t0, key = [], time.time(), jax.random.key(seed + 1)
  for epoch in range(p.epochs):
    order = np.random.default_rng(seed + epoch).permutation(n)
    lr = p.lr * float(lr_factor(epoch, p.epochs))
    losses = []
    for i in range(steps_per_epoch):
      idx = np.sort(order[i * b:(i + 1) * b])
      head, opt, loss = step(head, opt, tr.x[idx], tr.y[idx],
                             jax.random.fold_in(key, epoch * steps_per_epoch + i))
      losses.append(loss)
    rec = {'epoch': epoch + 1, 'lr': lr, 'loss': float(np.mean(jax.device_get(losses)))}
    last = epoch + 1 == p.epochs
    if last or (p.eval_every_epochs and (epoch + 1) % p.eval_every_epochs == 0):
      rec['val'] = accuracy(dataset.val)
    if last:
      rec['test'] = accuracy(dataset.test)
    curve.append(rec)
    done = time.time() - t0
    eta = done / (epoch + 1) * (p.epochs - epoch - 1)
    acc = ''.join(f', {s} {100 * rec[s]:.2f}%' for s in ('val', 'test') if rec.get(s) is not None)
    log(f'probe epoch {epoch + 1}/{p.epochs}: loss {rec["loss"]:.4f}{acc}, '
        f'{(epoch + 1) * steps_per_epoch * b / done:.0f} images/s, ETA {eta:.0f}s')
  return {'epochs': p.epochs, 'batch_size': b, 'lr': p.lr, 'dropout': p.dropout, 'pool': p.pool,
          'units': [l + 1 for l in units], 'features': int(f_dim),
          'val': curve[-1].get('val') if curve else None,
          'test': curve[-1].get('test') if curve else None, 'curve': curve,
          'seconds': round(time.time() - t0, 1)}
