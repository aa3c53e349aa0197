"""The four pieces as registered, typed parts: a new method is one file in ffjax/methods/
and a config, and nothing else in the library names it."""
import pathlib
import re
import subprocess
import sys

import pytest

import jax
import numpy as np

from conftest import REPO, load_config
from ffjax import assembly, evaluate, objectives, predict, registry, step

LIBRARY = sorted((REPO / 'ffjax').glob('*.py')) + sorted((REPO / 'experiments').glob('*.py'))


def _registered_names(path: pathlib.Path):
  return re.findall(r"@registry\.(?:objective|encoder|unit|predictor)\('([a-z_0-9]+)'\)", path.read_text())


@pytest.mark.parametrize('path', sorted((REPO / 'ffjax' / 'methods').glob('[a-z]*.py')),
                         ids=lambda p: p.name)
def test_a_method_file_is_named_by_no_other_library_file(path):
  names = _registered_names(path)
  assert names, f'{path.name} registers no piece'
  for f in LIBRARY:
    text = f.read_text()
    for n in names:
      assert f"'{n}'" not in text and f'"{n}"' not in text, (n, f.name)
  # And it is found by its name alone, by a fresh process that imports nothing of it.
  code = ('from ffjax import registry; import sys; '
          f'known = sum((registry.names(t) for t in ("objective", "encoder", "unit", "predictor")), ()); '
          f'sys.exit(0 if all(n in known for n in {names!r}) else 1)')
  assert subprocess.run([sys.executable, '-c', code], cwd=REPO).returncode == 0


def test_built_in_objectives_are_named_only_where_registered_and_defaulted():
  for name in registry.names('objective'):
    if (REPO / 'ffjax' / 'methods' / f'{name}.py').exists():
      continue
    where = {f.name for f in LIBRARY if f"'{name}'" in f.read_text()}
    # objectives.py registers it; config_base.py holds the default and the field's comment.
    assert where <= {'objectives.py', 'config_base.py'}, (name, where)


def test_no_check_of_the_label_in_the_input_is_spelt_as_an_objective_name():
  text = (REPO / 'ffjax' / 'config_args.py').read_text()
  assert "== 'threshold'" not in text and "!= 'threshold'" not in text


def test_every_objective_declares_what_the_trainer_and_the_checks_need():
  for name in registry.names('objective'):
    kind = objectives.get(name)
    assert issubclass(kind, objectives.Objective), name
    assert isinstance(kind.pairs, bool) and isinstance(kind.label_in_input, bool), name
    assert not kind.label_in_input or kind.pairs, name  # a label in the input needs pairs
    assert kind.predictors and set(kind.predictors) <= set(registry.names('predictor')), name
    assert ('goodness' in kind.predictors) == kind.label_in_input, name


def test_an_unknown_name_is_one_line_naming_the_key_and_the_known_ones():
  from ffjax import config_args
  with pytest.raises(config_args.ConfigError,
                     match=r"config.objective.kind='symbaa': unknown; one of \(.*'symba'"):
    registry.get('objective', 'symbaa')
  with pytest.raises(config_args.ConfigError, match=r"config.labels.kind='fourrier'"):
    registry.get('encoder', 'fourrier')


# A predictor registered outside the library, named by an objective registered beside it:
# the evaluation finds it by name (Method.predictor_fns) and reports its accuracy.
@registry.predictor('last_unit_goodness_test')
def _last_unit_goodness(method, net, encoder, x, acts=None):
  return {'last_goodness': predict.goodness_scores(net, encoder, x, (len(net.units) - 1,))}


# Its calibration, registered beside it: each label's mean on the validation split, taken
# off on every split (test reuses validation's, found in its record).
registry.calibration('last_unit_goodness_test')(predict.Calibration(
    'val', fit=lambda out, y: out['scores_last_goodness'].mean(0).tolist(),
    apply=lambda out, m: {'pred_last_centered': np.argmax(out['scores_last_goodness'] - np.asarray(m), -1)},
    keeps=True, record_key='last_means_test'))


@registry.objective('threshold_last_test')
class _ThresholdLast(objectives.Threshold):
  predictors = objectives.Threshold.predictors + ('last_unit_goodness_test',)


def test_a_registered_predictor_is_evaluated_by_name():
  c = load_config('mnist', 'tiny')
  c.objective.kind = 'threshold_last_test'
  parts = assembly.build(c, (28, 28, 1), 10, 1000)
  assert parts.method.predictors == ('goodness', 'linear', 'last_unit_goodness_test')
  rng = np.random.default_rng(0)
  x = rng.integers(0, 255, (16, 28, 28, 1), dtype=np.uint8)
  y = (np.arange(16) % 10).astype(np.int32)
  params, rest = step.split(parts.net)[1:]
  out = jax.jit(evaluate.make_batch_fn(parts.method, parts.graphdef, parts.preprocess))(
      params, rest, x, y)
  want = predict.goodness_scores(parts.net, parts.method.encoder, parts.preprocess.to_float(x), (2,))
  np.testing.assert_array_equal(out['pred_last_goodness'], np.argmax(want, -1))
  # Not the summed-goodness prediction under another name.
  assert out['pred_last_goodness'].shape == out['pred_goodness'].shape == (16,)


def test_only_the_modes_file_compares_a_mode_by_name():
  # ff / hybrid / bp are ffjax/modes.py's; the rest asks a mode what it is (local, by_block).
  from ffjax import modes
  for f in sorted((REPO / 'ffjax').rglob('*.py')) + sorted((REPO / 'experiments').glob('*.py')):
    if f.name == 'modes.py':
      continue
    text = f.read_text()
    for n in modes.MODES:
      assert not re.search(rf"(==|!=|in \() *'{n}'|'{n}' *(==|!=)|method == ", text), (n, f.name)


def test_the_modes_place_cuts_and_objectives():
  from ffjax import modes
  blocks = (0, 0, 1, 1, 1, 2)
  ff, hybrid, bp = (modes.get(n) for n in ('ff', 'hybrid', 'bp'))
  assert ff.cuts(blocks) == ff.with_objective(blocks) == (True,) * 6
  assert hybrid.cuts(blocks) == (True, False, True, False, False, True)
  assert hybrid.with_objective(blocks) == (False, True, False, False, True, True)
  assert bp.cuts(blocks) == bp.with_objective(blocks) == (False,) * 6
  assert ff.per_unit and not hybrid.per_unit and not bp.per_unit and hybrid.local
  from ffjax import config_args
  with pytest.raises(config_args.ConfigError, match=r"config.method='backprop': unknown method; "
                                                    r"one of \('ff', 'hybrid', 'bp'\)"):
    load_config('mnist', 'method=backprop')


def test_a_registered_calibration_is_fitted_and_applied_by_the_evaluation_alone():
  from ffjax import data, parallel
  c = load_config('mnist', 'tiny')
  c.objective.kind = 'threshold_last_test'
  parts = assembly.build(c, (28, 28, 1), 10, 1000)
  rng = np.random.default_rng(0)
  split = lambda n, name: data.ResidentSplit(rng.integers(0, 255, (n, 28, 28, 1), dtype=np.uint8),
                                             (np.arange(n) % 10).astype(np.int32), name)
  ds = data.Dataset('mnist', 10, split(32, 'train'), split(24, 'val'), split(16, 'test'))
  ev = evaluate.Evaluator(parts.method, parts.graphdef, parts.preprocess, parallel.make_mesh(), ds, 8)
  params, rest = step.split(parts.net)[1:]
  res = ev.round(params, rest, ['val', 'test'])
  (val, val_out), (test, test_out) = res['val'], res['test']
  means = val_out['scores_last_goodness'].mean(0)
  np.testing.assert_allclose(val['last_means_test'], means, rtol=1e-6)
  assert test['last_means_test'] == val['last_means_test']  # fitted on val, used on test
  want = np.argmax(test_out['scores_last_goodness'] - np.asarray(val['last_means_test']), -1)
  assert test['acc_last_centered'] == float(np.mean(want == ds.test.y))
  again = ev.round(params, rest, ['test'], earlier=val)['test'][0]  # test alone, val's record given
  assert again['last_means_test'] == val['last_means_test'] and again['acc_last_centered'] == test['acc_last_centered']
  assert 'acc_goodness_centered' in val  # the built-in goodness calibration, fitted on training images


def test_the_evaluation_names_no_predictor():
  import re
  from conftest import REPO
  src = (REPO / 'ffjax' / 'evaluate.py').read_text()
  named = {n for n in registry.names('predictor') if re.search(rf"['\"]{n}['\"]", src)}
  assert not named, f'evaluate.py names {named}: their calibration belongs beside them (predict.Calibration)'


def test_per_unit_names_are_built_and_read_in_one_place():
  import re
  from conftest import REPO
  from ffjax import metrics
  assert metrics.unit_key('loss', 2) == 'loss_u3' and metrics.unit_tag(0) == 'u1'
  assert [metrics.unit_of(k) for k in ('u3', 'loss_u3', 'train/acc_u12', 'acc_fusion', 'u0', 'menu')] == [
      2, 2, 11, None, None, None]
  assert metrics.unit_keys({'loss_u10', 'loss_u2', 'loss_head', 'acc_u1', 'loss'}, 'loss') == ['loss_u2', 'loss_u10']
  # Nowhere else in the library is such a name spelt out or taken apart.
  for p in (REPO / 'ffjax').rglob('*.py'):
    if p.name == 'metrics.py':
      continue
    src = p.read_text()
    assert not re.search(r"_u\{|f'u\{|\[1:\]\.isdigit\(\)|startswith\('(\w+/)?(loss|acc|pred)_u'", src), p
