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

A run survives a bad day (tests/test_robust.py):
  - Ctrl-C and SIGTERM (ffjax/interrupt.py): within one call (about 2 s) and a
    checkpoint's write, one line and exit 130 / 143. Where nothing is unsaved (start-up,
    the first call's compilation, an evaluation, which comes after its epoch's
    checkpoint) the process stops at once; an evaluation stopped so is redone on resume.
    Elsewhere the loop sees the flag between calls, finishes the call in flight and
    saves. A second Ctrl-C stops at once.
  - Losses checked every step, parameters before a checkpoint, stalls reported: health.py.
  - The workdir is locked, its first config kept: a resume with another config is refused
    unless allowed; metrics.jsonl is cut back to the checkpoint's step (ffjax/rundir.py).
  - Disk full or a read-only workdir: one line (RunIOError), the last checkpoint intact.
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from ffjax import checkpoint as ckpt_lib
from ffjax import config_args
from ffjax import cpu_options
from ffjax.errors import ConfigError
from ffjax import data as data_lib
from ffjax import evaluate as eval_lib
from ffjax import health
from ffjax import interrupt
from ffjax import method as method_lib
from ffjax import metrics as metrics_lib
from ffjax import optim
from ffjax import parallel
from ffjax import assembly
from ffjax import rundir


Interrupted = interrupt.Interrupted
TrainingDiverged = health.TrainingDiverged  # (its old home: callers may name it here)


class Trainer:
  """One run's loop: calls of steps, reports, evaluation rounds, checkpoints."""

  def __init__(self, config, workdir: Path, parts: assembly.Assembly,
               dataset: data_lib.Dataset, mesh, state, ckpt, signals):
    self.config, self.workdir, self.parts, self.dataset = config, workdir, parts, dataset
    self.mesh, self.state, self.ckpt, self.sig = mesh, state, ckpt, signals
    self.main = parallel.is_main_process()  # with several processes, one writes and prints
    self.members = parts.members
    self.names = [m.path for m in self.members] or ['']
    self.runner, self.on_device, self.k = assembly.make_loop(parts, mesh, dataset)
    self.evaluator = eval_lib.Evaluator(parts.method, parts.graphdef, parts.preprocess, mesh,
                                        dataset, config.train.eval_batch_size,
                                        config.data.eval_limit)
    self.last_saved = ckpt.latest_step()
    self.step = int(np.ravel(jax.device_get(state['step']))[0])
    self.elapsed0 = float(np.max(jax.device_get(state['elapsed_s'])))
    self.t_start = time.time()
    self.window: list = []      # (metrics row, seconds) of the current log window
    self.epoch_losses: list = []  # the epoch's window-mean losses (stall detection)
    self.clock = {'ready': time.time(), 'step_s': None}
    self.last_eval = None  # (step, {member: {split: ...}}): the final round reuses it
    self.eval_s = None  # seconds of the last evaluation round (for the ETA)
    # train.test_at_best_val: each member's best validation accuracy so far (from its
    # records, so that a resumed run goes on comparing with the same best).
    name = config.train.test_at_best_val
    self.best_val = [max([r[f'val/acc_{name}'] for r in metrics_lib.read(workdir / n)
                          if f'val/acc_{name}' in r], default=-1.) if name else -1.
                     for n in self.names]
    self.warnings: list = []
    # Per-epoch evaluation on the validation split; with none held out, on the test split.
    self.eval_split = ('val' if dataset.val is not None else
                       ('test' if config.eval_on_test else None))
    self.writers = ([metrics_lib.Writer(workdir / n, config.tensorboard) for n in self.names]
                    if self.main else [metrics_lib.NullWriter() for _ in self.names])

  def say(self, *a):
    if self.main:
      print(*a, flush=True)

  # -- records

  def report(self, step_p, rows, epoch):
    """One record per member and a progress line for a window of rows."""
    c, names = self.config, self.names
    ms = {key: np.stack([r[key] for r, _ in rows]) for key in rows[0][0]}  # (n,) or (n, S)
    means = {key: v.mean(0) for key, v in ms.items()}
    per_member = [{key: float(np.ravel(v)[i]) for key, v in means.items()} for i in range(len(names))]
    secs = sum(t for _, t in rows)
    bsz = c.train.batch_size
    ips = len(rows) * bsz * len(names) / max(secs, 1e-9)
    for w, mm in zip(self.writers, per_member):
      # window_steps: the steps this row averages (log_every_steps; fewer in the row of a
      # stop and in the first row after a resume: a window cut by an interruption is two rows)
      w.write(step_p, {'epoch': epoch, 'lr': float(self.parts.lr_fn(step_p)), 'images_per_sec': ips,
                       'window_steps': len(rows), **{f'train/{key}': v for key, v in mm.items()}})
    avg = {key: float(np.mean(v)) for key, v in means.items()}
    trained = [metrics_lib.unit_key('loss', l) for l, t in enumerate(self.parts.method.trained) if t]
    self.epoch_losses.append([avg[key] for key in trained if key in avg] or [avg['loss']])
    eta = metrics_lib.eta_s(step_p, self.parts.total_steps, self.parts.steps_per_epoch,
                            bsz * len(names) / max(ips, 1e-9), self.eval_s,
                            c.train.eval_every_epochs, c.train.num_epochs)
    # The trained units' losses (a unit measured, not trained, is left out: curves.png marks it).
    units = [(key[len('loss_'):], avg[key]) for key in metrics_lib.unit_keys(avg, 'loss') if key in trained]
    units = units or [('head', avg['loss_head'])]  # backprop: one loss
    self.say(metrics_lib.progress_line(epoch, c.train.num_epochs, step_p, self.parts.total_steps,
                                       ips, units, eta, eval_included=bool(self.eval_s))
             + (f' (mean of {len(names)})' if self.members else ''))

  def absorb(self, pending):
    """Fetches a call's metrics (waiting for it), checks every step's, reports full windows."""
    start, n, m_dev = pending
    got = self.runner.fetch(m_dev, n)
    now = time.time()
    secs, self.clock['ready'] = now - self.clock['ready'], now
    self.clock['step_s'] = secs / n
    spe = self.parts.steps_per_epoch
    bad = {key: v for key, v in got.items() if not np.all(np.isfinite(v))}
    if bad:
      key = sorted(bad)[0]
      j = int(np.argmax(~np.isfinite(bad[key]).reshape(n, -1).all(1)))
      self.diverged(f'{", ".join(sorted(bad))} became {np.ravel(bad[key][j])[0]} at step {start + j + 1}')
    for j in range(n):
      self.window.append(({key: v[j] for key, v in got.items()}, secs / n))
      s = start + j + 1
      if s % self.config.train.log_every_steps == 0 or s % spe == 0:
        self.report(s, self.window, (s - 1) // spe + 1)
        self.window = []

  def diverged(self, what: str):
    raise health.diverged(what, self.workdir, self.last_saved)

  # -- checkpoints and evaluation

  def save(self):
    with self.sig.writing(interrupt.saved(self.step)):  # the watchdog waits for the write
      self._save()

  def _save(self):
    if not bool(health.params_ok(self.state['params'])):
      self.diverged(f'the parameters became non-finite or larger than {health.MAX_PARAM:.0e} '
                    f'by step {self.step}')
    el = parallel.put_replicated(self.mesh, np.float32(self.elapsed0 + time.time() - self.t_start))
    self.state = dict(self.state, elapsed_s=jnp.broadcast_to(el, np.shape(self.state['elapsed_s'])))
    need = sum(v.nbytes for v in jax.tree.leaves(self.state)) * 21 // 20 + 2 ** 18
    rundir.check_space(self.workdir / 'checkpoints', need, self.last_saved)
    rundir.guard_io(lambda: self.ckpt.save(int(self.step), self.state),
                    f'{self.workdir}/checkpoints', self.last_saved, quiet=True)
    self.last_saved = int(self.step)

  def evaluate_round(self, split_names, best=None):
    """{member: {split: (record, per-example)}}; best: each member's val record to reuse."""
    out = {}
    for i in range(len(self.names)):
      st = self.member(i)
      out[i] = self.evaluator.round(st['params'], st['rest'], split_names, best[i] if best else None)
    return out

  def member(self, i: int) -> dict:
    return assembly.member_state(self.state, i) if self.members else self.state

  def test_if_best(self, split, res, recs):
    """train.test_at_best_val: the test set too, in the epoch's record, whenever the
    predictor's validation accuracy is the best yet (finish() reports that epoch's)."""
    name = self.config.train.test_at_best_val
    if not name or split != 'val' or not self.config.eval_on_test:
      return
    key = f'acc_{name}'
    for i, r in enumerate(recs):
      acc = res[i]['val'][0].get(key)
      if acc is None:
        raise ConfigError(f'config.train.test_at_best_val={name!r}: the run has no '
                                      f'{key} (its predictors: {sorted(res[i]["val"][0])})')
      if acc > self.best_val[i]:
        self.best_val[i] = acc
        st = self.member(i)
        test = self.evaluator.round(st['params'], st['rest'], ['test'],
                                    res[i]['val'][0])['test'][0]
        r.update({f'test/{k}': v for k, v in test.items()}, best_val_epoch=r['epoch'])

  def end_of_epoch(self):
    """The epoch's checkpoint, then its evaluation and record. An evaluation stopped by a
    signal is abandoned (the checkpoint is already there) and redone on resume."""
    self.save()
    c, e = self.config, self.step // self.parts.steps_per_epoch
    recs = [{'epoch': e} for _ in self.names]
    split = self.eval_split
    if split and (e % c.train.eval_every_epochs == 0 or self.step == self.parts.total_steps):
      self.sig.safe(f'during epoch {e}\'s evaluation; the checkpoint at step {self.step} is '
                    'complete: run the same command to resume (the evaluation is redone)')
      t0 = time.time()
      res = self.evaluate_round([split])
      self.eval_s = time.time() - t0
      self.last_eval = (self.step, res)
      for i, r in enumerate(recs):
        r.update({f'{split}/{key}': v for key, v in res[i][split][0].items()})
      self.say(f'  {split} ({self.eval_s:.0f} s): ' +
               ', '.join(f'{key.split("/")[1]} {v:.4f}' for key, v in recs[0].items() if '/acc' in key)
               + (' (member 1)' if self.members else ''))
      self.test_if_best(split, res, recs)
      if health.stalled(self.epoch_losses, res[0][split][0], self.dataset.num_classes):
        w = health.stall_warning(e, self.epoch_losses[-1])
        self.warnings.append(w)
        recs[0]['warning'] = w
        self.say(f'warning: {w}')
    self.epoch_losses = []
    rundir.note_bad_files(self.workdir, self.dataset.bad_files() if self.dataset.streamed else None,
                          recs, main=self.main, last_saved=self.last_saved)
    for w, r in zip(self.writers, recs):
      w.write(self.step, dict(r, elapsed_s=self.elapsed0 + time.time() - self.t_start))
    self.sig.safe(interrupt.saved(self.step))
    self.clock['ready'] = time.time()  # images/s counts training only

  # -- the loop

  def train(self, stop_at_step=None) -> bool:
    """Runs calls until the end, a signal or stop_at_step; returns whether it finished.

    A signal is seen between calls: no call is dispatched after it, the one in flight
    is finished and saved. Calls are sized to about 2 s of steps (the first, which
    compiles, to one step), so that a stop takes one call and a checkpoint's write."""
    c, spe, total = self.config, self.parts.steps_per_epoch, self.parts.total_steps
    seeds = tuple(m.seed for m in self.members) or (c.seed,)
    ce = c.train.checkpoint_every_steps
    pending = None
    if rundir.evaluation_missing(self.workdir / self.names[0], self.step, spe, self.last_saved):
      self.end_of_epoch()  # resumed at an epoch's end whose evaluation a signal stopped
    self.sig.safe(f'the checkpoint at step {self.last_saved} is complete (nothing trained since); '
                  'run the same command to resume' if self.last_saved is not None else
                  'before the first training step finished: nothing to save; run the same '
                  'command to start')
    while self.step < total and self.sig.signum is None:
      i0 = self.step % spe
      n = min(self.k, spe - i0)
      if stop_at_step is not None:
        n = min(n, stop_at_step - self.step)
      if ce:
        n = min(n, ce - self.step % ce)
      n = max(1, min(n, int(2. / self.clock['step_s']))) if self.clock['step_s'] else 1
      if not self.clock['step_s'] and pending is None:  # the first call compiles: a sign of life
        self.say('compiling the training step (the first call; seconds to minutes)')
      self.state, m_dev = self.runner.run(self.state, self.step, n, seeds)
      self.sig.unsafe()  # compiled and dispatched: the state holds training no checkpoint has
      if (not self.clock['step_s'] and pending is None and self.eval_split
          and (stop_at_step is None or stop_at_step >= (self.step // spe + 1) * spe)):
        # The evaluation's programs compiled while these steps run (where this call of
        # train reaches one; a signal meanwhile waits for the compilation: trainer.close).
        st = self.member(0)
        self.evaluator.compile_ahead(st['params'], st['rest'], [self.eval_split])
      if pending is not None:  # fetched after the next call was dispatched: no stall
        self.absorb(pending)
      pending = (self.step, n, m_dev)
      self.step += n
      at_epoch_end = self.step % spe == 0
      stop = (stop_at_step is not None and self.step >= stop_at_step) or self.sig.signum is not None
      if at_epoch_end or stop or (ce and self.step % ce == 0):
        self.absorb(pending)
        pending = None
      if stop and self.sig.signum is not None:
        self.sig.claim()  # this loop saves and stops: the watchdog stands down
      if at_epoch_end and self.sig.signum is None:
        self.end_of_epoch()
      elif at_epoch_end or (ce and self.step % ce == 0):
        self.save()  # stopping at an epoch's end: its evaluation is done on resume
      if stop:
        break
      rundir.heartbeat(self.workdir)
    if self.sig.signum is not None:
      self.sig.claim()
    if pending is not None:
      self.absorb(pending)
    if self.step < total:
      if self.window:
        self.report(self.step, self.window, self.step // spe + 1)
        self.window = []
      if self.last_saved != self.step and (self.step or self.last_saved is not None):
        self.save()  # (at step 0 of a new run there is nothing to save)
      return False
    return True

  def finish(self) -> dict:
    """The final record on val and test (reusing the last epoch's validation)."""
    c, ds = self.config, self.dataset
    splits = ['val'] if ds.val is not None else []
    if c.eval_on_test:
      splits.append('test')
    final: dict = {i: {} for i in range(len(self.names))}
    todo = splits
    if self.last_eval is not None and self.last_eval[0] == self.step and splits and \
        splits[0] in self.last_eval[1][0]:
      for i in final:  # the last epoch's evaluation used these very parameters
        final[i][splits[0]] = self.last_eval[1][i][splits[0]]
      todo = splits[1:]
    if todo:
      self.sig.safe(f'during the final evaluation; the checkpoint at step {self.step} is '
                    'complete: run the same command to evaluate it')
      best = [final[i][splits[0]][0] if splits[0] in final[i] else None
              for i in final]
      res = self.evaluate_round(todo, best if any(best) else None)
      for i in final:
        final[i].update(res[i])
    self.sig.stop_if_set(f'during the final evaluation; the checkpoint at step {self.step} '
                         'is complete: run the same command to evaluate it')
    elapsed = np.ravel(jax.device_get(self.state['elapsed_s']))
    with self.sig.writing('after the final records were written: the run is complete'):
      records = rundir.final_records(c, ds, self.workdir, self.names, self.step, final, elapsed,
                                     self.warnings, main=self.main, last_saved=self.last_saved)
    for sp in splits:
      self.say(metrics_lib.final_line(sp, records[self.names[0]][sp])
               + (f' (member 1 of {len(self.names)})' if self.members else ''))
    return records[self.names[0]] if not self.members else records

  def close(self):
    self.evaluator.wait()
    for w in self.writers:
      w.close()
    self.ckpt.close()


def train_and_evaluate(config, workdir, *, stop_at_step: int | None = None,
                       allow_config_change: bool = False) -> dict:
  """Trains config's model, writing to workdir; resumes from workdir's latest checkpoint.

  Returns the final evaluation record (also written to workdir/eval.json; with a
  population, {member path: record}). With stop_at_step the run stops there as if
  interrupted (checkpoint saved) and returns {}. A workdir started with another config
  is refused unless allow_config_change (the change is then recorded).
  """
  workdir = Path(workdir)
  # The config's own XLA:CPU options, while XLA has not read its flags (a fresh process).
  cpu_options.apply_for(config)
  with interrupt.Signals() as sig:
    def check(phase):
      sig.stop_if_set(f'{phase}, before any training step: nothing to save; run the same '
                      'command to start')

    sig.safe(interrupt.START_UP)
    mesh = parallel.make_mesh()
    config_args.validate(config, mesh.size)
    main = parallel.is_main_process()
    with sig.writing(interrupt.START_UP):
      lock = rundir.Lock(workdir) if main else None
      if lock is not None:
        sig.on_exit(lock.release)
    try:
      dataset = data_lib.load(config.data)
      check('while loading the data')
      if len(dataset.train) < config.train.batch_size:
        raise ConfigError(f'config.train.batch_size={config.train.batch_size}: larger than '
                          f'the {len(dataset.train)} training examples')
      parts = assembly.build(config, dataset.image_shape, dataset.num_classes, len(dataset.train))
      ckpt = ckpt_lib.Checkpointer(workdir / 'checkpoints')
      last_saved = ckpt.latest_step()
      state = assembly.init_state(parts, mesh, load_transfer=last_saved is None)
      if last_saved is not None and not (workdir / 'config.json').exists():
        ckpt.check_fits(last_saved, state)  # checkpoints without their config: do they fit?
      if main:
        with sig.writing(interrupt.START_UP):  # config.json
          rundir.open_workdir(config, workdir, parts.members, resuming=last_saved is not None,
                              allow_change=allow_config_change)
      done = rundir.finished_record(workdir, parts.total_steps, last_saved, bool(parts.members))
      if done is not None:  # run again after its end: say so, and give its record
        return done
      if last_saved is not None:
        # The learning rates come from this config (they live in the optimizer's state).
        state = optim.with_lr_of(ckpt.restore(last_saved, state), state)
        if main:
          rundir.cut_records(workdir, [m.path for m in parts.members] or [''], last_saved)
        logging.info('resumed from step %d of %d', last_saved, parts.total_steps)
      data_lib.prepare_run(dataset, config.data, workdir, last_saved is not None,  # check_files
                           lambda m: print(m, flush=True) if main else None)
      check('while building the run')
      trainer = Trainer(config, workdir, parts, dataset, mesh, state, ckpt, sig)
      try:
        if last_saved is not None:
          trainer.say(f'resuming from {workdir}/checkpoints at step {last_saved}')
        trainer.say(f'{method_lib.describe(parts.method)}; data on '
                    f'{"device" if trainer.on_device else "host"}'
                    + (f'; population of {len(parts.members)}' if parts.members else ''))
        finished = rundir.guard_io(lambda: trainer.train(stop_at_step), str(workdir),
                                   trainer.last_saved)
        if not finished:
          if sig.signum is None:
            return {}  # stop_at_step
          sig.claim()
          if trainer.last_saved is None:
            raise Interrupted(sig.signum, 'before the first training step: nothing to save; run '
                                          'the same command to start')
          raise Interrupted(sig.signum, f'saved a checkpoint at step {trainer.step}; run the '
                                        'same command to resume')
        return rundir.guard_io(trainer.finish, str(workdir), trainer.last_saved)
      finally:
        trainer.close()
    finally:
      if lock is not None:
        lock.release()

