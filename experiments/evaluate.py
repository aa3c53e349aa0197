"""Evaluates a run's latest checkpoint (finished or not) on its val and test splits.

  python -m experiments.evaluate runs/mnist_cpu
  python -m experiments.evaluate runs/mnist_cpu --goodness_scale=theta

Prints the accuracy of every predictor and writes WORKDIR/eval_step{N}.json (a
read-only run still gets the numbers printed). --goodness_scale reads the same trained
units with another goodness predictor (each unit's goodness divided by its threshold, or
not); its numbers go to eval_step{N}_goodness_scale-{VALUE}.json.
"""
import json
import sys
from pathlib import Path

from absl import flags

from experiments import cli
from ffjax import config_args, data, readback

flags.DEFINE_enum('goodness_scale', None, ['none', 'theta'],
                  "The goodness predictor for this evaluation (default: the run's own).")


def main(argv):
  if len(argv) != 2:
    cli.die('give one run directory: python -m experiments.evaluate WORKDIR (see --help)')
  wd = cli.run_dir(argv[1])
  scale = flags.FLAGS.goodness_scale
  settings = {'predict.goodness_scale': scale} if scale else None
  try:
    rec = readback.evaluate_checkpoint(wd, settings)
  except (FileNotFoundError, data.DataError, config_args.ConfigError) as e:
    cli.die(str(e))
  for split in ('val', 'test'):
    if split in rec:
      r = rec[split]
      print(f'step {rec["step"]} {split} ({r["num_examples"]} examples): ' +
            ', '.join(f'{k} {v:.4f}' for k, v in r.items() if k.startswith('acc_')), flush=True)
  out = Path(wd, f'eval_step{rec["step"]}' + (f'_goodness_scale-{scale}' if scale else '') + '.json')
  try:  # a read-only run still gets its numbers (printed above)
    out.write_text(json.dumps(rec, indent=1))
  except OSError as e:
    print(f'note: could not write {out} ({e.strerror})', file=sys.stderr)


if __name__ == '__main__':
  cli.run(main)
