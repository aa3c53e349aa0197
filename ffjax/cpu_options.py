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
"""
from __future__ import annotations

import os

# The oneDNN path for convolutions and matrix products (XLA:CPU's default is its own
# Eigen kernels). Measured on jaxlib 0.10.2 and 0.12.1.
OPTIONS = ('--xla_cpu_use_onednn=true', '--xla_cpu_experimental_onednn_custom_call=true')
TESTED = ((0, 10), (0, 12))  # jaxlib (major, minor) from .. to, both included


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


def apply(environ=os.environ) -> tuple[str, ...]:
  """Adds the chosen options to environ['XLA_FLAGS'] (those it does not already name);
  returns what was added."""
  user = environ.get('XLA_FLAGS', '')
  named = {f.split('=')[0] for f in user.split()}
  added = tuple(f for f in chosen(environ) if f.split('=')[0] not in named)
  if added:
    environ['XLA_FLAGS'] = ' '.join(([user] if user else []) + list(added))
  return added
