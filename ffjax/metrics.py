"""Metric records (JSON lines in the workdir, the source of truth) and the console line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------- unit names
# Per-unit values are named '<name>_u<l>' (loss_u2, acc_u3, pred_u1), a unit alone 'u<l>',
# l counted from 1 in every record, figure and line. Built and read only here.


def unit_tag(l: int) -> str:
  """'u<l+1>': unit l (0-based) as records name it."""
  return f'u{l + 1}'


def unit_key(name: str, l: int) -> str:
  """'<name>_u<l+1>': a per-unit value of unit l (0-based)."""
  return f'{name}_{unit_tag(l)}'


def unit_of(key: str) -> int | None:
  """The unit (0-based) a name is of ('u3', 'loss_u3', 'train/acc_u3' -> 2), else None."""
  tag = key.rpartition('_')[2] if '_' in key else key
  return int(tag[1:]) - 1 if tag[:1] == 'u' and tag[1:].isdigit() and int(tag[1:]) > 0 else None


def unit_keys(keys, name: str) -> list:
  """The per-unit keys among `keys` of `name` ('loss', 'train/loss'), in unit order."""
  found = [k for k in set(keys) if k.rpartition('_')[0] == name and unit_of(k) is not None]
  return sorted(found, key=lambda k: unit_of(k) or 0)


def check(c) -> None:
  """config.tensorboard needs tensorboardX (metrics.jsonl is written either way)."""
  if c.get('tensorboard'):
    try:
      import tensorboardX  # noqa: F401
    except ImportError:
      from ffjax.errors import ConfigError
      raise ConfigError('config.tensorboard=True: needs tensorboardX (pip install tensorboardX); '
                        'metrics.jsonl is written either way') from None


def _plain(v):
  if isinstance(v, (np.generic, np.ndarray)):
    return v.tolist()
  return v


class Writer:
  """Appends one JSON object per line to workdir/metrics.jsonl, flushed at once so
  an interrupted run loses nothing it has written. With tensorboard=True the scalars
  also go to workdir/tensorboard (tensorboardX; the JSON lines stay the record)."""

  def __init__(self, workdir, tensorboard: bool = False):
    self.path = Path(workdir) / 'metrics.jsonl'
    self.path.parent.mkdir(parents=True, exist_ok=True)
    self._f = open(self.path, 'a')
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # checked at start by config_args.validate
      self._tb = SummaryWriter(str(Path(workdir) / 'tensorboard'))

  def write(self, step: int, scalars: dict):
    rec = {'step': int(step), **{k: _plain(v) for k, v in scalars.items()}}
    self._f.write(json.dumps(rec) + '\n')
    self._f.flush()
    if self._tb is not None:
      for k, v in rec.items():
        if k != 'step' and isinstance(v, (int, float)):
          self._tb.add_scalar(k, v, int(step))
      self._tb.flush()

  def close(self):
    self._f.close()
    if self._tb is not None:
      self._tb.close()


class NullWriter:
  """What processes other than the first get: they compute the same metrics, and
  process 0 alone writes them."""

  def write(self, step: int, scalars: dict):
    pass

  def close(self):
    pass


def read(workdir) -> list[dict]:
  """All records of a run's metrics.jsonl, in order; a line that does not parse (the torn
  last line of a killed process) is skipped, and where a step has several records of the
  same kind (a resume redid it) the last one stands."""
  p = Path(workdir) / 'metrics.jsonl'
  if not p.exists():
    return []
  recs = []
  for line in p.read_text().splitlines():
    try:
      r = json.loads(line)
    except ValueError:
      continue
    if isinstance(r, dict):
      recs.append(r)
  last = {}
  for i, r in enumerate(recs):  # one record per (step, kind): train window or epoch end
    last[(r.get('step'), 'train/loss' in r)] = i
  return [r for i, r in enumerate(recs) if last[(r.get('step'), 'train/loss' in r)] == i]


def format_duration(s: float) -> str:
  if not math.isfinite(s):
    return '?'
  s = int(s)
  h, m = divmod(s, 3600)
  m, s = divmod(m, 60)
  return f'{h}h{m:02d}m' if h else f'{m}m{s:02d}s'


def eta_s(step: int, total_steps: int, steps_per_epoch: int, step_s: float, eval_s, eval_every: int,
          num_epochs: int) -> float:
  """Seconds left: the steps to go, plus (once an evaluation round has been timed, eval_s)
  the rounds still to come and the final one."""
  eta = (total_steps - step) * step_s
  if eval_s:
    rounds = sum(1 for e in range(step // steps_per_epoch + 1, num_epochs + 1)
                 if e % eval_every == 0 or e == num_epochs)
    eta += (rounds + 1) * eval_s
  return eta


def final_line(split: str, record: dict) -> str:
  """'final val (N examples): acc_x 0.1234, ...' of a final record's split."""
  return (f'final {split} ({record["num_examples"]} examples): '
          + ', '.join(f'{key} {v:.4f}' for key, v in record.items() if key.startswith('acc_')))


def progress_line(epoch, num_epochs, step, total_steps, images_per_sec, losses, eta_s,
                  eval_included: bool = True):
  """losses: [(name, value)], e.g. [('u2', 0.51), ('u3', 0.48)] or [('head', 0.1)];
  eta_s: the time left, training and the evaluation rounds still to come ('with eval'),
  or training alone before the first evaluation has been timed ('+ eval')."""
  losses = ' '.join(f'{name} {v:.4f}' for name, v in losses)
  return (f'epoch {epoch}/{num_epochs} step {step}/{total_steps} | {images_per_sec:,.0f} img/s | '
          f'loss {losses} | ETA {format_duration(eta_s)} {"with" if eval_included else "+"} eval')
