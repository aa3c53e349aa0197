"""Evaluation of whole splits: the batches a split is cut into change no prediction, and a
split smaller than train.eval_batch_size is not padded up to it."""
import types

import jax
import numpy as np

from conftest import load_config, trainer_step
from ffjax import data, evaluate, parallel


def test_a_split_is_cut_into_even_batches_of_at_most_the_eval_batch():
  assert evaluate.fitted_batch(100, 250, 1) == 100      # one batch, no padding
  assert evaluate.fitted_batch(10_000, 3_000, 1) == 2_500  # 4 batches of 2,500, not 3,000
  assert evaluate.fitted_batch(10_000, 500, 1) == 500
  assert evaluate.fitted_batch(101, 250, 2) == 102      # even over 2 devices
  assert evaluate.fitted_batch(1_001, 500, 4) == 336    # 3 batches of 334, rounded to 4 devices
  assert evaluate.fitted_batch(0, 250, 1) == 1


def _tiny_after_one_step(n: int, seed: int):
  """mnist.py:tiny after one step on the first 50 of n random images: (parts, params,
  rest, x, y), labels cycling through the classes."""
  parts, state, step = trainer_step(load_config('mnist', 'tiny'))
  x = np.random.default_rng(seed).integers(0, 255, (n, 28, 28, 1), dtype=np.uint8)
  y = (np.arange(n) % 10).astype(np.int32)
  state, _ = step(state, x[:50], y[:50])
  params, rest = jax.device_get((state['params'], state['rest']))
  return parts, params, rest, x, y


def test_the_batches_of_a_split_change_no_prediction():
  parts, params, rest, x, y = _tiny_after_one_step(100, 0)
  split = data.ResidentSplit(x, y, 'val')
  ds = types.SimpleNamespace(streamed=False, train=split, val=split, test=split, num_classes=10)
  whole = jax.jit(evaluate.make_batch_fn(parts.method, parts.graphdef, parts.preprocess))(
      params, rest, x, y)
  mesh = parallel.make_mesh()
  for batch, want_shape in ((250, (1, 100)), (40, (3, 34))):
    ev = evaluate.Evaluator(parts.method, parts.graphdef, parts.preprocess, mesh, ds, batch)
    assert ev._split('val').x.shape[:2] == want_shape  # 100 images: never 250 of padding
    got = ev.outputs(params, rest, 'val')
    assert set(got) == set(whole) and all(len(v) == 100 for v in got.values())
    np.testing.assert_array_equal(got['pred_goodness'], whole['pred_goodness'])
    np.testing.assert_array_equal(got['pred_linear'], whole['pred_linear'])
    np.testing.assert_allclose(got['scores_goodness'], whole['scores_goodness'], rtol=1e-5)


def test_test_after_val_reuses_the_calibration_in_the_val_record():
  # The goodness calibration (label means on training images) is in the val record; a test
  # round given that record scores no calibration image and predicts what a round that
  # fits it afresh predicts.
  parts, params, rest, x, y = _tiny_after_one_step(120, 1)
  ds = types.SimpleNamespace(streamed=False, train=data.ResidentSplit(x[:60], y[:60], 'train'),
                             val=data.ResidentSplit(x[60:90], y[60:90], 'val'),
                             test=data.ResidentSplit(x[90:], y[90:], 'test'), num_classes=10)
  ev = evaluate.Evaluator(parts.method, parts.graphdef, parts.preprocess, parallel.make_mesh(), ds, 64)
  both = ev.round(params, rest, ['val', 'test'])
  offsets = both['val'][0]['goodness_offsets']
  assert len(offsets) == 10 and both['test'][0]['goodness_offsets'] == offsets
  scored = []
  ev.outputs = (lambda f: lambda p, r, name: scored.append(name) or f(p, r, name))(ev.outputs)
  alone = ev.round(params, rest, ['test'], earlier=both['val'][0])
  assert scored == ['test']  # no calibration images scored again
  np.testing.assert_array_equal(alone['test'][1]['pred_goodness_centered'],
                                both['test'][1]['pred_goodness_centered'])
  assert alone['test'][0]['acc_goodness_centered'] == both['test'][0]['acc_goodness_centered']


def test_a_round_after_compile_ahead_compiles_nothing_and_predicts_the_same():
  # The trainer has the first round's programs compiled in a thread while it trains.
  parts, params, rest, x, y = _tiny_after_one_step(120, 2)
  ds = types.SimpleNamespace(streamed=False, train=data.ResidentSplit(x[:60], y[:60], 'train'),
                             val=data.ResidentSplit(x[60:90], y[60:90], 'val'),
                             test=data.ResidentSplit(x[90:], y[90:], 'test'), num_classes=10)
  mesh = parallel.make_mesh()
  params, rest = parallel.put_replicated(mesh, (params, rest))
  ev = evaluate.Evaluator(parts.method, parts.graphdef, parts.preprocess, mesh, ds, 64)
  ev.compile_ahead(params, rest, ['val'])
  ev.wait()
  compiled = []

  def listen(event, secs, **kw):
    if event == '/jax/core/compile/backend_compile_duration':
      compiled.append(event)

  jax.monitoring.register_event_duration_secs_listener(listen)
  try:
    ahead = ev.round(params, rest, ['val'])
  finally:
    jax.monitoring.unregister_event_duration_listener(listen)
  assert compiled == []  # the calibration's program and the split's: both compiled ahead
  fresh = evaluate.Evaluator(parts.method, parts.graphdef, parts.preprocess, mesh, ds, 64)
  want = fresh.round(params, rest, ['val'])
  assert ahead['val'][0] == want['val'][0]
  np.testing.assert_array_equal(ahead['val'][1]['pred_goodness'], want['val'][1]['pred_goodness'])
