"""Reads every image file of a streamed dataset once, before a run: which ones cannot be
decoded, in every split (train, the held-out val, the tree's val).

  python -m experiments.check_data --config=configs/asge_imagenet.py:dataset=imagenette
  python -m experiments.check_data --config=configs/asge_imagenet.py --bad_list=bad_files.txt
  python -m experiments.check_data --config=... --config.data.processes=8   # faster
  python -m experiments.check_data --config=... --workdir=runs/in1k  # for that run to use

A progress line every few seconds; then each bad file with why, and a count. Exit 0 when
every file decodes, 1 when some do not (their list in --bad_list, one per line), 2 for a
mistake. A run does the same pass itself with --config.data.check_files=True: under
data.bad_images='stop' it then names every bad file before training, under 'skip' it
skips them without decoding. With --workdir, the pass is kept there (data_check.json):
a run started in that workdir with check_files=True uses it instead of reading every
file again. Data held whole (MNIST, CIFAR) is checked as it loads.
"""
from __future__ import annotations

from pathlib import Path

from absl import flags
from ml_collections import config_flags

from experiments import cli
from ffjax import config_args, data

flags.DEFINE_string('bad_list', '', 'Write the bad files here, one per line (nothing is written when none).')


def main(argv):
  if len(argv) > 1:
    cli.die(f'unexpected argument {argv[1]!r} (see --help)')
  config = flags.FLAGS.config
  if config is None:
    cli.die('which data? give --config=FILE[:ARGS] (see --help)')
  try:
    data.check(config.data)
    dataset = data.load(config.data)
  except (data.DataError, config_args.ConfigError) as e:
    cli.die(str(e))
  if not dataset.streamed:
    print(f'{dataset.name}: held whole, every file already checked as it loaded '
          f'({len(dataset.train)} training examples)')
    return
  from ffjax.data import stream
  n, bad = stream.check_dataset(dataset.train.workers, lambda m: print(m, flush=True))
  for _, why in bad:
    print(f'bad: {why}')
  print(f'{n} files read, {len(bad)} cannot be decoded', flush=True)
  if flags.FLAGS.workdir:
    stream.write_check(Path(flags.FLAGS.workdir) / stream.CHECK_FILE, n, bad)
    print(f'kept for the run in {flags.FLAGS.workdir} (with --config.data.check_files=True)')
  if bad and flags.FLAGS.bad_list:
    Path(flags.FLAGS.bad_list).write_text(''.join(f'{f}\n' for f, _ in bad))
    print(f'written: {flags.FLAGS.bad_list}')
  if bad:
    raise SystemExit(1)


def parse_flags(argv):
  if any(a in ('-h', '--help', '--helpshort', '-?') for a in argv[1:]):
    cli.print_help()
  cli.check_config_flags(argv)
  return cli.parse_flags(argv)


if __name__ == '__main__':  # --config, --workdir defined here: experiments.main defines them
  config_flags.DEFINE_config_file('config', None, 'Config file, with optional :arguments.',
                                  lock_config=True)
  flags.DEFINE_string('workdir', '', 'Keep the pass in this run directory (data_check.json) for its run.')
  cli.run(main, parse_flags)
