"""ffjax: Forward-Forward training of convolutional networks in JAX.

The same functions the command line uses, for notebooks:
  from ffjax import config_base, train
  config = ...  # e.g. importlib-load configs/mnist.py and call get_config('tiny')
  record = train.train_and_evaluate(config, '/tmp/run')
"""
__version__ = '0.1.0'

# XLA:CPU options chosen by measurement, set before JAX starts its backend (a user's own
# XLA_FLAGS win; FFJAX_XLA_FLAGS=none turns this off): ffjax/cpu_options.py.
from ffjax import cpu_options as _cpu_options  # noqa: E402

_cpu_options.apply()

# glibc malloc options where JAX computes on the CPU, set before JAX starts its threads:
# XLA's per-step temporaries reused instead of mapped and faulted in anew every step
# (FFJAX_MALLOC=none turns this off): ffjax/malloc_options.py.
from ffjax import malloc_options as _malloc_options  # noqa: E402

_malloc_options.apply()
