"""Sweeps: a grid over config arguments and seeds, one workdir per run.

A sweep file (sweeps/*.py) defines get_sweep() -> dict:
  config   the config file, e.g. 'configs/mnist.py'
  base     config arguments every run gets, e.g. 'cpu'
  grid     {argument: [values]}: the product of all is run; a key 'config.a.b' sets the
           single value --config.a.b instead of a config argument
  seeds    [0, 1, 2]
  flags    extra command-line flags for every run, e.g. ['--config.train.num_epochs=3']
  out      the sweep directory; run workdirs are named after their settings

  python -m experiments.sweep list sweeps/mnist_width_K.py       one line per run: index, status, workdir, command
  python -m experiments.sweep command sweeps/mnist_width_K.py 3  the command of run 3 (launch.sh uses these)

A run is 'done' when its workdir has eval.json, 'partial' when it has checkpoints
(running it again resumes), else 'new'.
"""
from __future__ import annotations

import importlib.util
import itertools
import shlex
import sys
from pathlib import Path

from experiments import cli


def load_sweep(path) -> dict:
  if not Path(path).is_file():
    raise ValueError(f'{path}: no such sweep file (see sweeps/)')
  spec = importlib.util.spec_from_file_location('sweep', path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  sw = dict(mod.get_sweep())
  for key in ('config', 'out'):
    if key not in sw:
      raise ValueError(f'{path}: get_sweep() needs {key!r}')
  sw.setdefault('base', '')
  sw.setdefault('grid', {})
  sw.setdefault('seeds', [0])
  sw.setdefault('flags', [])
  return sw


def setting_name(settings: dict) -> str:
  """{'K': 0.35, 'config.optim.lr': 1e-3} -> 'K0.35_lr0.001': a directory name."""
  return '_'.join(f'{k.split(".")[-1]}{v}' for k, v in settings.items()) or 'default'


def expand(sw: dict) -> list[dict]:
  """Every run of the sweep, in a fixed order (grid order, seeds innermost)."""
  keys = list(sw['grid'])
  runs = []
  for values in itertools.product(*(sw['grid'][k] for k in keys)):
    settings = dict(zip(keys, values))
    for seed in sw['seeds']:
      args = [a for a in [sw['base']] + [f'{k}={v}' for k, v in settings.items()
                                         if not k.startswith('config.')] + [f'seed={seed}'] if a]
      single = [f'--{k}={v}' for k, v in settings.items() if k.startswith('config.')]
      workdir = Path(sw['out']) / setting_name(settings) / f'seed{seed}'
      runs.append(dict(settings=settings, seed=seed, workdir=str(workdir),
                       argv=[sys.executable, '-m', 'experiments.main',
                             f'--config={sw["config"]}:{",".join(args)}', f'--workdir={workdir}',
                             *sw['flags'], *single]))
  return runs


def status(workdir) -> str:
  w = Path(workdir)
  if (w / 'eval.json').exists():
    return 'done'
  if (w / 'checkpoints').is_dir() and any((w / 'checkpoints').iterdir()):
    return 'partial'
  return 'new'


def main(argv):
  if len(argv) < 3 or argv[1] not in ('list', 'command') or (argv[1] == 'command') != (len(argv) == 4):
    cli.die('usage: experiments.sweep list SWEEP.py | command SWEEP.py I (see --help)')
  try:
    runs = expand(load_sweep(argv[2]))
  except ValueError as e:
    cli.die(str(e))
  if argv[1] == 'list':
    for i, r in enumerate(runs):
      print(f'{i}\t{status(r["workdir"])}\t{r["workdir"]}\t{shlex.join(r["argv"])}')
    return
  if not argv[3].isdigit() or not int(argv[3]) < len(runs):
    cli.die(f'run index {argv[3]} outside 0..{len(runs) - 1}')
  print(shlex.join(runs[int(argv[3])]['argv']))


if __name__ == '__main__':
  cli.run(main)
