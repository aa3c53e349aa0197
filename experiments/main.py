"""Trains and evaluates one config:  python -m experiments.main --config=configs/mnist.py --workdir=DIR

Variants are config arguments (--config=configs/mnist.py:tiny,method=bp), single
values are flags (--config.optim.lr=1e-4). Running again with the same workdir resumes.

Several processes (hosts): start the same command in each, with --coordinator=HOST:PORT
--num_processes=N --process_id=I (or FFJAX_COORDINATOR / FFJAX_NUM_PROCESSES /
FFJAX_PROCESS_ID), or --coordinator=auto under a cluster scheduler JAX knows (SLURM,
Open MPI). The mesh then spans every process's devices; see README, "Many hosts".
"""
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from ffjax import config_args, data, parallel, train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file, with optional :arguments.',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for metrics, checkpoints and the final record.')
flags.DEFINE_string('coordinator', '', "Multi-process: 'host:port' of process 0, or 'auto'.")
flags.DEFINE_integer('num_processes', 0, 'Multi-process: how many processes.')
flags.DEFINE_integer('process_id', -1, "Multi-process: this process's index.")
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  if not FLAGS['verbosity'].present:  # orbax logs every save at INFO; keep the console readable
    logging.set_verbosity(logging.WARNING)
  try:
    parallel.initialize(FLAGS.coordinator, FLAGS.num_processes, FLAGS.process_id)
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (config_args.ConfigError, data.DataError, train.TrainingDiverged) as e:
    # Bad settings, bad data and divergence are the user's to fix: one line, no traceback.
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
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
