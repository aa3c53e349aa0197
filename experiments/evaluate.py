"""Evaluates a run's latest checkpoint (finished or not) on its val and test splits:

  python -m experiments.evaluate WORKDIR

Prints the accuracy of every predictor and writes WORKDIR/eval_step{N}.json.
"""
import json
import sys
from pathlib import Path

from ffjax import data, run


def main(argv):
  if len(argv) != 2:
    print(__doc__, file=sys.stderr)
    return 2
  try:
    rec = run.evaluate_checkpoint(argv[1])
  except (FileNotFoundError, data.DataError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  for split in ('val', 'test'):
    if split in rec:
      r = rec[split]
      print(f'step {rec["step"]} {split} ({r["num_examples"]} examples): ' +
            ', '.join(f'{k} {v:.4f}' for k, v in r.items() if k.startswith('acc_')), flush=True)
  out = Path(argv[1], f'eval_step{rec["step"]}.json')
  try:  # a read-only run still gets its numbers (printed above)
    out.write_text(json.dumps(rec, indent=1))
  except OSError as e:
    print(f'note: could not write {out} ({e.strerror})', file=sys.stderr)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
