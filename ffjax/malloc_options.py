"""glibc malloc options ffjax sets at import where JAX will compute on the CPU.

XLA:CPU allocates each program's temporaries as one block per run (ASGE's backprop step
on MNIST: 137 MB) with posix_memalign from a worker thread. glibc serves a block that
large from a fresh mmap (a thread's arena holds at most 64 MB; the main arena's mmap
threshold at most 32 MB) and unmaps it when the run ends, so every step faults in and
zeroes every page of it again: 33,500 page faults and 50-60 ms of system CPU time a step,
a third of that step's wall time on 2 cores (docs/RESULTS.md 35). With

  M_ARENA_MAX=1             every thread allocates from the main arena, which grows
  M_MMAP_MAX=0              by brk instead of one mmap per large block, and
  M_TRIM_THRESHOLD=2^31-1   keeps what is freed at its top instead of returning it,

the block is reused from step to step: no page faults once the heap has grown (ASGE's BP
step 1.48x as fast). The costs: the process keeps its peak heap (as JAX's GPU allocator
keeps its own; a 1-epoch run of ASGE's BP: peak RSS 737 -> 1,217 MB), and every thread
shares one arena's lock (XLA's compiler threads: compiling 10-20% slower, the first run about 1 s longer).

  FFJAX_MALLOC=none     ffjax sets nothing (also off, 0, false)
  FFJAX_MALLOC=on       set them even where an accelerator plugin is installed (also 1, true)
  unset or empty        set them on Linux with glibc, unless a JAX accelerator plugin
                        (jax_plugins, libtpu) is installed and JAX_PLATFORMS does not
                        choose the CPU

They must be set before JAX starts its worker threads (a thread keeps the arena it
first allocated from): ffjax/__init__.py sets them at import, before JAX is imported.
What was set is in every run's provenance (`malloc_options`).
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys

# mallopt's parameter numbers (glibc's malloc.h) and the values set.
OPTIONS = (('M_ARENA_MAX', -8, 1), ('M_MMAP_MAX', -4, 0), ('M_TRIM_THRESHOLD', -1, 2**31 - 1))

_applied: tuple[str, ...] = ()


def _libc():
  """glibc, or None (another C library, another OS)."""
  if not sys.platform.startswith('linux'):
    return None
  try:
    libc = ctypes.CDLL('libc.so.6')
    libc.gnu_get_libc_version  # noqa: B018  (glibc only)
    return libc
  except (OSError, AttributeError):
    return None


def _cpu_expected(environ) -> bool:
  """Whether JAX will compute on the CPU: JAX_PLATFORMS chooses it, or no accelerator
  plugin is installed (looked up without importing it)."""
  platforms = environ.get('JAX_PLATFORMS', '').strip().lower()
  if platforms:
    return platforms.split(',')[0] == 'cpu'
  return not any(importlib.util.find_spec(m) is not None for m in ('jax_plugins', 'libtpu'))


OFF, ON = ('none', 'off', '0', 'false'), ('on', '1', 'true')


def wanted(environ=os.environ) -> bool:
  """Whether ffjax sets its malloc options in this process (FFJAX_MALLOC, the backend).
  Another value of FFJAX_MALLOC is said on stderr (one line) and the default applies."""
  choice = environ.get('FFJAX_MALLOC', '').strip().lower()
  if choice in OFF:
    return False
  if choice in ON:
    return True
  if choice:
    print(f'ffjax: FFJAX_MALLOC={choice!r} is none of {OFF + ON}: the default applies '
          '(ffjax/malloc_options.py)', file=sys.stderr)
  return _cpu_expected(environ)


def apply(environ=os.environ) -> tuple[str, ...]:
  """Sets OPTIONS with mallopt where wanted and glibc is the C library; returns the names
  set as 'NAME=value' (also kept for provenance: applied())."""
  global _applied
  libc = _libc() if wanted(environ) else None
  if libc is None:
    return ()
  done = tuple(f'{name}={value}' for name, param, value in OPTIONS
               if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1)
  _applied = tuple(dict.fromkeys(_applied + done))
  return done


def applied() -> tuple[str, ...]:
  """The options set in this process, as 'NAME=value'."""
  return _applied
