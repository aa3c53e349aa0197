"""The experiments, one config file each: its docstring holds the command and the result.

  python -m experiments.main --config=configs/mnist.py:quick --workdir=runs/quick

From Python (a notebook; also a pip-installed ffjax, which installs this folder too):
  import configs
  config = configs.get('mnist', 'quick')   # configs/mnist.py's get_config('quick')
  configs.path('mnist')                    # the file, for --config=
  configs.names()                          # every config
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent


def names() -> list[str]:
  return sorted(p.stem for p in HERE.glob('*.py') if not p.name.startswith('_'))


def path(name: str) -> Path:
  p = HERE / f'{name.removesuffix(".py")}.py'
  if not p.is_file():
    from ffjax.errors import ConfigError
    raise ConfigError(f'no config {name!r}; one of {", ".join(names())}')
  return p


def get(name: str, arg: str | None = None):
  """The ConfigDict of configs/<name>.py for its argument string (e.g. 'quick,method=bp')."""
  spec = importlib.util.spec_from_file_location(f'_cfg_{name}', path(name))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg or None)
