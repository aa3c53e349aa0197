"""The trainer: builds a run from its config once, then loops calls of steps, evaluates,
checkpoints and writes the records. It names no method: what is trained and how comes
from ffjax/method.py, how a step computes from ffjax/step.py, how batches reach it
from ffjax/loop.py, how it is scored from ffjax/evaluate.py.

One batch's way, in the order of the files:
  config -> method.build (encoder, units, objectives, cuts, readout, predictors)
  -> data.load (uint8 images) -> loop (resident on the device; order drawn from (seed,
  epoch); many steps per call) -> step (preprocess, labels, forward, unit losses,
  jax.grad, optimizer) -> metrics (per-unit losses, a progress line, metrics.jsonl)
  -> evaluate (every predictor on val / test) -> checkpoint.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from ffjax import checkpoint as ckpt_lib
from ffjax import config_args
from ffjax import data as data_lib
from ffjax import evaluate as eval_lib
from ffjax import method as method_lib
from ffjax import metrics as metrics_lib
from ffjax import optim
from ffjax import parallel
from ffjax import parts as parts_lib
from ffjax import run as run_lib


class TrainingDiverged(FloatingPointError):
  """A loss became NaN or Inf."""


class Interrupted(Exception):
  """Ctrl-C or SIGTERM: the run saved a checkpoint at a step boundary and stopped."""

  def __init__(self, signum: int, step: int):
    super().__init__(f'interrupted ({signal.Signals(signum).name}): saved a checkpoint at step '
                     f'{step}; run the same command to resume')
    self.signum, self.step = signum, step

  @property
  def exit_code(self) -> int:
    return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM


# ----------------------------------------------------------------------------- the loop


class _Signals:
  """Ctrl-C and SIGTERM set a flag; the loop checks it between calls, saves a
  checkpoint there and stops: no exception is raised wherever Python happens to be."""

  def __init__(self):
    self.signum, self._old = None, {}

  def __enter__(self):
    for s in (signal.SIGINT, signal.SIGTERM):
      try:
        self._old[s] = signal.signal(s, self._set)
      except ValueError:  # not the main thread (a notebook's worker): leave signals alone
        pass
    return self

  def _set(self, signum, frame):
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop at once
    self.signum = signum

  def __exit__(self, *exc):
    for s, h in self._old.items():
      signal.signal(s, h)
    return False


def _check_finite(step, means, workdir, last_saved):
  bad = [k for k, v in means.items() if not np.isfinite(v)]
  if bad:
    raise TrainingDiverged(
        f'{", ".join(bad)} became {means[bad[0]]} by step {step}; stopping. The last good '
        f'checkpoint (step {last_saved}) stays in {workdir}/checkpoints. Try a lower optim.lr.')


def train_and_evaluate(config, workdir, *, stop_at_step: int | None = None) -> dict:
  """Trains config's model, writing to workdir; resumes from workdir's latest checkpoint.

  Returns the final evaluation record (also written to workdir/eval.json; with a
  population, {member path: record}). With stop_at_step the run stops there as if
  interrupted (checkpoint saved) and returns {}.
  """
  workdir = Path(workdir)
  mesh = parallel.make_mesh()
  config_args.validate(config, mesh.size)
  dataset = data_lib.load(config.data)
  if len(dataset.train) < config.train.batch_size:
    raise config_args.ConfigError(
        f'config.train.batch_size={config.train.batch_size}: larger than the {len(dataset.train)} '
        'training examples')
  main = parallel.is_main_process()  # with several processes, one writes and prints
  say = (lambda *a: print(*a, flush=True)) if main else (lambda *a: None)
  workdir.mkdir(parents=True, exist_ok=True)
  parts = parts_lib.build(config, dataset.image_shape, dataset.num_classes, len(dataset.train))
  ckpt = ckpt_lib.Checkpointer(workdir / 'checkpoints')
  last_saved = ckpt.latest_step()
  state = parts_lib.init_state(parts, mesh, load_transfer=last_saved is None)
  members = parts.members
  spe, total, bsz = parts.steps_per_epoch, parts.total_steps, config.train.batch_size
  runner, on_device, k = parts_lib.make_loop(parts, mesh, dataset)
  if config.train.schedule == 'pipelined':  # every stage's optimizer state
    state = dict(state, opt_state=parallel.put_replicated(mesh, runner.opt_state()))
  if main:
    run_lib.write_config(config, workdir, parts.members)
  if last_saved is not None:
    # The learning rates come from this config (they live in the optimizer's state).
    state = optim.with_lr_of(ckpt.restore(last_saved, state), state)
    logging.info('resumed from step %d of %d', last_saved, parts.total_steps)
    say(f'resuming from {workdir}/checkpoints at step {last_saved}')
  seeds = tuple(m.seed for m in members) or (config.seed,)
  evaluator = eval_lib.Evaluator(parts.method, parts.graphdef, parts.preprocess, mesh, dataset,
                                 config.train.eval_batch_size)
  names = [m.path for m in members] or ['']
  writers = ([metrics_lib.Writer(workdir / n, config.tensorboard) for n in names] if main
             else [metrics_lib.NullWriter() for _ in names])
  say(f'{method_lib.describe(parts.method)}; data on {"device" if on_device else "host"}'
      + (f'; population of {len(members)}' if members else ''))

  step = int(jax.device_get(state['step']).reshape(-1)[0])
  elapsed0 = float(np.max(jax.device_get(state['elapsed_s'])))
  t_start = time.time()
  log_every = config.train.log_every_steps
  window = []  # per-step metric rows of the current log window
  clock = {'ready': time.time(), 'step_s': None}

  def report(step_p, rows, epoch):
    """One record per member and a progress line for a window of (metrics, seconds) rows."""
    ms = {key: np.stack([r[key] for r, _ in rows]) for key in rows[0][0]}  # (n,) or (n, S)
    means = {key: v.mean(0) for key, v in ms.items()}
    per_member = [{key: float(np.ravel(v)[i]) for key, v in means.items()} for i in range(len(names))]
    for i, mm in enumerate(per_member):
      _check_finite(step_p, mm, workdir / names[i], last_saved)
    secs = sum(t for _, t in rows)
    ips = len(rows) * bsz * len(names) / max(secs, 1e-9)
    for w, mm in zip(writers, per_member):
      w.write(step_p, {'epoch': epoch, 'lr': float(parts.lr_fn(step_p)),
                       'images_per_sec': ips, **{f'train/{key}': v for key, v in mm.items()}})
    avg = {key: float(np.mean(v)) for key, v in means.items()}
    eta = (total - step_p) * bsz * len(names) / max(ips, 1e-9)
    units = sorted(((key[len('loss_'):], v) for key, v in avg.items() if key.startswith('loss_u')),
                   key=lambda kv: int(kv[0][1:]))
    units = units or [('head', avg['loss_head'])]  # backprop: one loss
    say(metrics_lib.progress_line(epoch, config.train.num_epochs, step_p, total, ips, units, eta)
        + (f' (mean of {len(names)})' if members else ''))

  def absorb(pending):
    """Fetches a call's metrics (waiting for it), times it, and reports full windows."""
    nonlocal window
    start, n, m_dev = pending
    got = runner.fetch(m_dev, n)
    now = time.time()
    secs, clock['ready'] = now - clock['ready'], now
    clock['step_s'] = secs / n
    for j in range(n):
      window.append(({key: v[j] for key, v in got.items()}, secs / n))
      s = start + j + 1
      if s % log_every == 0 or s % spe == 0:
        report(s, window, (s - 1) // spe + 1)
        window = []

  def save():
    nonlocal last_saved, state
    el = parallel.put_replicated(mesh, np.float32(elapsed0 + time.time() - t_start))
    state = dict(state, elapsed_s=jnp.broadcast_to(el, np.shape(state['elapsed_s'])))
    ckpt.save(int(step), state)
    last_saved = int(step)

  def evaluate_round(split_names, best=None):
    """{member index: {split: (record, per-example)}} for every member."""
    out = {}
    for i in range(len(names)):
      st = parts_lib.member_state(state, i) if members else state
      out[i] = evaluator.round(st['params'], st['rest'], split_names,
                               best[i] if best else None)
    return out

  last_eval = None  # (step, {member: {split: ...}}): the final round reuses it
  try:
    with _Signals() as sig:
      pending = None
      while step < total:
        epoch, i0 = divmod(step, spe)
        n = min(k, spe - i0)
        if stop_at_step is not None:
          n = min(n, stop_at_step - step)
        ce = config.train.checkpoint_every_steps
        if ce:
          n = min(n, ce - step % ce)
        if clock['step_s'] and on_device:  # about 2 s per call: signals are seen quickly
          n = max(1, min(n, int(2. / clock['step_s'])))
        state, m_dev = runner.run(state, step, n, seeds)
        if pending is not None:  # fetched after the next call was dispatched: no stall
          absorb(pending)
        pending = (step, n, m_dev)
        step += n
        at_epoch_end = step % spe == 0
        stop = stop_at_step is not None and step >= stop_at_step
        if at_epoch_end or stop or sig.signum or (ce and step % ce == 0):
          absorb(pending)
          pending = None
        if sig.signum is not None or stop:
          break
        if at_epoch_end:
          e = step // spe
          recs = [{'epoch': e} for _ in names]
          # Per-epoch evaluation on the validation split; with none held out, on the test split.
          split = 'val' if dataset.val is not None else ('test' if config.eval_on_test else None)
          if split and (e % config.train.eval_every_epochs == 0 or step == total):
            res = evaluate_round([split])
            last_eval = (step, res)
            for i, r in enumerate(recs):
              r.update({f'{split}/{key}': v for key, v in res[i][split][0].items()})
            say(f'  {split}: ' + ', '.join(f'{key.split("/")[1]} {v:.4f}' for key, v in recs[0].items()
                                           if '/acc' in key) + (' (member 1)' if members else ''))
          for w, r in zip(writers, recs):
            w.write(step, dict(r, elapsed_s=elapsed0 + time.time() - t_start))
          save()
          clock['ready'] = time.time()  # images/s counts training only
        elif ce and step % ce == 0:
          save()
      if pending is not None:
        absorb(pending)
      if step < total:  # stopped early: by a signal, or stop_at_step
        if window:
          report(step, window, step // spe + 1)
          window = []
        save()
        if stop_at_step is not None and sig.signum is None:
          return {}
        raise Interrupted(sig.signum, step)
  finally:
    for w in writers:
      w.close()
    ckpt.close()

  # The final record, on val and test.
  splits = ['val'] if dataset.val is not None else []
  if config.eval_on_test:
    splits.append('test')
  final = {i: {} for i in range(len(names))}
  todo = splits
  if last_eval is not None and last_eval[0] == step and splits and splits[0] in last_eval[1][0]:
    for i in final:  # the last epoch's evaluation used these very parameters
      final[i][splits[0]] = last_eval[1][i][splits[0]]
    todo = splits[1:]
  if todo:
    best = [final[i][splits[0]][0].get('best_unit') if splits[0] in final[i] else None
            for i in final]
    res = evaluate_round(todo, best if any(best) else None)
    for i in final:
      final[i].update(res[i])
  records = {}
  for i, name in enumerate(names):
    el = np.ravel(jax.device_get(state['elapsed_s']))[i]
    record = {'step': step, 'epochs': config.train.num_epochs, 'elapsed_s': float(el)}
    for sp in splits:
      record[sp] = final[i][sp][0]
    if config.data.name == 'cifar10' and len(dataset.test) < 10000:
      record['test_note'] = f'CIFAR-10 test set incomplete: {len(dataset.test)} of 10000 images'
    records[name] = record
    if main:
      wd = workdir / name
      for sp in splits:  # per-example predictions, for confusion matrices and error galleries
        y = (dataset.val if sp == 'val' else dataset.test).y
        np.savez_compressed(wd / f'predictions_{sp}.npz', y=y,
                            **{key: v for key, v in final[i][sp][1].items() if key.startswith('pred_')})
      run_lib.write_record(wd / 'eval.json', record)
  if not main:
    return records[names[0]] if not members else records
  for sp in splits:
    r = records[names[0]][sp]
    print(f'final {sp} ({r["num_examples"]} examples): ' +
          ', '.join(f'{key} {v:.4f}' for key, v in r.items() if key.startswith('acc_')) +
          (f' (member 1 of {len(names)})' if members else ''), flush=True)
  if config.plots and splits and not members:
    _plot(workdir, splits[-1])
  return records[names[0]] if not members else records


def _plot(workdir, split_name):
  try:
    from ffjax import plots
    plots.plot_run(workdir, split_name)
  except ImportError:
    print('no figures: matplotlib is not installed (pip install -e .[plots])', flush=True)
