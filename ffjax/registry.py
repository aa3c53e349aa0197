"""Names -> pieces: where a config's `objective.kind` and `labels.kind` are looked up. A piece registers itself in its own file with a decorator; nothing else in
ffjax names it.

  @registry.objective('my_loss')        an objective class (objectives.Objective)
  @registry.encoder('my_labels')        a label encoder kind (labels.py: check, make)
  @registry.unit('my_unit')             a unit type (config.model.kind: units.UnitType)
  @registry.predictor('my_scores')      a predictor (predict.py): class scores at evaluation
  @registry.calibration('my_scores')    what that predictor learns on other images than it
                                        scores (predict.Calibration), run by the evaluation
  @registry.source('my_files')          a data source (config.data.source: data/splits.py's
                                        SourceKind: streamed?, check, shape, load)
  @registry.net('my_net')               a network (config.model.net): its per-unit model
                                        fields, its defaults in its signature (ffjax/nets/)

Built-in pieces register where they are defined (objectives.py, labels.py, units.py,
predict.py). A new method is a file in ffjax/methods/, a new network a file in
ffjax/nets/ (every module of both is imported the first time a name is looked up) and a config that names its pieces: see the README,
"Adding a method".
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_TABLES: dict[str, dict] = {'objective': {}, 'encoder': {}, 'unit': {}, 'predictor': {},
                            'calibration': {}, 'net': {}, 'source': {}}
_loaded = False


def _register(table: str, name: str):
  def deco(obj):
    have = _TABLES[table].get(name)
    if have is not None and have is not obj and getattr(have, '__qualname__', None) != getattr(
        obj, '__qualname__', None):
      raise ValueError(f'{table} {name!r} registered twice ({have} and {obj})')
    _TABLES[table][name] = obj
    return obj
  return deco


def objective(name: str):
  return _register('objective', name)


def encoder(name: str):
  return _register('encoder', name)


def unit(name: str):
  return _register('unit', name)


def predictor(name: str):
  return _register('predictor', name)


def calibration(name: str):
  return _register('calibration', name)


def net(name: str):
  return _register('net', name)


def source(name: str):
  return _register('source', name)


def _load():
  """Imports the built-in piece modules and every module of ffjax/methods/, ffjax/nets/
  and ffjax/data/, once."""
  global _loaded
  if _loaded:
    return
  _loaded = True
  for mod in ('ffjax.objectives', 'ffjax.labels', 'ffjax.units', 'ffjax.predict', 'ffjax.data.stream'):
    importlib.import_module(mod)
  from ffjax import methods
  for info in pkgutil.iter_modules(methods.__path__):
    importlib.import_module(f'ffjax.methods.{info.name}')
  for sub in ('nets', 'data'):  # networks; data sources (data/__init__.py's, and one file each)
    importlib.import_module(f'ffjax.{sub}')
    for info in pkgutil.iter_modules([str(Path(__file__).parent / sub)]):
      importlib.import_module(f'ffjax.{sub}.{info.name}')


def find(table: str, name: str):
  """The piece registered as `name`, or None (a predictor without a calibration)."""
  _load()
  return _TABLES[table].get(name)


def names(table: str) -> tuple[str, ...]:
  _load()
  return tuple(sorted(_TABLES[table]))


def get(table: str, name: str):
  """The piece registered as `name`; an unknown name is a ConfigError naming the key and
  the known names."""
  _load()
  if name not in _TABLES[table]:
    from ffjax.errors import ConfigError
    key = {'objective': 'objective.kind', 'encoder': 'labels.kind', 'unit': 'model.kind',
           'predictor': 'predictor', 'calibration': 'predictor', 'net': 'model.net',
           'source': 'data.source'}[table]
    raise ConfigError(f'config.{key}={name!r}: unknown; one of {names(table)}')
  return _TABLES[table][name]
