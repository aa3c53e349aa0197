"""Accuracy per epoch of one run, as a Markdown table (for docs/RESULTS.md).

  python -m experiments.curve runs/mnist_cpu
  python -m experiments.curve runs/mnist_cpu --every=2

epoch, training wall time so far (minutes, evaluation included), and each predictor's
accuracy on the per-epoch evaluation split (val, or test when nothing is held out).
"""
from absl import flags

from experiments import cli
from ffjax import metrics

flags.DEFINE_integer('every', 1, 'Every N-th epoch (and the last).')


def rows(workdir, every: int = 1):
  is_eval = lambda k: k.startswith(('val/acc_', 'test/acc_'))
  recs = [r for r in metrics.read(workdir) if any(is_eval(k) for k in r)]
  keys = sorted({k for r in recs for k in r if is_eval(k)})
  out = []
  for r in recs:
    if r['epoch'] % every == 0 or r is recs[-1]:
      out.append([str(r['epoch']), f"{r.get('elapsed_s', 0) / 60:.1f}"] +
                 [f'{100 * r[k]:.2f}' if k in r else '' for k in keys])
  return ['epoch', 'minutes'] + keys, out


def main(argv):
  if len(argv) != 2:
    cli.die('give one run directory: python -m experiments.curve WORKDIR (see --help)')
  if flags.FLAGS.every < 1:
    cli.die(f'--every={flags.FLAGS.every}: must be >= 1')
  head, body = rows(cli.run_dir(argv[1]), flags.FLAGS.every)
  if not body:
    cli.die(f'{argv[1]}: no evaluated epoch yet')
  print('| ' + ' | '.join(head) + ' |')
  print('|' + '---|' * len(head))
  for b in body:
    print('| ' + ' | '.join(b) + ' |')


if __name__ == '__main__':
  cli.run(main)
