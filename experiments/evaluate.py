"""Evaluates a run's latest checkpoint (finished or not) on its val and test splits.

  python -m experiments.evaluate runs/mnist_cpu

Prints the accuracy of every predictor and writes WORKDIR/eval_step{N}.json (a
read-only run still gets the numbers printed).
"""
import json
import sys
from pathlib import Path

from experiments import cli
from ffjax import config_args, data, run


def main(argv):
  if len(argv) != 2:
    cli.die('give one run directory: python -m experiments.evaluate WORKDIR (see --help)')
  wd = cli.run_dir(argv[1])
  try:
    rec = run.evaluate_checkpoint(wd)
  except (FileNotFoundError, data.DataError, config_args.ConfigError) as e:
    cli.die(str(e))
  for split in ('val', 'test'):
    if split in rec:
      r = rec[split]
      print(f'step {rec["step"]} {split} ({r["num_examples"]} examples): ' +
            ', '.join(f'{k} {v:.4f}' for k, v in r.items() if k.startswith('acc_')), flush=True)
  out = Path(wd, f'eval_step{rec["step"]}.json')
  try:  # a read-only run still gets its numbers (printed above)
    out.write_text(json.dumps(rec, indent=1))
  except OSError as e:
    print(f'note: could not write {out} ({e.strerror})', file=sys.stderr)


if __name__ == '__main__':
  cli.run(main)
