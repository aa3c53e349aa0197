"""Evaluation: every predictor's accuracy, and per-unit diagnostics, on whole splits.

A split is uploaded to the device(s) once, in batches (`EvalData`: N padded to a
multiple of the batch, laid out B-sharded over the mesh), and a whole split is one
jitted call (`lax.map` over its batches) whose per-example outputs are fetched once.

An evaluation round (`Evaluator.round`) scores several splits with the same parameters
and computes what they share once:
  goodness calibration   each label's mean goodness on the first 1,000 training images
                         (fewer with data.eval_limit: as many as val and test have);
                         subtracted from the goodness scores it gives 'goodness_centered'
                         (removes a label's baseline goodness: some label patterns
                         excite the units more whatever the image)
  best unit              per-unit predictors: the unit 'best' stands for, chosen on
                         validation and applied unchanged to test (chosen on the
                         calibration images when the round has no validation split)
"""
from __future__ import annotations

import dataclasses
import threading

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

from ffjax import metrics as metrics_lib
from ffjax import data as data_lib
from ffjax import network as net_lib
from ffjax import parallel
from ffjax import registry
from ffjax.method import Method

CALIBRATION_SIZE = 1000


def make_batch_fn(method: Method, graphdef, preprocess, calibration_only: bool = False):
  """(params, rest, x_u8_BxHxWxC, y_B) -> {key: per-example values}:
  pred_<name> (argmax of each predictor's scores), scores_goodness, and each unit's
  objective diagnostics <name>_u<l> (threshold: on positives and fixed negatives).
  calibration_only: the outputs of the predictors that have a calibration, nothing else
  (the calibration images: 10 passes of goodness inference, not the 3 more of the
  diagnostics and the linear readout)."""
  predictors = method.predictor_fns()
  if calibration_only:
    predictors = {n: f for n, f in predictors.items() if registry.find('calibration', n)}
  kept = {n for n in predictors if getattr(registry.find('calibration', n), 'keeps', False)}

  def batch(params, rest, x_u8, y):
    net = nnx.merge(graphdef, params, rest)
    net.eval()  # batch norm: running averages
    x = preprocess.to_float(x_u8)
    out, acts_plain = {}, None
    if not calibration_only and any(o is not None for o in method.objectives):
      # Units that make their own pairs (scff_conv) need a key to make the negatives: the
      # diagnostics' fixed one (dropout-free: they make pairs only).
      pair_key = jax.random.key(method.diagnostic_seed) if any(
          getattr(u, 'draws_pairs', False) for u in net.units) else None
      acts, _ = net_lib.forward(net, method.diagnostic_input(x, y), key=pair_key)
      acts_plain = None if method.pairs else acts
      for l, obj in enumerate(method.objectives):
        if obj is not None:
          d = obj.per_example(acts[l], y, net.aux[l] if len(net.aux) else None)
          d.pop('logits', None)
          out.update({metrics_lib.unit_key(k, l): v for k, v in d.items()})
    for pred, fn in predictors.items():
      for name, scores in fn(net, method.encoder, x, acts=acts_plain).items():
        out[f'pred_{name}'] = jnp.argmax(scores, -1)
        if scores.shape[-1] >= 100:  # top-5 accuracy (ImageNet, CIFAR-100), averaged by summarize
          out[f'acc5_{name}'] = top5_hits(scores, y)
        if pred in kept:  # for its calibration
          out[f'scores_{name}'] = scores
    return out

  return batch


def top5_hits(scores_BxK, y_B):
  """Per example: the true class is among the 5 highest scores (ties: the lower class
  first, as lax.top_k orders them)."""
  return jnp.any(jax.lax.top_k(scores_BxK, 5)[1] == y_B[:, None], -1)


@dataclasses.dataclass
class EvalData:
  """A split on the device(s): x (nb, b, H, W, C) uint8 and y (nb, b), batch-sharded."""
  name: str
  x: jax.Array
  y: jax.Array
  y_host: np.ndarray  # the true labels, unpadded
  n: int


def fitted_batch(n: int, batch_size: int, num_devices: int) -> int:
  """The batch a split of n images is evaluated in: as few batches as train.eval_batch_size
  allows, each as even as the devices allow, so that little is padding (a tiny run's 100
  images in one batch of 100, not of 250; 10,000 with 3,000 allowed: 4 of 2,500)."""
  n = max(n, 1)
  b = -(-n // -(-n // batch_size))  # n over the fewest batches, rounded up
  return min(batch_size, -(-b // num_devices) * num_devices)


def upload(mesh, split: data_lib.Split, batch_size: int) -> EvalData:
  n = len(split)
  batch_size = fitted_batch(n, batch_size, mesh.size)
  nb = -(-n // batch_size)
  pad = nb * batch_size - n
  x = np.concatenate([split.x, np.zeros((pad,) + split.x.shape[1:], split.x.dtype)]) if pad else split.x
  y = np.concatenate([split.y, np.zeros((pad,), split.y.dtype)]) if pad else split.y
  spec = P(None, 'data')
  return EvalData(split.name, parallel.put(mesh, x.reshape((nb, batch_size) + x.shape[1:]), spec),
                  parallel.put(mesh, y.reshape(nb, batch_size), spec), np.asarray(split.y), n)


def make_split_fn(batch_fn, mesh):
  """A whole split in one call: (params, rest, x_nb, y_nb) -> per-example outputs
  (nb, b, ...), replicated (small; every process can read them)."""
  def run(params, rest, x_nb, y_nb):
    return jax.lax.map(lambda xy: batch_fn(params, rest, *xy), (x_nb, y_nb))
  rep, bat = parallel.replicated(mesh), jax.sharding.NamedSharding(mesh, P(None, 'data'))
  return jax.jit(run, in_shardings=(rep, rep, bat, bat), out_shardings=rep)


def summarize(cat: dict, y: np.ndarray, num_classes: int) -> dict:
  """The record of a split from its per-example outputs (host arrays, unpadded): each
  prediction's accuracy and class counts, every other output's mean."""
  res: dict = {'num_examples': int(len(y))}
  for k, v in cat.items():
    if k.startswith('scores_'):
      continue
    if k.startswith('pred_'):
      mode = k[len('pred_'):]
      res[f'acc_{mode}'] = float(np.mean(v == y))
      res[f'pred_counts_{mode}'] = np.bincount(v, minlength=num_classes).tolist()
    else:
      res[k] = float(np.mean(v))
  return res


class Evaluator:
  """Evaluation rounds of one run: its splits uploaded once, one compiled call (or, for a
  split streamed from disk, one compiled call per batch as the batches are decoded)."""

  def __init__(self, method: Method, graphdef, preprocess, mesh, dataset: data_lib.Dataset, batch_size: int,
               eval_limit: int = 0):
    """eval_limit: data.eval_limit (> 0: the calibration uses as many training images
    as val and test have, at most CALIBRATION_SIZE; small runs stay fast)."""
    self.method, self.mesh, self.dataset, self.batch_size = method, mesh, dataset, batch_size
    self.calibration_size = min(CALIBRATION_SIZE, eval_limit) if eval_limit > 0 else CALIBRATION_SIZE
    rep, bat = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    self.fn, self.batch_fn = {}, {}
    for only in (False, True):  # every output; the calibration's only ('calib')
      batch_fn = make_batch_fn(method, graphdef, preprocess, calibration_only=only)
      self.fn[only] = make_split_fn(batch_fn, mesh)
      self.batch_fn[only] = jax.jit(batch_fn, in_shardings=(rep, rep, bat, bat), out_shardings=rep)
    self._data: dict = {}
    self._ahead: threading.Thread | None = None
    self._ahead_started = False

  def compile_ahead(self, params, rest, names):
    """Compiles the programs of a round of `names` (and its calibration's) in a thread,
    while the training runs (XLA compiles without the GIL): the first round then only
    runs them (the first run's first validation 2.4 s -> 0.8: docs/RESULTS.md 33). A
    round waits for it, so that nothing is compiled twice. Once per evaluator."""
    if self._ahead_started:
      return
    self._ahead_started = True
    specs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                                       sharding=getattr(a, 'sharding', None)),
                         (params, rest))
    calib = ['calib'] if self._fitted_on_calib(names) else []
    jobs = [(self.fn[name == 'calib'], d) for name in calib + list(names)
            if isinstance(d := self._split(name), EvalData)]

    def compile_all():
      for fn, d in jobs:
        try:
          fn.lower(*specs, d.x, d.y).compile()
        except Exception:  # noqa: BLE001 (the round compiles it again and raises its own error)
          return

    self._ahead = threading.Thread(target=compile_all, daemon=True, name='ffjax-eval-compile')
    self._ahead.start()

  def wait(self):
    """Until compile_ahead's compilations are done."""
    if self._ahead is not None:
      self._ahead.join()
      self._ahead = None

  def _fitted_on_calib(self, names, given=()) -> list[str]:
    """The predictors whose calibration a round of `names` fits on training images
    (those not `given`): where it says so, or where the round has no 'val'."""
    return [n for n in self.method.predictors if n not in given
            and (c := registry.find('calibration', n)) and (c.fit_on == 'calib' or 'val' not in names)]

  def _raw(self, name: str) -> data_lib.Split:
    ds = self.dataset
    if name == 'calib':
      return ds.train.subset(min(self.calibration_size, len(ds.train)), 'calib')
    sp = {'val': ds.val, 'test': ds.test}[name]
    assert sp is not None, name  # 'val' is asked only of a dataset that holds one out
    return sp

  def _split(self, name: str):
    """A split as evaluated: uploaded to the device once (held whole), or the split itself,
    read by batches (streamed)."""
    if name not in self._data:
      sp = self._raw(name)
      self._data[name] = sp if sp.streamed else upload(self.mesh, sp, self.batch_size)
    return self._data[name]

  def outputs(self, params, rest, name: str) -> dict:
    """Per-example outputs of split `name` (host arrays, padding dropped)."""
    d, only = self._split(name), name == 'calib'
    self.wait()
    if isinstance(d, EvalData):
      o = jax.device_get(self.fn[only](params, rest, d.x, d.y))
      return {k: v.reshape((-1,) + v.shape[2:])[:d.n] for k, v in o.items()}
    return self._streamed_outputs(params, rest, d, self.batch_fn[only])

  def _streamed_outputs(self, params, rest, split: data_lib.Split, batch_fn) -> dict:
    """A split read by batches, in file order (the last padded with its last example, the
    padding dropped); each process decodes its rows of every batch."""
    n = len(split)
    b = fitted_batch(n, self.batch_size, self.mesh.size)
    lo, hi = parallel.process_rows(self.mesh, b)
    idx = np.minimum(np.arange(-(-n // b) * b), n - 1).reshape(-1, b)
    outs = []
    for x, y in split.batches([ix[lo:hi] for ix in idx]):
      outs.append(jax.device_get(batch_fn(params, rest, *parallel.put_rows(self.mesh, b, lo, x, y))))
    return {k: np.concatenate([o[k] for o in outs])[:n] for k in outs[0]}

  def y_of(self, name: str) -> np.ndarray:
    d = self._split(name)
    return d.y_host if isinstance(d, EvalData) else np.asarray(d.y)

  def round(self, params, rest, names, earlier: dict | None = None) -> dict:
    """{split name: (record, per-example outputs)} for `names` in order. Each predictor's
    calibration (predict.Calibration) is fitted where it says: on training images, or on
    'val' when the round has it ('val' before 'test': test uses validation's choice), or
    taken from `earlier`, a validation record of the same parameters."""
    cals = {n: c for n in self.method.predictors if (c := registry.find('calibration', n))}
    state = {n: earlier[c.record_key] for n, c in cals.items()
             if earlier and c.record_key and c.record_key in earlier}
    on_calib = self._fitted_on_calib(names, given=state)
    if on_calib:
      calib = self.outputs(params, rest, 'calib')
      state.update({n: cals[n].fit(calib, self.y_of('calib')) for n in on_calib})
    res = {}
    for name in names:
      cat, y = self.outputs(params, rest, name), self.y_of(name)
      rec: dict = {}
      for n, c in cals.items():
        if n not in state:  # fitted on this split ('val')
          state[n] = c.fit(cat, y)
        if c.record_key:
          rec[c.record_key] = state[n]
      for n, c in cals.items():
        cat.update(c.apply(cat, state[n]))
      res[name] = (dict(summarize(cat, y, self.dataset.num_classes), **rec), cat)
    return res
