"""One command-line style: every command has --help with its usage, and every user
mistake is one line `error: ...` with exit code 2 (run as a user runs them)."""
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


def _run(*cmd, timeout=300, env=None):
  e = dict(os.environ, JAX_PLATFORMS='cpu', **(env or {}))
  return subprocess.run(list(cmd), cwd=REPO, capture_output=True, text=True, timeout=timeout, env=e)


def _py(module, *args, **kw):
  return _run(sys.executable, '-m', module, *args, **kw)


def _one_error_line(r, *words):
  assert r.returncode == 2, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
  lines = [l for l in r.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), r.stderr[-2000:]
  for w in words:
    assert w in lines[0], (w, lines[0])
  return lines[0]


@pytest.mark.parametrize('module', sorted(  # every command in experiments/
    f'experiments.{p.stem}' for p in (REPO / 'experiments').glob('*.py') if p.stem not in ('__init__', 'cli')))
def test_every_command_has_help(module):
  r = _py(module, '--help')
  assert r.returncode == 0, r.stderr[-2000:]
  assert 'python -m ' + module in r.stdout and 'Traceback' not in r.stdout + r.stderr


def test_launch_has_help_and_one_line_errors():
  r = _run('bash', 'launch.sh', '--help')
  assert r.returncode == 0 and 'launch.sh sweeps/' in r.stdout
  assert r.stdout.rstrip().endswith('see README, "Train".')  # its header, no line of the script
  assert 'set -euo' not in r.stdout and 'dirname' not in r.stdout
  _one_error_line(_run('bash', 'launch.sh', 'sweeps/nope.py'), 'sweeps/nope.py')
  _one_error_line(_run('bash', 'launch.sh', 'sweeps/mnist_width_K.py', '--bogus'), '--bogus')


@pytest.mark.slow
def test_main_mistakes_are_one_line(tmp_path):
  cfg = '--config=configs/mnist.py:tiny'
  wd = f'--workdir={tmp_path}/w'
  # A misspelt or misplaced key names the key meant.
  _one_error_line(_py('experiments.main', cfg, wd, '--config.batch_size=3'),
                  "'batch_size'", '--config.train.batch_size')
  _one_error_line(_py('experiments.main', cfg, wd, '--config.optim.lrr=1e-3'), '--config.optim.lr')
  # A value of the wrong type.
  _one_error_line(_py('experiments.main', cfg, wd, '--config.train.batch_size=abc'),
                  'batch_size=abc', 'int')
  # An unknown config argument, an unknown config file, no workdir, a bad value.
  _one_error_line(_py('experiments.main', '--config=configs/mnist.py:tiny,widht=3', wd), 'widht')
  _one_error_line(_py('experiments.main', '--config=configs/nope.py', wd), 'configs/nope.py',
                  'configs/mnist.py')
  _one_error_line(_py('experiments.main', cfg), '--workdir')
  _one_error_line(_py('experiments.main', cfg, wd, '--config.labels.intensity=2.0'),
                  'labels.intensity')
  _one_error_line(_py('experiments.main', cfg, wd, '--wokdir=x'), 'wokdir')
  # A workdir that is a file (or under one).
  (tmp_path / 'f').write_text('')
  for w in ('f', 'f/run'):
    _one_error_line(_py('experiments.main', cfg, f'--workdir={tmp_path}/{w}',
                        f'--config.data.dir={tmp_path}'), 'it or a folder above it is a file')


def test_main_lists_configs_and_prints_a_resolved_config():
  r = _py('experiments.main', '--list_configs')
  assert r.returncode == 0 and 'configs/asge_mnist.py' in r.stdout and 'arguments:' in r.stdout
  # Every config: a whole first sentence and its arguments.
  from experiments import cli
  blocks = r.stdout.split('\nconfigs/')
  assert len(blocks) == len(cli.config_files()) >= 17
  for block in blocks:
    text, _, args = ' '.join(block.split()).partition(' arguments: ')
    assert text.endswith('.') and text.count('(') == text.count(')'), text
    assert args and args != 'none' and 'tiny' in args.split(', ') or 'from' in args, block
  r = _py('experiments.main', '--config=configs/mnist.py:tiny,epochs=4', '--dry_run')
  assert r.returncode == 0, r.stderr[-2000:]
  assert 'num_epochs: 4' in r.stdout and 'widths' in r.stdout and 'method:' in r.stdout


def test_commands_on_a_path_that_is_not_a_run(tmp_path):
  for module in ('experiments.evaluate', 'experiments.plot', 'experiments.curve'):
    _one_error_line(_py(module, str(tmp_path / 'nowhere')), 'no such directory')
    _one_error_line(_py(module, str(tmp_path)), 'not a run directory')
  _one_error_line(_py('experiments.summarize', str(tmp_path)), 'no finished runs')
  _one_error_line(_py('experiments.summarize', str(tmp_path / 'nowhere')), 'no such directory')
  _one_error_line(_py('experiments.sweep', 'list', 'sweeps/nope.py'), 'sweeps/nope.py')


def test_importing_everything_and_loading_every_config_starts_no_backend():
  # A multi-process run must call jax.distributed.initialize before JAX starts its backend;
  # experiments.main imports the library and parses the config first, so neither may touch
  # a device (a module-level jnp constant did, and broke two-process runs).
  code = """
import importlib, pkgutil
import ffjax, experiments
for pkg in (ffjax, experiments):
  for m in pkgutil.iter_modules(pkg.__path__):
    importlib.import_module(f'{pkg.__name__}.{m.name}')
from experiments import cli
from ffjax import config_args
for path in cli.config_files():
  mod = cli.load_config_module(str(path))
  for arg in (None, 'tiny') if 'tiny' in (getattr(mod, 'ARGS', None) or ()) else (None,):
    try:
      mod.get_config(arg)
    except config_args.ConfigError:  # a config with required arguments (transfer.py)
      pass
from jax._src import xla_bridge
print('backend started' if xla_bridge.backends_are_initialized() else 'no backend')
"""
  r = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                     env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert r.returncode == 0, r.stderr[-2000:]
  assert r.stdout.strip().splitlines()[-1] == 'no backend'


def test_reproduce_lists_rows_a_user_can_paste():
  r = _py('experiments.reproduce', '--list')
  assert r.returncode == 0, r.stderr[-2000:]
  lines = r.stdout.splitlines()
  assert lines[0].startswith('The rows of docs/REPRODUCTION.md. Run one with: python -m '
                             'experiments.reproduce --row=ROW')
  head = next(i for i, l in enumerate(lines) if l.startswith('ROW '))
  assert lines[head].split() == ['ROW', 'PAPER', 'OURS']
  rows, cmds = lines[head + 1::2], lines[head + 2::2]
  from experiments import reproduce
  assert [l.split()[0] for l in rows] == [r_.id for r_ in reproduce.ROWS]
  assert all(c.startswith('    python -m experiments.main --config=configs/') for c in cmds)
  r = _run('bash', '-c', f'{sys.executable} -m experiments.reproduce --list | head -1')
  assert r.returncode == 0 and 'Traceback' not in r.stderr  # a reader that leaves early


def test_readme_names_every_config_file():
  from experiments import cli
  readme = (REPO / 'README.md').read_text()
  listing = readme.split('\n- Configs', 1)[1].split('\n- ', 1)[0]  # the list of configs
  missing = [p.name for p in cli.config_files() if f'`{p.name}`' not in listing]
  assert not missing, missing


def test_a_command_exits_as_python_would_without_its_teardown(tmp_path):
  # cli.run skips the interpreter's teardown (JAX's objects freed one by one) but keeps
  # what Python does at exit first: a thread pool's work finished, other threads joined,
  # atexit's handlers run, the streams flushed, the exit code kept.
  prog = f'''
import atexit, sys, threading, time
from concurrent import futures
from pathlib import Path
from experiments import cli
d = Path({str(tmp_path)!r})
def main(argv):
  pool = futures.ThreadPoolExecutor(1)
  pool.submit(lambda: (time.sleep(0.3), (d / "pool").write_text("done")))
  threading.Thread(target=lambda: (time.sleep(0.3), (d / "thread").write_text("done"))).start()
  atexit.register(lambda: (d / "atexit").write_text("done"))
  sys.stdout.write("unflushed")
  return 3
cli.run(main)
'''
  r = subprocess.run([sys.executable, '-c', prog], cwd=REPO, capture_output=True, text=True,
                     timeout=120)
  assert r.returncode == 3, r.stderr[-2000:]
  assert r.stdout == 'unflushed'
  assert {p.name for p in tmp_path.iterdir()} == {'pool', 'thread', 'atexit'}
  r = subprocess.run([sys.executable, '-c', 'from experiments import cli\n'
                      'cli.run(lambda argv: cli.die("bad value"))'], cwd=REPO,
                     capture_output=True, text=True, timeout=120)
  assert (r.returncode, r.stderr) == (2, 'error: bad value\n')
