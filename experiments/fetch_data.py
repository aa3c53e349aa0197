"""Fetches datasets ahead of a run: the official files, checked by md5, into the data folder.

  python -m experiments.fetch_data mnist cifar10                 # into the cache (or FFJAX_DATA_DIR)
  python -m experiments.fetch_data mnist --data_dir=/shared/data  # into a folder of your own
  python -m experiments.fetch_data --status                       # each dataset: complete or not, where, sources

For clusters whose compute nodes have no internet: fetch on a login node into a folder the
nodes see, then run with FFJAX_DATA_DIR (or config.data.dir) set to it. Where the files
go: --data_dir, else $FFJAX_DATA_DIR, else the per-user cache ($XDG_CACHE_HOME/ffjax/data,
~/.cache/ffjax/data) that runs use when no folder is configured. A dataset already
complete there is left as it is. Sources, mirrors, checks and the lock: ffjax/data/fetch.py.
"""
from absl import flags

from experiments import cli
from ffjax import data
from ffjax.data import fetch

flags.DEFINE_string('data_dir', '', 'Folder to fetch into (default: $FFJAX_DATA_DIR, else the cache).')
flags.DEFINE_bool('status', False, 'Each dataset ffjax fetches: complete or missing, where, and its sources.')


def main(argv):
  names = argv[1:]
  root, _ = fetch.root(flags.FLAGS.data_dir)
  if flags.FLAGS.status:
    for name, r in fetch.REMOTES.items():
      state = 'missing' if fetch.missing(name, root) else 'complete'
      print(f'{name:14s} {state:9s} {root / name}  from {", ".join(fetch.urls(name))}')
    return
  if not names:
    cli.die(f'which datasets? one or more of {", ".join(fetch.REMOTES)} (see --help)')
  unknown = [n for n in names if n not in fetch.REMOTES]
  if unknown:
    cli.die(f'{unknown[0]}: not a dataset ffjax fetches; one of {", ".join(fetch.REMOTES)}')
  for name in names:
    if not fetch.missing(name, root):
      print(f'{name}: complete in {root / name}')
      continue
    try:
      fetch.fetch(name, root, check=data.check_raw)
    except data.DataError as e:
      cli.die(str(e))
    print(f'{name}: fetched and checked, in {root / name}')


if __name__ == '__main__':
  cli.run(main)
