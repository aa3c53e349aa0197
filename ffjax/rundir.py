"""A run's directory: its config record, final records, and reading a run back.

  WORKDIR/config.json     the resolved config the run started with
  WORKDIR/metrics.jsonl   one JSON record per line (ffjax/metrics.py)
  WORKDIR/checkpoints/    orbax checkpoints of the training state
  WORKDIR/eval.json       the final record
A population writes its members' records under WORKDIR/<setting>/seed<s>/ and keeps one
checkpoint (every member's state) in WORKDIR/checkpoints.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from ffjax import malloc_options


class RunLocked(RuntimeError):
  """Another live process is training in this workdir."""


class RunIOError(OSError):
  """The workdir cannot be written (disk full, read-only, no permission)."""

  def __str__(self):
    return self.strerror


# Config fields a resumed run may change: they change what is written or how fast, not
# what is trained.
HARMLESS = ('plots', 'tensorboard', 'eval_on_test', 'data.dir', 'data.verify_md5',
            'train.log_every_steps', 'train.eval_batch_size', 'train.eval_every_epochs',
            'train.checkpoint_every_steps', 'train.steps_per_call', 'train.data_on_device',
            'data.workers', 'data.processes', 'data.prefetch_mb', 'data.check_files',
            'probe.')  # a key ending in '.': the whole section (the probe reads frozen units)


def _harmless(key: str) -> bool:
  return key in HARMLESS or key.startswith(tuple(h for h in HARMLESS if h.endswith('.')))


def _config_dict(config) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def open_workdir(config, workdir: Path, members=(), *, resuming: bool, allow_change: bool) -> None:
  """Writes config.json (with the run's provenance) for a new run. A resumed run keeps
  the config it started with: a change to what is trained (anything outside HARMLESS)
  is refused unless allow_change, which appends it to config_changes.jsonl instead."""
  p = workdir / 'config.json'
  new = _config_dict(config)
  if resuming and p.exists():
    old = read_config(workdir).to_dict()
    changes = [ch for ch in _diff(old, new) if not _new_field_at_default(ch, old, new)]
    if changes:
      harmful = [ch for ch in changes if not _harmless(ch.split(':')[0])]
      if harmful and not allow_change:
        from ffjax.errors import ConfigError
        raise ConfigError(
            f'{workdir} holds a run started with another config ({"; ".join(harmful[:4])}'
            f'{"; ..." if len(harmful) > 4 else ""}); resuming would mix the two. Use another '
            '--workdir, or pass --allow_config_change to resume with this config (the change '
            'is recorded in config_changes.jsonl)')
      guard_io(lambda: _append(workdir / 'config_changes.jsonl', {
          'time': time.strftime('%Y-%m-%dT%H:%M:%S'), 'changes': changes}), str(workdir), None)
      print(f'note: resuming with a changed config: {"; ".join(changes)} (recorded in '
            f'{workdir}/config_changes.jsonl)', flush=True)
    return
  if resuming:  # checkpoints without the config that made them (config.json deleted)
    if not allow_change:
      from ffjax.errors import ConfigError
      raise ConfigError(
          f'{workdir}/checkpoints holds a run, but its config.json is gone: which config '
          'trained it cannot be told. Use another --workdir, or pass --allow_config_change to '
          'resume it with this config')
    print(f'note: resuming {workdir} with this config (its own config.json was gone)', flush=True)
  record = dict(new, provenance=provenance())
  guard_io(lambda: p.write_text(json.dumps(record, indent=1, sort_keys=True)), str(workdir), None)
  for m in members:  # each member's own config: the single run it is
    from ffjax import population
    d = workdir / m.path
    d.mkdir(parents=True, exist_ok=True)
    mc = dict(_config_dict(population.member_config(config, m)), provenance=record['provenance'])
    (d / 'config.json').write_text(json.dumps(mc, indent=1, sort_keys=True))
    (d / 'member.json').write_text(json.dumps({'population': '../..', 'index': members.index(m)}))
  if resuming:
    return
  # A fresh start: records of an earlier start that saved no checkpoint are dropped.
  for n in [m.path for m in members] or ['']:
    f = workdir / n / 'metrics.jsonl'
    if f.exists():
      f.unlink()


def cut_records(workdir: Path, names, step: int) -> None:
  """Resuming from `step`: every member's metrics.jsonl keeps its records up to that step
  (later ones were written after the checkpoint and are redone); a torn last line goes."""
  from ffjax import metrics
  for n in names:
    f = Path(workdir) / n / 'metrics.jsonl'
    if f.exists():
      keep = [r for r in metrics.read(f.parent) if r.get('step', 0) <= step]
      tmp = f.with_suffix('.tmp')
      guard_io(lambda: tmp.write_text(''.join(json.dumps(r) + '\n' for r in keep)), str(f), step)
      tmp.replace(f)


def _append(path: Path, record: dict) -> None:
  with open(path, 'a') as f:
    f.write(json.dumps(record) + '\n')


_IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def _io_cause(e: BaseException):
  """The OSError of a full or read-only disk behind e (orbax and tensorstore wrap it), if any."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in _IO_ERRNOS:
      return e
    text = str(e)
    for code in _IO_ERRNOS:
      if os.strerror(code) in text or errno.errorcode[code] in text:
        return OSError(code, os.strerror(code))
    nxt = e.__cause__ or e.__context__
    if nxt is None:
      break
    e = nxt
  return None


# experiments.main sets this: a failed checkpoint write then prints one line and ends the
# process at once (orbax's writer threads would print hundreds of lines of tracebacks).
EXIT_ON_IO_ERROR = False


def guard_io(write, where: str, last_saved, *, quiet: bool = False):
  """Runs write(); a full or read-only disk becomes one RunIOError line. quiet: the
  write's own error output (orbax's threads) is muted while it runs."""
  saved = None
  if quiet:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
  try:
    return write()
  except RunIOError:
    raise
  except Exception as e:  # noqa: BLE001 (orbax raises many kinds; only disk errors are ours)
    cause = _io_cause(e)
    if cause is None:
      raise
    kept = (f'the last complete checkpoint (step {last_saved}) stays' if last_saved is not None
            else 'no checkpoint was written')
    code = cause.errno or errno.EIO
    err = RunIOError(code, f'cannot write {where}: {os.strerror(code)}; {kept}. '
                     'Free space (or make it writable) and run the same command to resume')
    if quiet and EXIT_ON_IO_ERROR and saved is not None:
      os.write(saved, f'error: {err}\n'.encode())
      os._exit(2)
    raise err from None
  finally:
    if saved is not None:
      os.dup2(saved, 2)
      os.close(saved)


def check_space(directory: Path, need_bytes: int, last_saved) -> None:
  """Refuses to start a write that cannot fit (one line, nothing half-written)."""
  try:
    free = shutil.disk_usage(directory).free
  except OSError:
    return
  if free < need_bytes:
    kept = (f'the last complete checkpoint (step {last_saved}) stays' if last_saved is not None
            else 'no checkpoint was written')
    raise RunIOError(errno.ENOSPC, f'cannot write {directory}: {free / 2**20:.1f} MiB free, a '
                     f'checkpoint needs about {need_bytes / 2**20:.1f} MiB; {kept}. Free space and '
                     'run the same command to resume')


def provenance() -> dict:
  """What made a record: the code's git commit, the packages, the devices."""
  import importlib.metadata as md
  import platform
  import subprocess
  root = Path(__file__).resolve().parents[1]
  try:
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root, capture_output=True,
                            text=True, timeout=10).stdout.strip() or 'unknown'
    dirty = bool(subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=root,
                                capture_output=True, text=True, timeout=10).stdout.strip())
  except (OSError, subprocess.SubprocessError):
    commit, dirty = 'unknown', None
  versions: dict[str, str | None] = {}
  for pkg in ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy', 'ml-collections'):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  dev = jax.devices()[0]
  return {'commit': commit, 'dirty': dirty, 'python': platform.python_version(),
          'versions': versions, 'devices': f'{jax.device_count()} x {dev.platform}:{dev.device_kind}',
          'processes': jax.process_count(), 'host': platform.node(),
          'xla_flags': os.environ.get('XLA_FLAGS', ''),
          'malloc_options': ' '.join(malloc_options.applied()),
          'time': time.strftime('%Y-%m-%dT%H:%M:%S')}


class Lock:
  """WORKDIR/lock: {pid, host, time}, refreshed while the run goes on. A second process
  is refused while the holder lives (same host: its pid exists; another host: the lock
  was refreshed in the last 10 minutes); a stale lock is taken over, with a note."""

  STALE_S = 600

  def __init__(self, workdir: Path):
    import platform
    self.path = Path(workdir) / 'lock'
    try:
      self.path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # the workdir, or a folder above it, is a file
      raise RunIOError(errno.ENOTDIR, f'cannot use {workdir} as the workdir: it or a folder '
                       'above it is a file; give a folder (new or a run\'s) as --workdir') from None
    except OSError as e:  # read-only filesystem, no permission
      raise RunIOError(e.errno, f'cannot create the workdir {workdir}: {os.strerror(e.errno or errno.EIO)}; '
                       'give a writable folder as --workdir') from None
    me = {'pid': os.getpid(), 'host': platform.node(), 'time': time.time()}
    if self.path.exists():
      try:
        other = json.loads(self.path.read_text())
      except (OSError, ValueError):
        other = {}
      if other and self._alive(other, me['host']):
        raise RunLocked(f'{workdir} is in use by process {other.get("pid")} on '
                        f'{other.get("host")} (its lock file: {self.path}); wait for it, or stop '
                        'it, or use another --workdir')
      if other:
        print(f'note: taking over the stale lock of process {other.get("pid")} on '
              f'{other.get("host")} in {workdir}', flush=True)
    guard_io(lambda: self.path.write_text(json.dumps(me)), str(self.path), None)
    self.me = me

  def _alive(self, other, host) -> bool:
    if other.get('host') == host:
      try:
        if int(other['pid']) == os.getpid():
          return False  # this very process (a notebook that ran here before)
        os.kill(int(other['pid']), 0)
        return True
      except (ProcessLookupError, ValueError, KeyError, TypeError):
        return False
      except PermissionError:
        return True
    try:
      return time.time() - self.path.stat().st_mtime < self.STALE_S
    except OSError:
      return False

  def release(self):
    try:
      if json.loads(self.path.read_text()).get('pid') == self.me['pid']:
        self.path.unlink()
    except (OSError, ValueError):
      pass


def heartbeat(workdir: Path, every_s: float = 30.) -> None:
  """Refreshes the lock's time (for processes on other hosts to see it is alive)."""
  p = Path(workdir) / 'lock'
  now = time.time()
  try:
    if now - p.stat().st_mtime > every_s:
      os.utime(p, (now, now))
  except OSError:
    pass


def write_record(path: Path, record: dict) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(record, indent=1))


def _new_field_at_default(change: str, old: dict, new: dict) -> bool:
  """A field added to ffjax after the run started, at its default: the run trained with
  that default's behaviour, so resuming changes nothing."""
  from ffjax import config_base
  keys = change.split(':')[0].split('.')
  base, o = _config_dict(config_base.get_base()), old
  for k in keys:
    if not isinstance(o, dict) or k not in o:
      break
    o = o[k]
  else:
    return False  # the old config has it: a real change
  v: Any = new
  d: Any = base
  for k in keys:
    v, d = (v.get(k) if isinstance(v, dict) else None), (d.get(k) if isinstance(d, dict) else None)
  return d is not None and v == d


def _diff(a, b, prefix=''):
  out = []
  for k in sorted(set(a) | set(b)):
    va, vb = a.get(k), b.get(k)
    if isinstance(va, dict) and isinstance(vb, dict):
      out += _diff(va, vb, f'{prefix}{k}.')
    elif va != vb:
      out.append(f'{prefix}{k}: {va} -> {vb}')
  return out


def read_config(workdir) -> ml_collections.ConfigDict:
  """The config a run started with (config.json, without its provenance)."""
  p = Path(workdir) / 'config.json'
  if not p.exists():
    raise FileNotFoundError(f'{workdir}/config.json: not a run directory')
  d = json.loads(p.read_text())
  d.pop('provenance', None)
  return ml_collections.ConfigDict(d)


def where_outputs_are(workdir, record: dict, figures=()) -> list[str]:
  """The lines a finished run ends with: the best epoch of each predictor (on the split
  evaluated every epoch), and where its records, checkpoints and figures are."""
  from ffjax import metrics as metrics_lib
  wd = Path(workdir)
  recs = [r for r in metrics_lib.read(wd) if 'elapsed_s' in r and 'epoch' in r]
  split = 'val' if any(k.startswith('val/acc_') for r in recs for k in r) else 'test'
  names = sorted({k[len(split) + 5:] for r in recs for k in r if k.startswith(f'{split}/acc_')})
  names = [n for n in names if metrics_lib.unit_of(n) is None]  # per-unit ones: figures
  best = []
  for n in names:
    rs = [r for r in recs if f'{split}/acc_{n}' in r]
    r = max(rs, key=lambda r: r[f'{split}/acc_{n}'])  # the first of equals
    best.append(f'{n} {r[f"{split}/acc_{n}"]:.4f} at epoch {r["epoch"]}')
  lines = [f'best epoch ({split}): ' + ', '.join(best)] if best else []
  files = [f for f in ('metrics.jsonl', 'eval.json', 'predictions_val.npz', 'predictions_test.npz')
           if (wd / f).exists()]
  lines.append(f'records:     {wd}/{{{",".join(files)}}}' if len(files) > 1 else
               f'records:     {wd}/{files[0]}' if files else f'records:     none in {wd}')
  lines.append(f'checkpoints: {wd}/checkpoints (step {record.get("step")}: the same command '
               'resumes or re-reads it; python -m experiments.evaluate WORKDIR evaluates it)')
  if figures:
    lines.append(f'figures:     {wd}/{{{",".join(Path(f).name for f in figures)}}}')
  return lines


def finished_record(workdir: Path, total_steps: int, last_saved, population: bool) -> dict | None:
  """The final record of a run that already ended (its last step saved and eval.json
  written for it), marked 'finished_before'; None for a run to go on with."""
  if population or last_saved != total_steps:
    return None
  try:
    rec = json.loads((workdir / 'eval.json').read_text())
  except (OSError, ValueError):
    return None
  if rec.get('step') != last_saved or 'provenance' not in rec:
    return None  # interrupted during its final evaluation: redo it
  return dict(rec, finished_before=True)


def final_records(config, dataset, workdir: Path, names, step: int, final: dict, elapsed,
                  warnings, *, main: bool, last_saved) -> dict:
  """{member path: the final record} (step, epochs, time, every split's accuracies, notes,
  the test at the best validation epoch, provenance); written with each member's
  per-example predictions (eval.json, predictions_{split}.npz) by the main process.
  final: {member index: {split: (record, per-example)}}."""
  from ffjax import metrics as metrics_lib
  c, records, prov = config, {}, provenance()
  splits = [sp for sp in ('val', 'test') if sp in final[0]]
  best_of = c.train.test_at_best_val
  for i, name in enumerate(names):
    record = {'step': step, 'epochs': c.train.num_epochs, 'elapsed_s': float(elapsed[i])}
    record.update({sp: final[i][sp][0] for sp in splits})
    if c.data.name == 'cifar10' and len(dataset.test) < 10000:
      record['test_note'] = f'CIFAR-10 test set incomplete: {len(dataset.test)} of 10000 images'
    if warnings and i == 0:
      record['warnings'] = warnings
    best = [r for r in metrics_lib.read(workdir / name) if 'best_val_epoch' in r] if best_of else []
    if best:  # the last improvement is the best
      r = best[-1]
      record['test_at_best_val'] = {'epoch': r['best_val_epoch'], 'predictor': best_of,
                                    'val_acc': r[f'val/acc_{best_of}'],
                                    **{k[len('test/'):]: v for k, v in r.items() if k.startswith('test/')}}
    record['provenance'] = prov
    records[name] = record
    if main:
      wd = workdir / name

      def write(i=i, wd=wd, record=record):
        for sp in splits:  # per-example predictions, for confusion matrices and error galleries
          y = (dataset.val if sp == 'val' else dataset.test).y
          np.savez_compressed(wd / f'predictions_{sp}.npz', y=y,
                              **{key: v for key, v in final[i][sp][1].items() if key.startswith('pred_')})
        write_record(wd / 'eval.json', record)
      guard_io(write, str(wd), last_saved)
  return records


def evaluation_missing(workdir: Path, step: int, steps_per_epoch: int, last_saved) -> bool:
  """Resumed at an epoch's end whose evaluation a signal stopped (its checkpoint was
  written first, its record never): that end of epoch is to be done again."""
  from ffjax import metrics as metrics_lib
  if not step or step % steps_per_epoch or step != last_saved:
    return False
  return not any(r['step'] == step and 'elapsed_s' in r for r in metrics_lib.read(workdir))


def note_bad_files(workdir: Path, bad, records, *, main: bool, last_saved) -> None:
  """Streamed data under data.bad_images='skip': how many files were replaced, in every
  record of the epoch, and which, in bad_files.txt."""
  if bad is None:
    return
  for r in records:
    r['data/bad_files'] = len(bad)
  if bad and main:
    guard_io(lambda: (workdir / 'bad_files.txt').write_text('\n'.join(bad) + '\n'), str(workdir),
             last_saved)
