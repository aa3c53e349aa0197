"""Ctrl-C and SIGTERM: stop within a cluster's grace period, and lose nothing saved.

A scheduler (SLURM, a preemptible cloud machine) sends SIGTERM and kills the process
about 30 s later. Python runs a signal handler only between bytecodes of the main
thread, so a handler alone waits for whatever C++ call is under way: a compilation, a
training call, a minutes-long evaluation. Two mechanisms together bound the wait:

- A flag (`signum`), set by the handler, which the trainer checks between calls (calls
  are sized to about 2 s: train.Trainer.train) and answers by saving a checkpoint.
- A watchdog thread, woken by the signal itself (`signal.set_wakeup_fd`: the C-level
  handler writes a byte at once, while the main thread is still inside XLA, which
  releases the GIL). Whenever the trainer has declared the moment `safe` (nothing
  trained since the last checkpoint, no write under way: start-up, compiling the first
  call, an evaluation after its epoch's checkpoint, the figures), the watchdog prints the
  one line, runs the cleanups (the workdir lock) and ends the process with 128 + signum.
  An evaluation stopped that way is redone on resume (train.Trainer.resume_evaluation).

The trainer claims a signal (`claim`) once it has decided to stop by itself (save, then
raise Interrupted); the watchdog never acts on a claimed one, so exactly one line is
printed. A second Ctrl-C stops at once without saving.
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time


class Interrupted(Exception):
  """Ctrl-C or SIGTERM: the run stopped at a step boundary (with a checkpoint, once
  training had started)."""

  def __init__(self, signum: int, message: str):
    super().__init__(f'interrupted ({signal.Signals(signum).name}): {message}')
    self.signum = signum

  @property
  def exit_code(self) -> int:
    return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM


# What the one line says at the usual moments (the trainer's).
START_UP = 'during start-up, before any training step: nothing to save; run the same command'


def saved(step) -> str:
  return f'the checkpoint at step {step} is complete; run the same command to resume'


class Signals:
  """The flag, the watchdog and what it may say. Used as a context manager around a
  run; outside the main thread (a notebook's worker) it leaves signals alone."""

  POLL_S = 0.02

  def __init__(self):
    self.signum = None
    self.count = 0
    self._old, self._old_fd, self._pipe = {}, None, None
    self._lock = threading.Lock()
    self._safe_msg = None   # what the line says if the process stops now; None: not now
    self._claimed = False   # the trainer handles this signal itself
    self._exiting = False   # the watchdog is ending the process
    self._cleanups = []

  # -- what the trainer declares

  def safe(self, message: str) -> None:
    """From now on, stopping at once loses nothing: `message` says what remains."""
    with self._lock:
      self._safe_msg = message

  def unsafe(self) -> None:
    """From now on the state holds unsaved training, or a write is under way."""
    with self._lock:
      self._safe_msg = None

  def claim(self) -> None:
    """The trainer stops by itself (checkpoint, then Interrupted): the watchdog stands down.
    If the watchdog is already ending the process, this thread waits for the end."""
    with self._lock:
      exiting = self._exiting
      self._claimed = True
      self._safe_msg = None
    while exiting:
      time.sleep(1.)

  @contextlib.contextmanager
  def writing(self, then: str):
    """A write under way (a checkpoint, config.json, the final records): the watchdog
    waits for it; afterwards stopping at once is safe and says `then`."""
    self.unsafe()
    yield
    self.safe(then)

  def stop_if_set(self, message: str) -> None:
    """The trainer's own stop: if a signal came, claim it and raise Interrupted(message)."""
    if self.signum is not None:
      self.claim()
      raise Interrupted(self.signum, message)

  def on_exit(self, fn) -> None:
    """fn() runs before the watchdog ends the process (e.g. releasing the workdir lock)."""
    self._cleanups.append(fn)

  # -- the handler and the watchdog

  def __enter__(self):
    if threading.current_thread() is not threading.main_thread():
      return self
    for s in (signal.SIGINT, signal.SIGTERM):
      self._old[s] = signal.signal(s, self._set)
    r, w = os.pipe()
    os.set_blocking(w, False)
    self._pipe = (r, w)
    self._old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    threading.Thread(target=self._watch, args=(r,), daemon=True, name='ffjax-signals').start()
    return self

  def _set(self, signum, frame):
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop at once, without saving
    self.signum = signum

  def _watch(self, r: int):
    pending = None  # the first signal, until the process stops
    while True:
      ready, _, _ = select.select([r], [], [], None if pending is None else self.POLL_S)
      if ready:
        b = os.read(r, 1)
        if not b:
          return  # the run is over (__exit__ closed the pipe)
        self.count += 1
        if pending is not None and b[0] == signal.SIGINT:
          self._exit(signal.SIGINT, 'interrupted twice: stopped at once, without saving '
                                    '(the last checkpoint stays)')
        pending = pending if pending is not None else b[0]
      with self._lock:
        msg = None if self._claimed else self._safe_msg
      if pending is not None and msg is not None:
        self._exit(pending, f'interrupted ({signal.Signals(pending).name}): {msg}')
      # Not safe now: the trainer sees the flag at its next call boundary, or the moment
      # becomes safe (an evaluation after its checkpoint), or a second Ctrl-C comes.

  def _exit(self, signum: int, line: str):
    with self._lock:
      if self._claimed and self.count <= 1:
        return
      self._claimed = self._exiting = True
    for fn in self._cleanups:
      try:
        fn()
      except Exception:  # noqa: BLE001 -- stopping matters more than a cleanup
        pass
    try:
      sys.stdout.flush()
    except Exception:  # noqa: BLE001
      pass
    os.write(2, (line + '\n').encode())
    os._exit(128 + signum)

  def __exit__(self, *exc):
    for s, h in self._old.items():
      signal.signal(s, h)
    if self._pipe is not None:
      signal.set_wakeup_fd(self._old_fd if self._old_fd is not None else -1)
      with self._lock:
        self._claimed = True  # the run is over: nothing for the watchdog to do
      os.close(self._pipe[1])  # the watchdog's read returns b'' and it ends
    return False
