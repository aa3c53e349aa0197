"""The paper-style table of a sweep or a population: one row per setting, mean +- std
over seeds.

  python -m experiments.summarize runs/mnist_width_K

Reads every eval.json under the directory; runs of one setting are the seed*
directories under the same parent. std is the sample standard deviation (n - 1).
Writes summary.csv and summary.md into the directory and prints the Markdown.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from experiments import cli


def mean_std(xs):
  xs = [x for x in xs if x is not None]
  if not xs:
    return None, None
  m = sum(xs) / len(xs)
  s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.
  return m, s


def collect(sweep_dir) -> dict[str, list[dict]]:
  groups: dict[str, list[dict]] = {}
  root = Path(sweep_dir)
  for p in sorted(root.rglob('eval.json')):
    run = p.parent
    setting = run.parent.relative_to(root).as_posix() if run.name.startswith('seed') else \
        run.relative_to(root).as_posix()
    groups.setdefault(setting or '.', []).append(json.loads(p.read_text()))
  return groups


def table(groups: dict[str, list[dict]]):
  """Rows of (column -> value); accuracy columns hold (mean, std) in percent."""
  modes = sorted({k for recs in groups.values() for r in recs for s in ('val', 'test')
                  for k in r.get(s, {}) if k.startswith('acc_')})
  rows = []
  for setting, recs in groups.items():
    row = {'setting': setting, 'seeds': len(recs)}
    for split in ('val', 'test'):
      for mode in modes:
        m, s = mean_std([100 * r[split][mode] if mode in r.get(split, {}) else None for r in recs])
        if m is not None:
          row[f'{split} {mode[4:]}'] = (m, s)
    row['epochs'] = recs[0].get('epochs')
    row['wall min'] = mean_std([r.get('elapsed_s', 0) / 60 for r in recs])[0]
    rows.append(row)
  return rows


def _fmt(v):
  if isinstance(v, tuple):
    return f'{v[0]:.2f} ± {v[1]:.2f}'
  if isinstance(v, float):
    return f'{v:.1f}'
  return str(v)


def to_markdown(rows) -> str:
  cols = list(dict.fromkeys(k for r in rows for k in r))
  lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
  lines += ['| ' + ' | '.join(_fmt(r.get(c, '')) for c in cols) + ' |' for r in rows]
  return '\n'.join(lines)


def write_csv(rows, path):
  cols = list(dict.fromkeys(k for r in rows for k in r))
  flat = []
  for r in rows:
    f = {}
    for c in cols:
      v = r.get(c)
      if isinstance(v, tuple):
        f[c + ' mean'], f[c + ' std'] = v
      else:
        f[c] = v
    flat.append(f)
  fields = list(dict.fromkeys(k for f in flat for k in f))
  with open(path, 'w', newline='') as fh:
    w = csv.DictWriter(fh, fields)
    w.writeheader()
    w.writerows(flat)


def main(argv):
  if len(argv) != 2:
    cli.die('give one directory: python -m experiments.summarize SWEEP_DIR (see --help)')
  root = Path(argv[1])
  if not root.is_dir():
    cli.die(f'{root}: no such directory')
  groups = collect(root)
  if not groups:
    cli.die(f'{root}: no finished runs (eval.json) under it yet')
  rows = table(groups)
  md = to_markdown(rows)
  try:
    Path(root, 'summary.md').write_text(md + '\n')
    write_csv(rows, Path(root, 'summary.csv'))
  except OSError as e:
    print(f'note: could not write the summary files into {root} ({e.strerror})', flush=True)
  print(md)


if __name__ == '__main__':
  cli.run(main)
