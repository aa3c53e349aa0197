"""Trains and evaluates one config.

  python -m experiments.main --config=configs/mnist.py:cpu --workdir=runs/mnist_cpu
  python -m experiments.main --config=configs/mnist.py:tiny,method=bp --workdir=runs/t
  python -m experiments.main --config=configs/asge_mnist.py:cpu --config.optim.lr=1e-3 --workdir=runs/a
  python -m experiments.main --list_configs          # every config and its arguments
  python -m experiments.main --config=configs/cifar10.py:cpu --dry_run   # the resolved config

Variants are config arguments after the ':' (comma separated: tiny, cpu, method=bp,
seed=N, epochs=N, seeds=N, bf16, and each config's own); an argument given explicitly
wins over a variant's default. Single values are flags (--config.optim.lr=1e-4).
Running again with the same workdir resumes; a workdir started with another config is
refused unless --allow_config_change.

Ctrl-C or SIGTERM: the run stops within one call (about 2 s) and a checkpoint's write,
at once where nothing is unsaved (start-up, compilation, evaluation), with one line
and exit 130 / 143; the same command resumes it exactly. A run ends with where its
records, checkpoints and figures are. Mistakes (an unknown key, a bad
value, missing data) are one line `error: ...`, exit 2.

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


def _stop_in_probe(signum, frame):
  # Training is complete and saved; only the probe on the frozen units is lost.
  print(f'interrupted ({signal.Signals(signum).name}) during the probe phase: the training is '
        'complete and saved (eval.json, checkpoints); python -m experiments.probe WORKDIR runs '
        'the probe again', file=sys.stderr, flush=True)
  os._exit(128 + signum)


def _stop_at_end(signum, frame):
  # After the trainer: the run is complete, only figures are being drawn.
  print(f'interrupted ({signal.Signals(signum).name}) while drawing the figures: the run is '
        'complete (eval.json); python -m experiments.plot WORKDIR draws them', file=sys.stderr,
        flush=True)
  os._exit(128 + signum)


if __name__ == '__main__':
  signal.signal(signal.SIGINT, _stop_at_start)
  signal.signal(signal.SIGTERM, _stop_at_start)

import threading  # noqa: E402
import time  # noqa: E402

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from experiments import cli  # noqa: E402
from ffjax import config_args, data, health, metrics, parallel, readback, rundir, train  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file, with optional :arguments.',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for metrics, checkpoints and the final record.')
flags.DEFINE_bool('allow_config_change', False,
                  'Resume a workdir started with another config (the change is recorded in '
                  'config_changes.jsonl; config.json keeps the first).')
flags.DEFINE_bool('dry_run', False, 'Print the resolved config and the method, train nothing.')
flags.DEFINE_bool('list_configs', False, 'List the config files and their arguments.')
flags.DEFINE_string('coordinator', '', "Multi-process: 'host:port' of process 0, or 'auto'.")
flags.DEFINE_integer('num_processes', 0, 'Multi-process: how many processes.')
flags.DEFINE_integer('process_id', -1, "Multi-process: this process's index.")

# The user's to fix: one line, no traceback, exit 2.
USER_ERRORS = (config_args.ConfigError, data.DataError, health.TrainingDiverged, rundir.RunLocked,
               rundir.RunIOError)


def main(argv):
  if len(argv) > 1:
    cli.die(f'unexpected argument {argv[1]!r}: flags are --name=value (see --help)')
  if FLAGS.list_configs:
    print(cli.describe_configs())
    return
  if FLAGS.config is None:
    cli.die('--config=configs/NAME.py[:ARGS] is required (see --help, or --list_configs)')
  if FLAGS.dry_run:
    try:
      config_args.validate(FLAGS.config)
    except config_args.ConfigError as e:
      cli.die(str(e))
    from flax import nnx
    from ffjax import method as method_lib
    k, h, w, ch = data.shape_of(FLAGS.config.data)
    _, method = method_lib.build(FLAGS.config, (h, w, ch), k, nnx.Rngs(0))
    print(config_args.show(FLAGS.config))
    print(f'pieces: {method_lib.describe(method)}')
    return
  if FLAGS.workdir is None:
    cli.die('--workdir=DIR is required: where the run writes its records and checkpoints')
  rundir.EXIT_ON_IO_ERROR = True
  try:
    parallel.initialize(FLAGS.coordinator, FLAGS.num_processes, FLAGS.process_id)
    if FLAGS.config.plots:
      # matplotlib's import (0.4-0.6 s of Python) while the training runs, not before the
      # figures. (Not jax.process_index(): it would start the backend before the config's
      # XLA options are in: cpu_options.apply_for.)
      threading.Thread(target=_import_pyplot, daemon=True).start()
    t0 = time.time()
    record = train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                                      allow_config_change=FLAGS.allow_config_change)
    if FLAGS.config.probe.epochs and parallel.is_main_process() and 'provenance' in record:
      # The probe phase, on the trained units frozen; a run that has it already keeps it.
      p = readback.probe_done(FLAGS.workdir, FLAGS.config, record['step'])
      again = p is not None
      if p is None:
        signal.signal(signal.SIGINT, _stop_in_probe)
        signal.signal(signal.SIGTERM, _stop_in_probe)
        p = readback.probe_run(FLAGS.workdir, FLAGS.config.probe.to_dict())  # this command's
      print(f'probe on the frozen units{" (done before)" if again else ""}: val '
            f'{_pct(p["val"])}, test {_pct(p["test"])} ({FLAGS.workdir}/probe.json)', flush=True)
    if parallel.is_main_process():
      signal.signal(signal.SIGINT, _stop_at_end)
      signal.signal(signal.SIGTERM, _stop_at_end)
      _the_end(FLAGS.config, FLAGS.workdir, record, time.time() - t0)
  except USER_ERRORS as e:
    cli.die(str(e))
  except train.Interrupted as e:
    print(e, file=sys.stderr, flush=True)
    sys.exit(e.exit_code)
  except KeyboardInterrupt:  # a second Ctrl-C
    print('interrupted twice: stopped at once, without saving (the last checkpoint stays)',
          file=sys.stderr)
    sys.exit(130)


def _import_pyplot():
  try:
    from ffjax import plots
    plots._plt()
  except ImportError:  # no matplotlib: _the_end says so
    pass


def _pct(v):
  return 'none' if v is None else f'{100 * v:.2f}%'


def _the_end(config, workdir, record, seconds):
  """Figures, then where everything is: the last lines of every run."""
  if 'provenance' not in record:  # a population: {member: record}
    print(f'done in {metrics.format_duration(seconds)}: every member\'s records are under '
          f'{workdir}/<setting>/seed<s>/; python -m experiments.summarize {workdir} gives mean '
          'and spread', flush=True)
    return
  split = 'test' if 'test' in record else 'val'
  figures, why_none = [], None
  if not config.plots:
    why_none = (f'none (config.plots=False): python -m experiments.plot {workdir} draws them')
  else:
    try:
      from ffjax import plots
      figures = plots.plot_run(workdir, split)
    except ImportError:
      why_none = 'none: matplotlib is not installed (pip install -e .[plots])'
  if record.get('finished_before'):
    print(f'this run had already finished ({record["step"]} steps, {record["epochs"]} epochs): '
          f'its final record, {workdir}/eval.json, follows; another --workdir trains anew',
          flush=True)
    for sp in ('val', 'test'):
      if sp in record:
        accs = ', '.join(f'{k} {v:.4f}' for k, v in record[sp].items() if k.startswith('acc_'))
        print(f'final {sp} ({record[sp]["num_examples"]} examples): {accs}', flush=True)
  else:
    print(f'done in {metrics.format_duration(seconds)} ({record["step"]} steps, '
          f'{record["epochs"]} epochs)', flush=True)
  k = data.shape_of(config.data)[0]
  chance = [n for n, v in record[split].items() if n.startswith('acc_') and v <= 1.5 / k]
  if chance and not record.get('warnings'):  # (a stall has said why already)
    print(f'note: {", ".join(chance)} at chance ({1 / k:.2f}) after {record["step"]} steps: '
          f'too short a run for {"it" if len(chance) == 1 else "them"} to learn (tiny only shows '
          'that the pipeline works; configs/mnist.py:quick shows FF learning in about a minute)',
          flush=True)
  for line in rundir.where_outputs_are(workdir, record, figures):
    print(line, flush=True)
  if why_none:
    print(f'figures:     {why_none}', flush=True)


def parse_flags(argv):
  """The config flags checked first (one line for an unknown file, argument, key or a
  bad value), then absl's parsing (one line too)."""
  if any(a in ('-h', '--help', '--helpshort', '-?') for a in argv[1:]):
    cli.print_help()
  cli.check_config_flags(argv)
  return cli.parse_flags(argv)


if __name__ == '__main__':
  cli.run(main, parse_flags)
