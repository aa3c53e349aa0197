"""The four pieces as registered, typed parts: a new method is one file in ffjax/methods/
and a config, and nothing else in the library names it."""
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import REPO
from ffjax import objectives, registry

LIBRARY = sorted((REPO / 'ffjax').glob('*.py')) + sorted((REPO / 'experiments').glob('*.py'))


def _registered_names(path: pathlib.Path):
  return re.findall(r"@registry\.(?:objective|encoder)\('([a-z_0-9]+)'\)", path.read_text())


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
          f'sys.exit(0 if all(n in registry.names("objective") + registry.names("encoder") '
          f'for n in {names!r}) else 1)')
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
    assert kind.predictors and set(kind.predictors) <= {'goodness', 'linear', 'per_unit'}, name
    assert ('goodness' in kind.predictors) == kind.label_in_input, name


def test_an_unknown_name_is_one_line_naming_the_key_and_the_known_ones():
  from ffjax import config_args
  with pytest.raises(config_args.ConfigError,
                     match=r"config.objective.kind='symbaa': unknown; one of \(.*'symba'"):
    registry.get('objective', 'symbaa')
  with pytest.raises(config_args.ConfigError, match=r"config.labels.kind='fourrier'"):
    registry.get('encoder', 'fourrier')
