"""One command-line style for every experiments.* command: absl flags, `--help` with the
module's usage, and every user mistake one line `error: ...` with exit code 2.

  run(main)              app.run with a flag parser whose errors are one line
  die(message)           error: message, exit 2
  run_dir(path)          the path, if it is a run directory (else die)
  check_config_flags(argv)   --config=FILE[:ARGS] and --config.KEY=VALUE checked before absl
                         parses them: unknown file, argument, key (with the key meant) or a
                         value of the wrong type
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import sys
from pathlib import Path

from absl import app, flags, logging

REPO = Path(__file__).resolve().parents[1]


def die(message: str, code: int = 2):
  print(f'error: {message}', file=sys.stderr, flush=True)
  sys.exit(code)


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return text[0] if text else type(e).__name__


def print_help():
  """The command's usage (its module docstring) and its own flags; exit 0."""
  print((sys.modules['__main__'].__doc__ or '').strip() + '\n')
  text = flags.FLAGS.main_module_help()
  if text.strip():
    print('flags:\n' + text)
  sys.exit(0)


def parse_flags(argv):
  """absl's parsing; its errors (unknown flag, bad value, missing flag) as one line."""
  if any(a in ('-h', '--help', '--helpshort', '-?') for a in argv[1:]):
    print_help()
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    die(f'{_first_line(e)} (see --help)')


def quiet(main):
  """main, with absl's INFO lines off unless --verbosity is given (jax's backend probing
  and orbax's every save log at INFO: the console shows what the user asked for)."""
  def run_quietly(argv):
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    return main(argv)
  return run_quietly


def run(main, flags_parser=None):
  try:
    app.run(quiet(main), flags_parser=flags_parser or parse_flags)
  except BrokenPipeError:  # `... --list | head`: the reader left; nothing to say
    import os
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)
  except SystemExit as e:  # app.run always ends here
    exit_now(e.code)


def exit_now(code):
  """sys.exit(code) without the interpreter's teardown, which frees JAX's objects one by
  one (0.9 s of every command on this CPU, after its last line): what Python does at
  exit before that still happens (other threads joined, atexit's handlers: logging,
  jax.distributed, multiprocessing), then the standard streams are flushed. Every file
  a command writes is closed by then (metrics.Writer flushes each line)."""
  import atexit
  import os
  import threading
  if code is None:
    code = 0
  elif not isinstance(code, int):
    print(code, file=sys.stderr)
    code = 1
  threading._shutdown()  # as the interpreter does first: thread pools told, threads joined
  atexit._run_exitfuncs()
  for f in (sys.stdout, sys.stderr):
    try:
      f.flush()
    except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
      pass
  os._exit(code)


def run_dir(path) -> Path:
  """path as a run directory (it holds config.json), or one line and exit 2."""
  if path is None:
    die('which run? give its directory (see --help)')
  p = Path(path)
  if not p.is_dir():
    die(f'{p}: no such directory')
  if not (p / 'config.json').exists():
    die(f'{p}: not a run directory (no config.json); a run directory is an experiments.main --workdir')
  return p


# ----------------------------------------------------------------------------- config flags


def config_files() -> list[Path]:
  return sorted(p for p in (REPO / 'configs').glob('*.py') if not p.name.startswith('_'))


def load_config_module(path: str):
  spec = importlib.util.spec_from_file_location(f'_cfg_{Path(path).stem}', path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def first_sentence(doc: str) -> str:
  """The docstring's first sentence, whole: up to the first full stop outside parentheses
  that ends a word (not 'configs/mnist.py', not 'et al.' inside a citation)."""
  para = ' '.join((doc or '').strip().split('\n\n')[0].split())
  depth = 0
  for i, ch in enumerate(para):
    depth += (ch == '(') - (ch == ')')
    if ch == '.' and depth == 0 and (i + 1 == len(para) or para[i + 1] == ' '):
      return para[:i + 1]
  return para


def describe_configs() -> str:
  """Every config file: its first sentence and its arguments (every file declares ARGS)."""
  import textwrap
  lines = []
  for p in config_files():
    mod = load_config_module(str(p))
    lines += textwrap.wrap(f'configs/{p.name}: {first_sentence(mod.__doc__)}', 96,
                           subsequent_indent='    ')
    lines += textwrap.wrap(f'arguments: {", ".join(getattr(mod, "ARGS", ())) or "none"}', 96,
                           initial_indent='    ', subsequent_indent='        ')
  return '\n'.join(lines)


def _keys(d, prefix=''):
  out = []
  for k, v in d.items():
    out.append(prefix + k)
    if isinstance(v, dict):
      out += _keys(v, prefix + k + '.')
  return out


def _typed(value: str, like):
  """value (a command-line string) read as the type of `like`, or ValueError."""
  if isinstance(like, bool):
    if value.lower() in ('true', 'false', '1', '0'):
      return value.lower() in ('true', '1')
    raise ValueError('expected True or False')
  if isinstance(like, int):
    return int(value)
  if isinstance(like, float):
    return float(value)
  if isinstance(like, (tuple, list)):
    v = ast.literal_eval(value)
    if not isinstance(v, (tuple, list)):
      raise ValueError('expected a tuple, e.g. (1,2,3)')
    return tuple(v)
  return value


def check_config_flags(argv) -> None:
  """Looks at --config=FILE[:ARGS] and every --config.KEY=VALUE before absl parses them,
  so that a mistake is one line: an unknown config file, a config argument the file
  refuses, an unknown key (naming the key probably meant), a value of the wrong type."""
  from ffjax import config_args
  spec = None
  overrides = []
  for a in argv[1:]:
    if a.startswith('--config='):
      spec = a[len('--config='):]
    elif a.startswith('--config.'):
      key, eq, value = a[len('--config.'):].partition('=')
      overrides.append((key, value if eq else None))
  if spec is None:
    return
  path, _, arg = spec.partition(':')
  if not Path(path).is_file():
    known = ', '.join(f'configs/{p.name}' for p in config_files())
    die(f'--config={path}: no such config file; the configs are {known} (list them with '
        '--list_configs)')
  try:
    config = load_config_module(path).get_config(arg or None)
  except config_args.ConfigError as e:
    die(str(e))
  except Exception as e:  # noqa: BLE001 (a config file's own bug: say where)
    die(f'--config={spec}: the config file failed: {type(e).__name__}: {_first_line(e)}')
  d = config.to_dict()
  keys = _keys(d)
  for key, value in overrides:
    node, ok = d, True
    for part in key.split('.'):
      if isinstance(node, dict) and part in node:
        node = node[part]
      else:
        ok = False
        break
    if not ok:
      close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
      close = close or [k for k in keys if k.endswith('.' + key.split('.')[-1])][:1]
      hint = f'; did you mean --config.{close[0]}?' if close else ''
      die(f'--config.{key}: the config has no key {key!r}{hint}')
    if value is None:
      continue
    try:
      _typed(value, node)
    except (ValueError, SyntaxError) as e:
      die(f'--config.{key}={value}: {type(node).__name__} expected ({_first_line(e)})')
