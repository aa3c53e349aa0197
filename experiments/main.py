"""Trains and evaluates one config:  python -m experiments.main --config=configs/mnist.py --workdir=DIR

Variants are config arguments (--config=configs/mnist.py:tiny,method=bp), single
values are flags (--config.optim.lr=1e-4). Running again with the same workdir resumes;
a workdir started with another config is refused unless --allow_config_change.

Ctrl-C or SIGTERM: the run saves a checkpoint at the next step boundary and stops
(exit 130 / 143); the same command resumes it exactly.

Several processes (hosts): start the same command in each, with --coordinator=HOST:PORT
--num_processes=N --process_id=I (or FFJAX_COORDINATOR / FFJAX_NUM_PROCESSES /
FFJAX_PROCESS_ID), or --coordinator=auto under a cluster scheduler JAX knows (SLURM,
Open MPI). The mesh then spans every process's devices; see README, "Many hosts".
"""
import os
import signal
import sys


def _stop_at_start(signum, frame):
  # Until the trainer takes over the signals there is nothing to save: stop at once,
  # with one line, instead of raising KeyboardInterrupt inside an import or a compile.
  print(f'interrupted ({signal.Signals(signum).name}) during start-up: nothing to save',
        file=sys.stderr, flush=True)
  os._exit(128 + signum)


if __name__ == '__main__':
  signal.signal(signal.SIGINT, _stop_at_start)
  signal.signal(signal.SIGTERM, _stop_at_start)

import re  # noqa: E402

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from ffjax import config_args, data, parallel, run, train  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file, with optional :arguments.',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for metrics, checkpoints and the final record.')
flags.DEFINE_bool('allow_config_change', False,
                  'Resume a workdir started with another config (the change is recorded in '
                  'config_changes.jsonl; config.json keeps the first).')
flags.DEFINE_string('coordinator', '', "Multi-process: 'host:port' of process 0, or 'auto'.")
flags.DEFINE_integer('num_processes', 0, 'Multi-process: how many processes.')
flags.DEFINE_integer('process_id', -1, "Multi-process: this process's index.")
flags.mark_flags_as_required(['config', 'workdir'])

# The user's to fix: one line, no traceback, exit 2.
USER_ERRORS = (config_args.ConfigError, data.DataError, train.TrainingDiverged, run.RunLocked,
               run.RunIOError)


def main(argv):
  del argv
  if not FLAGS['verbosity'].present:  # orbax logs every save at INFO; keep the console readable
    logging.set_verbosity(logging.WARNING)
  run.EXIT_ON_IO_ERROR = True
  try:
    parallel.initialize(FLAGS.coordinator, FLAGS.num_processes, FLAGS.process_id)
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                             allow_config_change=FLAGS.allow_config_change)
  except USER_ERRORS as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except train.Interrupted as e:
    print(e, file=sys.stderr, flush=True)
    sys.exit(e.exit_code)
  except KeyboardInterrupt:  # a second Ctrl-C
    print('interrupted twice: stopped at once, without saving (the last checkpoint stays)',
          file=sys.stderr)
    sys.exit(130)


def parse_flags(argv):
  """absl's flag parsing, except that a config file's own ConfigError (a bad config
  argument, raised while the file builds the config) is one line too, not a traceback."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    found = re.search(r'ConfigError: (.*)', str(e))
    if found:
      print(f'error: {found.group(1)}', file=sys.stderr)
      sys.exit(2)
  return app.parse_flags_with_usage(argv)  # absl's own message and usage


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
