"""The papers' numbers, one command each: run a row of docs/REPRODUCTION.md, or write the table.

  python -m experiments.reproduce --list                      # the rows, their commands
  python -m experiments.reproduce --row=ffcnn_best --budget_s=510   # one row, one GPU call
  python -m experiments.reproduce --row=ffcnn_best --smoke          # its tiny form, a minute
  python -m experiments.reproduce --row=asge_mnist_official --seeds=3  # 3 seeds at once (vmapped)
  python -m experiments.reproduce --table                     # docs/REPRODUCTION.md from the results
  python -m experiments.reproduce --add OUT/ROW.json           # a result a GPU call brought back

A row is a config (with its arguments: the paper's settings) and the paper's number. Run,
it trains in RUNS_DIR/<row> (default runs/repro) for at most --budget_s seconds: at the
limit the run gets SIGTERM, saves a checkpoint and the same command continues it (on a
GPU machine kept warm between calls, RUNS_DIR must be on its disk). When the run has
finished, its result (the row's metric on val and test, every predictor, epochs, seeds,
minutes, device, date, commit) goes to docs/reproduction.json, which --table reads. With
--seeds=N the row trains N seeds as one population (one compiled step for all of them) and
the result is their mean, standard deviation and every seed's value (every predictor's
number: the seeds' mean).

Data: FFJAX_DATA_DIR, or --data_parts=DIR: the parts ../shared/tools/device_data.sh made
(DIR/part1, part2, ...), merged into DIR/all first (CIFAR-10 travels in parts).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from absl import flags

from experiments import cli

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / 'docs' / 'reproduction.json'
DOC = REPO / 'docs' / 'REPRODUCTION.md'
TABLE_START, TABLE_END = '<!-- table (python -m experiments.reproduce --table) -->', '<!-- /table -->'

flags.DEFINE_string('row', None, 'The row to run (see --list).')
flags.DEFINE_bool('list', False, 'List the rows and their commands.')
flags.DEFINE_bool('table', False, 'Write docs/REPRODUCTION.md from docs/reproduction.json.')
flags.DEFINE_bool('smoke', False, "Run the row's tiny form (checks the driver, anywhere).")
flags.DEFINE_integer('budget_s', 510, 'Seconds of training in this call (SIGTERM, checkpoint).')
flags.DEFINE_string('runs_dir', '', 'Where the rows train (default runs/repro, or $REPRO_DIR).')
flags.DEFINE_string('data_parts', '', 'A folder of device_data.sh parts to merge and use.')
flags.DEFINE_multi_string('add', [], "Results a GPU call brought back (OUT/ROW.json): add them "
                          'to docs/reproduction.json.')
flags.DEFINE_integer('seeds', 1, 'Seeds trained at once as a population (the result: their mean).')


@dataclasses.dataclass(frozen=True)
class Row:
  id: str
  paper: str          # which paper, which table
  what: str           # the setting, in the paper's words
  paper_result: str   # the paper's number(s)
  spec: str           # config file and arguments
  metric: str         # the number compared: 'test/acc_goodness', 'test_at_best_val/acc_linear', ...
  flags: tuple = ()   # single values (the driver's evaluation schedule, never the paper's settings)
  note: str = ''


FF = 'FF-CNN (papers/001)'
EVAL10 = ('--config.train.eval_every_epochs=10',)
ROWS = [
    Row('ffcnn_best', FF + ', text', '3 x 128 filters 7x7, batch 50, set 1, K 0.35, 200 epochs',
        '99.16 goodness / 99.00 linear (test); 99.20 / 99.14 (val)', 'configs/mnist.py',
        'test/acc_goodness', EVAL10),
    Row('ffcnn_best_bf16', FF + ', text', 'the same in bf16 (checks bf16 against float32)',
        '99.16 / 99.00 (test)', 'configs/mnist.py:bf16', 'test/acc_goodness', EVAL10),
    Row('ffcnn_lr5e-4_50ep', FF + ', issue', 'the best net at lr 5e-4 for 50 epochs (the first GPU run)',
        '99.16 / 99.00 (test, 200 epochs)', 'configs/mnist.py:bf16,lr=5e-4,epochs=50',
        'test/acc_goodness', EVAL10),
    # The goodness-gap study (docs/REPRODUCTION.md): the first GPU run with one reading
    # changed each; compared with ffcnn_lr5e-4_50ep, and the paper's goodness >= linear.
    Row('ffcnn_gap_mode', FF + ', gap study', 'the first GPU run, 45/135-degree waves as single Fourier modes',
        '99.16 / 99.00 (goodness >= linear)', 'configs/mnist.py:bf16,lr=5e-4,epochs=50,diagonal=mode',
        'test/acc_goodness', EVAL10),
    Row('ffcnn_gap_wave01', FF + ', gap study', 'the first GPU run, gray-value waves in [0, 1]',
        '99.16 / 99.00 (goodness >= linear)', 'configs/mnist.py:bf16,lr=5e-4,epochs=50,wave=01',
        'test/acc_goodness', EVAL10),
    Row('ffcnn_gap_norm_first', FF + ', gap study', 'the first GPU run, conv -> layer norm -> ReLU',
        '99.16 / 99.00 (goodness >= linear)',
        'configs/mnist.py:bf16,lr=5e-4,epochs=50,order=conv_norm_act', 'test/acc_goodness', EVAL10),
    Row('ffcnn_5x5', FF + ', Table 1', '128 filters 5x5, batch 50', '99.04 goodness / 98.93 linear (val)',
        'configs/mnist.py:kernel=5', 'val/acc_goodness', EVAL10),
    Row('ffcnn_3x3_b25', FF + ', Table 1', '128 filters 3x3, batch 25', '98.74 / 98.63 (val)',
        'configs/mnist.py:kernel=3,batch=25', 'val/acc_goodness', EVAL10),
    Row('ffcnn_set2_32_3x3', FF + ', App. A', '32 filters 3x3, batch 50, label set 2',
        '98.36 (set 1: 98.34)', 'configs/mnist.py:width=32,kernel=3,label_set=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_set2_32_7x7_b25', FF + ', App. A', '32 filters 7x7, batch 25, label set 2',
        '98.53 (set 1: 98.72)', 'configs/mnist.py:width=32,batch=25,label_set=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_set2_64_3x3', FF + ', App. A', '64 filters 3x3, batch 50, label set 2',
        '98.22 (set 1: 98.30)', 'configs/mnist.py:width=64,kernel=3,label_set=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_set2_128_3x3', FF + ', App. A', '128 filters 3x3, batch 50, label set 2',
        '98.38 (set 1: 98.43)', 'configs/mnist.py:kernel=3,label_set=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_first_unit', FF + ', App. B', 'the best net with unit 1 trained too',
        'about 2 points below 99.16', 'configs/mnist.py:train_first', 'test/acc_goodness', EVAL10),
    Row('ffcnn_pool_128_7x7', FF + ', App. C', '128 filters 7x7, max pool after every unit',
        '98.97 (no pooling: 99.14)', 'configs/mnist.py:pool=2', 'val/acc_goodness', EVAL10,
        note='where the paper pools is not in its text: a 2x2 max pool after each unit'),
    Row('ffcnn_pool_16_5x5', FF + ', App. C', '16 filters 5x5, max pool', '97.57 (no pooling: 98.16)',
        'configs/mnist.py:width=16,kernel=5,pool=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_pool_64_3x3', FF + ', App. C', '64 filters 3x3, max pool', '98.18 (no pooling: 98.30)',
        'configs/mnist.py:width=64,kernel=3,pool=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_pool_32_64_128', FF + ', App. C', '32, 64, 128 filters 7x7, max pool',
        '98.54 (no pooling: 98.90)', 'configs/mnist.py:widths=32-64-128,pool=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_pool_16_32_64', FF + ', App. C', '16, 32, 64 filters 7x7, max pool',
        '98.22 (no pooling: 98.47)', 'configs/mnist.py:widths=16-32-64,pool=2', 'val/acc_goodness', EVAL10),
    Row('ffcnn_bp', FF + ', text', 'backprop, 3 x 16 filters 5x5, batch 50, 200 epochs',
        '99.13 (val)', 'configs/mnist.py:method=bp,width=16,kernel=5', 'val/acc_linear', EVAL10),
    Row('asge_mnist_official', 'ASGE (papers/003), code', "the authors' recipe (VGG8, 100 epochs)",
        '99.65 (test)', 'configs/asge_mnist.py:recipe=official', 'test_at_best_val/acc_linear'),
    Row('asge_fmnist_official', 'ASGE (papers/003), code', "the authors' recipe (VGG8, 100 epochs)",
        '93.41 (test)', 'configs/asge_fashion_mnist.py:recipe=official', 'test_at_best_val/acc_linear'),
    Row('asge_cifar10_official', 'ASGE (papers/003), code', "the authors' recipe (VGG11, 100 epochs)",
        '90.62 (test)', 'configs/asge_cifar10.py:recipe=official', 'test_at_best_val/acc_linear',
        note='test: the first 1,000 official test images here'),
    Row('asge_cifar100', 'ASGE (papers/003)', "the authors' recipe", '65.42 (test)',
        'configs/asge_cifar100.py:recipe=official', 'test_at_best_val/acc_linear',
        note='no CIFAR-100 files on these machines: cannot be run here'),
    Row('asge_mnist_ours', 'ASGE (papers/003), text', 'our reading of the paper (6 units, 50 epochs)',
        '99.65 (test)', 'configs/asge_mnist.py', 'test/acc_fusion', EVAL10),
    Row('asge_cifar10_ours', 'ASGE (papers/003), text', 'our reading (6 units, 100 epochs)',
        '90.62 (test)', 'configs/asge_cifar10.py', 'test/acc_fusion', EVAL10),
    Row('resnet18_hybrid', 'scalable FF (papers/002)', 'ResNet-18, hybrid (backprop inside blocks)',
        '"tends to outperform backprop" (no table in our text)', 'configs/resnet18_cifar10.py:method=hybrid',
        'test/acc_fusion', EVAL10),
    Row('resnet18_ff', 'scalable FF (papers/002)', 'ResNet-18, layer-wise', '"comparable to backprop"',
        'configs/resnet18_cifar10.py:method=ff', 'test/acc_fusion', EVAL10),
    Row('resnet18_bp', 'scalable FF (papers/002)', 'ResNet-18, backprop (the baseline)', '(the baseline)',
        'configs/resnet18_cifar10.py:method=bp', 'test/acc_linear', EVAL10),
    Row('cwcomp_mnist', 'CwComp (AAAI 2024)', 'its published recipe, 20 epochs', '99.42 (test)',
        'configs/cwcomp.py:dataset=mnist', 'test/acc_last'),
    Row('cwcomp_fmnist', 'CwComp (AAAI 2024)', 'its published recipe, 50 epochs', '92.31 (test)',
        'configs/cwcomp.py:dataset=fashion_mnist', 'test/acc_last'),
    Row('cwcomp_cifar10', 'CwComp (AAAI 2024)', 'its published recipe, 50 epochs', '78.11 (test)',
        'configs/cwcomp.py:dataset=cifar10', 'test/acc_last'),
    Row('scff_cifar10', 'SCFF (Nat. Commun. 2025), code', "the authors' layer and parallel "
        "recipe (96-384-1536, 13 epochs), then their readout (the probe phase, 50 epochs)",
        '80.75 (test; their log: 80.77 at its best test epoch)', 'configs/scff.py', 'probe/test',
        EVAL10, note="ours: the probe's last epoch (theirs: also the last); test: the first "
                     '1,000 official test images here'),
    Row('scff_cifar10_staged', 'SCFF (Nat. Commun. 2025), code', "the authors' layer and staged "
        'recipe (a6fc0f8: 6 + 4 + 21 epochs), then their readout', '80.75 (test)',
        'configs/scff.py:recipe=staged', 'probe/test', EVAL10),
    Row('scff_mnist', 'SCFF (Nat. Commun. 2025), code', "the authors' MLP (784-2000-2000), "
        'linear readout', '98.7 (test)', 'configs/scff.py:dataset=mnist', 'test/acc_linear', EVAL10,
        note="ours: their schedule (staged, 20 + 9 epochs); pairs made once at the input, ReLU, "
             "one view, the monitor head (docs/REPRODUCTION.md)"),
    # ImageNet and its subsets, streamed from disk (configs/asge_imagenet.py; the net is
    # ours: the paper gives none in the text we have). No such data on these machines.
    Row('asge_imagenet', 'ASGE (papers/003)', 'ImageNet, 224 x 224, our VGG11-like net, bf16, '
        '90 epochs', '26.21 / 47.49 top-1 / top-5 (a later version: 51.58 / 75.23)',
        'configs/asge_imagenet.py:bf16', 'test/acc_fusion',
        note='no ImageNet on these machines: cannot be run here; test = the official val'),
    Row('asge_imagenet_128', 'ASGE (papers/003)', 'the same at 128 x 128 (ours: a GPU budget)',
        '26.21 / 47.49 (at 224)', 'configs/asge_imagenet.py:bf16,size=128', 'test/acc_fusion',
        note='no ImageNet on these machines: cannot be run here'),
    Row('asge_imagenet_128_bp', 'ASGE (papers/003)', 'the same net by backprop, 128 x 128',
        '(the baseline)', 'configs/asge_imagenet.py:bf16,size=128,method=bp', 'test/acc_linear',
        note='no ImageNet on these machines: cannot be run here'),
    Row('asge_imagenet100', 'DTG-FF, ImageNet-100', 'ASGE on ImageNet-100, 224 x 224, bf16',
        '49.4 (DTG-FF)', 'configs/asge_imagenet.py:dataset=imagenet100,bf16', 'test/acc_fusion',
        note='no ImageNet-100 on these machines: cannot be run here'),
    Row('asge_imagenette', 'Distance-Forward, Imagenette', 'ASGE on Imagenette, 128 x 128',
        '82.5 (Distance-Forward)', 'configs/asge_imagenet.py:dataset=imagenette,size=128',
        'test/acc_fusion', note='no Imagenette on these machines: cannot be run here'),
    # SymBa has no published FF-CNN number: its rows set the symmetric loss beside the
    # threshold loss on the same net (ffcnn_lr5e-4_50ep, and the CIFAR-10 FF-CNN).
    Row('symba_mnist_50ep', 'SymBa (Lee and Song 2023) on the FF-CNN', 'the first GPU run with the '
        'symmetric loss (bf16, lr 5e-4, 50 epochs)', 'none for this net (threshold FF: 99.16 / 99.00)',
        'configs/symba.py:bf16,lr=5e-4,epochs=50', 'test/acc_goodness', EVAL10),
    Row('symba_cifar10', 'SymBa (Lee and Song 2023) on the FF-CNN', "the CIFAR-10 FF-CNN (6 units, "
        "Fourier labels, 100 epochs)", 'none for this net', 'configs/symba.py:dataset=cifar10,labels=fourier',
        'test/acc_goodness', EVAL10, note='test: the first 1,000 official test images here'),
]
BY_ID = {r.id: r for r in ROWS}


def command(row: Row, workdir: str, smoke: bool = False, seeds: int = 1) -> list[str]:
  spec = row.spec
  for arg in (['tiny'] if smoke else []) + ([f'seeds={seeds}'] if seeds > 1 else []):
    spec += (',' if ':' in spec else ':') + arg
  flags_ = [f for f in row.flags if not smoke]
  return [sys.executable, '-m', 'experiments.main', f'--config={spec}', f'--workdir={workdir}',
          '--config.plots=False', *flags_]


def merge_parts(parts_dir: Path) -> Path:
  """device_data.sh's parts (part1, part2, ...) merged into parts_dir/all."""
  out = parts_dir / 'all'
  for part in sorted(parts_dir.glob('part*')):
    for f in part.rglob('*'):
      if f.is_file():
        dst = out / f.relative_to(part)
        if not dst.exists():
          dst.parent.mkdir(parents=True, exist_ok=True)
          shutil.copy2(f, dst)
  return out


def _value(record: dict, metric: str):
  for part in metric.split('/'):
    record = record.get(part, {}) if isinstance(record, dict) else {}
  return record if isinstance(record, float) else None


def _mean_over_seeds(splits: list[dict]) -> dict:
  """The accuracies every seed has, averaged; a best-validation epoch is listed per seed."""
  keys = [k for k in splits[0] if k.startswith(('acc_', 'val_acc'))
          and all(isinstance(s.get(k), float) for s in splits)]
  out = {k: float(np.mean([s[k] for s in splits])) for k in keys}
  if 'epoch' in splits[0]:
    out['epoch'] = [s.get('epoch') for s in splits]
    out['predictor'] = splits[0].get('predictor')
  return out


def run_row(row: Row, runs_dir: Path, budget_s: int, smoke: bool, seeds: int = 1) -> dict | None:
  """Trains the row for at most budget_s seconds; its result once the run has finished."""
  wd = runs_dir / (row.id + ('_smoke' if smoke else '') + (f'_seeds{seeds}' if seeds > 1 else ''))
  cmd = command(row, str(wd), smoke, seeds)
  print('+', ' '.join(cmd[1:]), flush=True)
  t0 = time.time()
  p = subprocess.Popen(cmd, cwd=REPO)
  try:
    p.wait(timeout=budget_s)
  except subprocess.TimeoutExpired:
    p.send_signal(signal.SIGTERM)  # the run saves a checkpoint and stops
    p.wait()
  if p.returncode not in (0, 128 + signal.SIGTERM):
    cli.die(f'row {row.id}: the run failed (exit {p.returncode}); see the lines above')
  # One run: wd/eval.json; a population: one per member (wd/default/seed0/eval.json, ...).
  evals = ([wd / 'eval.json'] if seeds == 1 else
           sorted(p for p in wd.rglob('eval.json') if p.parent != wd))
  if len(evals) < seeds or not all(e.exists() for e in evals):
    print(f'row {row.id}: stopped after {time.time() - t0:.0f} s; the same command continues it',
          flush=True)
    return None
  recs = [json.loads(e.read_text()) for e in evals]
  values = [_value(r, row.metric) for r in recs]
  rec = recs[0]
  ok = [v for v in values if v is not None]
  result = {'row': row.id, 'command': ' '.join(['python'] + cmd[1:]), 'metric': row.metric,
            'value': float(np.mean(ok)) if ok else None, 'smoke': smoke, 'seeds': len(recs),
            'values': values, 'std': float(np.std(ok)) if len(ok) > 1 else None,
            'epochs': rec.get('epochs'), 'minutes': round(rec.get('elapsed_s', 0.) / 60, 1),
            # every predictor's number: the seeds' mean (each seed's is in its eval.json)
            'val': _mean_over_seeds([r.get('val', {}) for r in recs]),
            'test': _mean_over_seeds([r.get('test', {}) for r in recs]),
            'test_at_best_val': (_mean_over_seeds([r['test_at_best_val'] for r in recs])
                                 if all('test_at_best_val' in r for r in recs) else None),
            'test_note': rec.get('test_note'), 'provenance': rec.get('provenance')}
  (wd / 'result.json').write_text(json.dumps(result, indent=1))
  if not smoke:
    done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    done[row.id] = result
    RESULTS.write_text(json.dumps(done, indent=1, sort_keys=True))
  out = os.environ.get('OUT')
  if out:  # a device call's files come back from $OUT
    shutil.copy2(wd / 'result.json', Path(out) / f'{row.id}.json')
  print(json.dumps(result), flush=True)
  return result


def _ours(r: Row, done: dict) -> str:
  """Our number for row r (from docs/reproduction.json), or 'not run yet'."""
  got = done.get(r.id)
  if not (got and got.get('value') is not None):
    return 'not run yet' + (f' ({r.note})' if 'cannot' in r.note else '')
  prov = got.get('provenance') or {}
  spread = (f" +- {100 * got['std']:.2f} over {got['seeds']} seeds" if got.get('std') is not None
            else ', 1 seed')
  return (f"{100 * got['value']:.2f}{spread} ({r.metric}; {got['epochs']} epochs, {got['minutes']} min, "
          f"{prov.get('devices', '?')}, {(prov.get('time') or '?')[:10]})")


def list_rows() -> str:
  """The rows as a reader pastes them: id, the paper's number, ours, then the training
  command the row runs (python -m experiments.reproduce --row=ID runs and continues it)."""
  done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
  w = max(len(r.id) for r in ROWS)
  out = ['The rows of docs/REPRODUCTION.md. Run one with: python -m experiments.reproduce --row=ROW',
         '(the same command continues it; --seeds=N trains N seeds at once). Under each row, the',
         'training command it runs.', '',
         f'{"ROW":{w}}  {"PAPER":44}  OURS']
  for r in ROWS:
    out.append(f'{r.id:{w}}  {r.paper_result:44}  {_ours(r, done)}')
    out.append('    python ' + ' '.join(command(r, 'runs/repro/' + r.id)[1:]))
  return '\n'.join(out)


def write_table(h200_minutes: dict | None = None) -> str:
  """The table's rows: the paper's number, the command, the time on one H200 (estimated
  from measured step speeds: docs/REPRODUCTION.md says how) and ours, or 'not run yet'."""
  done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
  est = h200_minutes or json.loads((REPO / 'docs' / 'h200_minutes.json').read_text())
  lines = ['| row | paper, setting | paper | config (`python -m experiments.reproduce --row=ROW` runs it) | '
           'epochs, batch | H200 min (est.) | ours |', '|---|---|---|---|---|---|---|']
  for r in ROWS:
    path, _, arg = r.spec.partition(':')
    c = cli.load_config_module(str(REPO / path)).get_config(arg or None)
    ours = _ours(r, done)
    lines.append(f'| `{r.id}` | {r.paper}: {r.what} | {r.paper_result} | `--config={r.spec}` | '
                 f'{c.train.num_epochs}, {c.train.batch_size} | {est.get(r.id, "?")} | {ours} |')
  return '\n'.join(lines)


def add_results(paths) -> None:
  """Results a GPU call brought back (OUT/ROW.json), added to docs/reproduction.json."""
  done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
  for path in paths:
    try:
      res = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
      cli.die(f'--add={path}: not a result file ({type(e).__name__})')
    if not isinstance(res, dict) or res.get('row') not in BY_ID or res.get('smoke'):
      cli.die(f'--add={path}: not the result of a full row of the table')
    done[res['row']] = res
    print(f'{res["row"]}: {res["value"]}')
  RESULTS.write_text(json.dumps(done, indent=1, sort_keys=True))


def write_doc() -> int:
  """Rewrites the table between DOC's markers; the number of rows measured."""
  text = DOC.read_text()
  if TABLE_START not in text or TABLE_END not in text:
    cli.die(f'{DOC}: the table markers {TABLE_START} ... {TABLE_END} are missing')
  head, rest = text.split(TABLE_START, 1)
  DOC.write_text(head + TABLE_START + '\n' + write_table() + '\n' + TABLE_END + rest.split(TABLE_END, 1)[1])
  return len(json.loads(RESULTS.read_text())) if RESULTS.exists() else 0


def main(argv):
  if len(argv) > 1:
    cli.die(f'unexpected argument {argv[1]!r} (see --help)')
  f = flags.FLAGS
  if f.list:
    print(list_rows())
    return
  if f.add:
    add_results(f.add)
    return
  if f.table:
    measured = write_doc()
    print(f'{DOC}: table written ({measured} of {len(ROWS)} rows measured)')
    return
  if f.row is None:
    cli.die('--row=ID (see --list), --list or --table')
  if f.row not in BY_ID:
    cli.die(f'--row={f.row}: no such row; one of {", ".join(BY_ID)}')
  if f.seeds < 1:
    cli.die(f'--seeds={f.seeds}: at least 1')
  if f.data_parts:
    os.environ['FFJAX_DATA_DIR'] = str(merge_parts(Path(f.data_parts)))
  runs_dir = Path(f.runs_dir or os.environ.get('REPRO_DIR', 'runs/repro'))
  runs_dir.mkdir(parents=True, exist_ok=True)
  run_row(BY_ID[f.row], runs_dir, f.budget_s, f.smoke, f.seeds)


if __name__ == '__main__':
  cli.run(main)
