"""A linear probe on a finished run's frozen units (ffjax/probe.py): how unsupervised
units are read (SCFF's authors read theirs this way), a phase after training.

  python -m experiments.probe runs/scff_c10                      # the run's config.probe
  python -m experiments.probe runs/scff_c10 --epochs=10 --dropout=0.2 --pool=2

Trains dropout + a linear layer on the units' features (each unit's output, an extra
average pool, standardized per example) with Adam and the halvings, then prints val and
test accuracy after the last epoch and writes WORKDIR/probe.json (with the curve).
"""
from absl import flags

from experiments import cli
from ffjax import config_args, data, readback

flags.DEFINE_integer('epochs', None, 'Epochs (default: the run\'s config.probe.epochs).')
flags.DEFINE_integer('batch_size', None, 'Batch size (default: config.probe.batch_size).')
flags.DEFINE_float('lr', None, 'Adam learning rate (default: config.probe.lr).')
flags.DEFINE_float('dropout', None, 'Dropout on the features (default: config.probe.dropout).')
flags.DEFINE_integer('pool', None, 'Extra average pool per unit (default: config.probe.pool).')
flags.DEFINE_list('units', None, 'Units read, 1-based (default: all, or config.probe.units).')

SETTINGS = ('epochs', 'batch_size', 'lr', 'dropout', 'pool')


def main(argv):
  if len(argv) != 2:
    cli.die('give one run directory: python -m experiments.probe WORKDIR (see --help)')
  wd = cli.run_dir(argv[1])
  f = flags.FLAGS
  over = {k: getattr(f, k) for k in SETTINGS if getattr(f, k) is not None}
  if f.units is not None:
    try:
      over['units'] = tuple(int(u) - 1 for u in f.units)
    except ValueError:
      cli.die(f'--units={",".join(f.units)}: unit numbers, e.g. --units=1,3')
  try:
    rec = readback.probe_run(wd, over)
  except (FileNotFoundError, data.DataError, config_args.ConfigError) as e:
    cli.die(str(e))
  for split in ('val', 'test'):
    if rec.get(split) is not None:
      print(f'probe {split}: {100 * rec[split]:.2f}%', flush=True)
  print(f'written: {wd}/probe.json', flush=True)


if __name__ == '__main__':
  cli.run(main)
