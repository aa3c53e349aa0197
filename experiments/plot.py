"""All figures of a run, as PNG files in its directory.

  python -m experiments.plot runs/mnist_cpu
  python -m experiments.plot runs/mnist_cpu --split=val

curves.png, accuracy.png, confusion.png, labels.png, cams.png (ffjax/plots.py). The run
may be finished or not (its latest checkpoint is read).
"""
from absl import flags

from experiments import cli
from ffjax import data

flags.DEFINE_enum('split', 'test', ['test', 'val'], 'Split for the confusion matrix and CAMs.')


def main(argv):
  if len(argv) != 2:
    cli.die('give one run directory: python -m experiments.plot WORKDIR (see --help)')
  wd = cli.run_dir(argv[1])
  try:
    from ffjax import plots
  except ImportError:
    cli.die('figures need matplotlib: pip install -e .[plots]')
  try:
    for p in plots.plot_run(wd, flags.FLAGS.split):
      print(p)
  except (FileNotFoundError, data.DataError) as e:
    cli.die(str(e))
  except OSError as e:
    cli.die(f'cannot write the figures into {wd}: {e.strerror}')


if __name__ == '__main__':
  cli.run(main)
