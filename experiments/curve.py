"""Accuracy per epoch of one run, as a Markdown table (for docs/RESULTS.md):

  python -m experiments.curve runs/mnist_cpu [--every 2]

epoch, training wall time so far (minutes, evaluation included), and each predictor's
accuracy on the per-epoch evaluation split (val, or test when nothing is held out).
"""
import argparse

from ffjax import metrics


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


def main():
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument('workdir')
  ap.add_argument('--every', type=int, default=1)
  a = ap.parse_args()
  head, body = rows(a.workdir, a.every)
  print('| ' + ' | '.join(head) + ' |')
  print('|' + '---|' * len(head))
  for b in body:
    print('| ' + ' | '.join(b) + ' |')


if __name__ == '__main__':
  main()
