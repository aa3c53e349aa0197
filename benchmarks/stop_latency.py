"""From a signal to the process's exit: how long a run takes to stop, at several moments.

  python -m benchmarks.stop_latency                                  # configs/mnist.py:quick, SIGTERM
  python -m benchmarks.stop_latency --config=configs/asge_mnist.py:cpu --repeats=5 --signal=INT

A cluster scheduler sends SIGTERM and kills the process a grace period later (SLURM's
default KillWait is 30 s): a run must save and exit within it. Each repetition starts
`experiments.main` in a fresh workdir, sends the signal when its output reaches the
moment, and times the signal to the process's exit. Moments:
  start-up     0.5 s after the start (imports, data)
  compile      at the line naming the method: the first call is being compiled
  training     at epoch 2's first progress line: a training call is in flight
  evaluation   1 s after epoch 1's last progress line: its checkpoint, then its evaluation
  checkpoint   at epoch 2's first progress line, with a checkpoint every step
  final        0.5 s after the last epoch's validation line: the test split's evaluation
One JSON line per moment (median, worst, every repetition, exit codes, the checkpoint
left), then one with the worst over all moments: the grace period a run needs.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# moment: (marker in stdout or None for a delay from the start, delay after it in s, extra args)
MOMENTS = {
    'start-up': (None, 0.5, ()),
    'compile': ('predictors', 0., ()),
    'training': ('epoch 2/', 0., ()),
    'evaluation': ('@epoch1_end', 1., ()),
    'checkpoint': ('epoch 2/', 0., ('--config.train.checkpoint_every_steps=1',)),
    'final': ('@last_val', 0.5, ()),
}


def once(config: str, moment: str, sig: int, extra_args=()) -> dict:
  marker, delay, extra = MOMENTS[moment]
  wd = tempfile.mkdtemp(prefix='ffjax_stop_')
  cmd = [sys.executable, '-m', 'experiments.main', f'--config={config}', f'--workdir={wd}',
         '--config.plots=False', *extra, *extra_args]
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  t_start = time.time()
  p = subprocess.Popen(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
  err = []
  threading.Thread(target=lambda: err.extend(p.stderr), daemon=True).start()
  sent = None
  epochs, vals = None, 0
  if marker is None:
    time.sleep(delay)
  else:
    for line in p.stdout:
      if epochs is None and line.startswith('epoch '):
        epochs = int(line.split()[1].split('/')[1])
      if marker == '@last_val':
        vals += line.startswith(('  val', '  test'))
        if epochs is not None and vals == epochs:
          break
      elif marker == '@epoch1_end':
        # 'epoch 1/E step S/T' where the next line is epoch 2's or a val line: the last of epoch 1
        if line.startswith('  val') or line.startswith('  test'):
          sent = 'late'  # the evaluation had already printed: too late, say so
          break
        if line.startswith('epoch 1/') and _is_epoch_end(line):
          break
      elif marker in line:
        break
    else:
      return {'moment': moment, 'error': 'the run ended before the moment', 'stderr': ''.join(err)[-500:]}
    time.sleep(delay)
  t_sig = time.time()
  p.send_signal(sig)
  rest = p.stdout.read()
  code = p.wait(timeout=900)
  t_exit = time.time()
  last = [l for l in ''.join(err).splitlines() if l.startswith('interrupted')]
  ckpts = sorted(int(d.name) for d in (Path(wd) / 'checkpoints').glob('[0-9]*')) \
      if (Path(wd) / 'checkpoints').exists() else []
  return {'moment': moment, 'latency_s': t_exit - t_sig, 'at_s': t_sig - t_start, 'exit': code,
          'checkpoint': ckpts[-1] if ckpts else None, 'line': last[-1] if last else None,
          'finished': 'final test' in rest, 'note': sent}


def _is_epoch_end(line: str) -> bool:
  # 'epoch 1/3 step 200/600 | ...': the step is a multiple of steps per epoch (total / epochs)
  try:
    e = int(line.split()[1].split('/')[1])
    s, t = (int(v) for v in line.split()[3].split('/'))
    return s == t // e
  except (IndexError, ValueError):
    return False


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--config', default='configs/mnist.py:quick')
  ap.add_argument('--repeats', type=int, default=3)
  ap.add_argument('--signal', default='TERM', choices=('TERM', 'INT'))
  ap.add_argument('--moments', default=','.join(MOMENTS))
  ap.add_argument('args', nargs='*', help='more flags for experiments.main (--config.x=v)')
  a = ap.parse_args()
  sig = getattr(signal, f'SIG{a.signal}')
  import platform
  every = []
  for m in a.moments.split(','):
    if m not in MOMENTS:
      ap.error(f'unknown moment {m!r}: one of {", ".join(MOMENTS)}')
    runs = [once(a.config, m, sig, a.args) for _ in range(a.repeats)]
    lat = [r['latency_s'] for r in runs if 'latency_s' in r]
    every += lat
    print(json.dumps({'moment': m, 'config': a.config, 'signal': f'SIG{a.signal}',
                      'median_s': round(statistics.median(lat), 2) if lat else None,
                      'worst_s': round(max(lat), 2) if lat else None, 'runs': runs,
                      'machine': f'{platform.node()} ({os.cpu_count()} cpus)',
                      'date': time.strftime('%Y-%m-%d')}), flush=True)
  if every:
    print(json.dumps({'all_moments': True, 'median_s': round(statistics.median(every), 2),
                      'worst_s': round(max(every), 2), 'n': len(every)}), flush=True)


if __name__ == '__main__':
  main()
