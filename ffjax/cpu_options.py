"""XLA:CPU options ffjax sets before JAX starts its backend, chosen by measurement.

XLA reads XLA_FLAGS once, when the first computation starts its backend; importing ffjax
(which every entry point does before it touches a device) adds ffjax's options there:

  XLA_FLAGS (yours)     kept as it is; ffjax adds only options it does not name
  FFJAX_XLA_FLAGS       'none': ffjax adds nothing; any other value: these options
                        instead of ffjax's own
  else                  OPTIONS, for a jaxlib ffjax was measured on (TESTED); an option a
                        jaxlib does not know aborts the process, so a newer one gets none
                        until it is measured

Why these options (docs/RESULTS.md 26, `python -m benchmarks.xla_flags`): XLA:CPU's own
convolution kernels run a small net's forward and backward passes at about half
PyTorch's speed on 2 cores; its oneDNN path (the library PyTorch's CPU convolutions use)
takes them to PyTorch's. They change nothing on a GPU (CPU options), and where the backend
has already started (jax used before ffjax was imported) nothing is changed.

A run adds its config's own options (BY_CONFIG, `apply_for`: train_and_evaluate, before
it starts the backend), where one family's step measured faster with an option that
slows others; only where ffjax adds its options (neither FFJAX_XLA_FLAGS nor a user's
XLA_FLAGS naming the option). What XLA ran with is in every run's provenance.
"""
from __future__ import annotations

import os

# The oneDNN path for convolutions and matrix products (XLA:CPU's default is its own
# Eigen kernels). Measured on jaxlib 0.10.2 and 0.12.1.
OPTIONS = ('--xla_cpu_use_onednn=true', '--xla_cpu_experimental_onednn_custom_call=true')
TESTED = ((0, 10), (0, 12))  # jaxlib (major, minor) from .. to, both included

# XLA:CPU's scheduler for concurrency (two thunks at a time on 2 cores) off: backprop
# through MobileNetV3 ran 1.60, 1.64 and 1.71x as fast without it on jaxlib 0.12.1 (1.16x,
# one noisy run, on 0.10.2: not set there), ResNet-18's 1.23 and 1.07x (0.90x on 0.10.2);
# other families within +-0.1 or slower (ResNet-18's FF step 0.81-0.94x). docs/RESULTS.md
# 31-32, `python -m benchmarks.xla_flags ... --sets onednn,onednn-concsched`.
SCHEDULER_OFF = '--xla_cpu_enable_concurrency_optimized_scheduler=false'
# (jaxlib from, to), config.method, config.model.net values, options
BY_CONFIG = (
    (((0, 12), (0, 12)), 'bp', ('mobilenetv3_small', 'resnet18'), (SCHEDULER_OFF,)),
)


def _jaxlib_version() -> tuple[int, int] | None:
  from importlib import metadata
  try:
    v = metadata.version('jaxlib')
  except metadata.PackageNotFoundError:
    return None
  try:
    major, minor = (int(p) for p in v.split('.')[:2])
  except ValueError:
    return None
  return major, minor


def chosen(environ=os.environ) -> tuple[str, ...]:
  """The options ffjax would add: FFJAX_XLA_FLAGS's, or OPTIONS on a tested jaxlib."""
  own = environ.get('FFJAX_XLA_FLAGS')
  if own is not None:
    return () if own.strip().lower() in ('none', '') else tuple(own.split())
  v = _jaxlib_version()
  return OPTIONS if v is not None and TESTED[0] <= v <= TESTED[1] else ()


def _add(options, environ) -> tuple[str, ...]:
  """Adds options to environ['XLA_FLAGS'] (those it does not already name); returns what
  was added."""
  user = environ.get('XLA_FLAGS', '')
  named = {f.split('=')[0] for f in user.split()}
  added = tuple(f for f in options if f.split('=')[0] not in named)
  if added:
    environ['XLA_FLAGS'] = ' '.join(([user] if user else []) + list(added))
  return added


def apply(environ=os.environ) -> tuple[str, ...]:
  """Adds the chosen options to environ['XLA_FLAGS'] (those it does not already name);
  returns what was added."""
  return _add(chosen(environ), environ)


def for_config(config, environ=os.environ) -> tuple[str, ...]:
  """The options BY_CONFIG adds for a config on this jaxlib (none under FFJAX_XLA_FLAGS:
  its options are the whole choice)."""
  v = _jaxlib_version()
  if environ.get('FFJAX_XLA_FLAGS') is not None or v is None:
    return ()
  method, net = config.get('method'), config.model.get('net')
  return tuple(o for (lo, hi), m, nets, opts in BY_CONFIG
               if lo <= v <= hi and m == method and net in nets for o in opts)


def backend_started() -> bool:
  """Whether JAX has started a backend (XLA has read XLA_FLAGS); True where unknown."""
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):
    return True


def apply_for(config, environ=os.environ) -> tuple[str, ...]:
  """Adds for_config(config)'s options to environ['XLA_FLAGS'] if no backend has started
  yet (XLA reads them once, when it starts); returns what was added."""
  # Only os.environ is what XLA reads; another mapping (a test's) is filled regardless.
  if environ is os.environ and backend_started():
    return ()
  return _add(for_config(config, environ), environ)
