"""All figures of a run:  python -m experiments.plot WORKDIR [--split=test|val]"""
import sys

from absl import app, flags

from ffjax import data, plots

flags.DEFINE_string('split', 'test', 'Split for the confusion matrix and CAMs.')


def main(argv):
  if len(argv) != 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
  try:
    for p in plots.plot_run(argv[1], flags.FLAGS.split):
      print(p)
  except (FileNotFoundError, data.DataError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main)
