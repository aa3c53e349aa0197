"""The training step under sets of glibc malloc options, with its page faults and system time.

  python -m benchmarks.malloc_options configs/asge_mnist.py:cpu,method=bp
  python -m benchmarks.malloc_options CONFIG --sets none,ffjax --steps 10 --repeats 3

For each config, each set runs `benchmarks.throughput` (the step alone, --loop none) in a
fresh process that calls mallopt with the set's options before anything else (as
ffjax/malloc_options.py does at import; FFJAX_MALLOC=none there, so only the set's
options are in force); the sets take turns config by config. One JSON line per config and
set: images/s, page faults and system CPU milliseconds a step (docs/RESULTS.md 35).
"""
import argparse
import json
import os
import subprocess
import sys

from ffjax import malloc_options

# mallopt parameter numbers (glibc's malloc.h) of the options named in the sets.
PARAMS = {name: param for name, param, _ in malloc_options.OPTIONS}
SETS = {
    'none': {},
    'ffjax': {name: value for name, _, value in malloc_options.OPTIONS},
    'nommap+notrim': {'M_MMAP_MAX': 0, 'M_TRIM_THRESHOLD': 2**31 - 1},
    'arena1+nommap': {'M_ARENA_MAX': 1, 'M_MMAP_MAX': 0},
    'arena1+notrim': {'M_ARENA_MAX': 1, 'M_TRIM_THRESHOLD': 2**31 - 1},
}

_CHILD = """
import ctypes, sys
libc = ctypes.CDLL('libc.so.6')
for param, value in {options}:
  assert libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1
sys.argv = ['benchmarks.throughput'] + {args}
from benchmarks import throughput
throughput.main()
"""


def run(spec: str, options: dict, steps: int, repeats: int) -> dict:
  pairs = [(PARAMS[k], v) for k, v in options.items()]
  args = [spec, '--loop', 'none', '--steps', str(steps), '--repeats', str(repeats)]
  code = _CHILD.format(options=pairs, args=args)
  env = dict(os.environ, FFJAX_MALLOC='none')
  r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
  if r.returncode:
    return {'error': (r.stderr.strip().splitlines() or ['?'])[-1][:200]}
  return json.loads(r.stdout.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('configs', nargs='+')
  ap.add_argument('--sets', default=','.join(SETS), help=f'comma separated, of {list(SETS)}')
  ap.add_argument('--steps', type=int, default=20)
  ap.add_argument('--repeats', type=int, default=3)
  a = ap.parse_args()
  unknown = [s for s in a.sets.split(',') if s not in SETS]
  if unknown:
    sys.exit(f'error: unknown set(s) {unknown}; known: {list(SETS)}')
  for spec in a.configs:
    for s in a.sets.split(','):
      r = run(spec, SETS[s], a.steps, a.repeats)
      out = {'bench': 'malloc_options', 'config': spec, 'set': s, 'options': SETS[s]}
      out.update({k: round(r[k], 3) for k in ('images_per_sec', 'spread', 'step_ms',
                                              'page_faults_per_step', 'sys_ms_per_step') if k in r})
      if 'error' in r:
        out['error'] = r['error']
      print(json.dumps(out), flush=True)


if __name__ == '__main__':
  main()
