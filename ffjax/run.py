"""A run's directory: its config record, final records, and reading a run back.

  WORKDIR/config.json     the resolved config the run started with
  WORKDIR/metrics.jsonl   one JSON record per line (ffjax/metrics.py)
  WORKDIR/checkpoints/    orbax checkpoints of the training state
  WORKDIR/eval.json       the final record
A population writes its members' records under WORKDIR/<setting>/seed<s>/ and keeps one
checkpoint (every member's state) in WORKDIR/checkpoints.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import ml_collections
from absl import logging
from flax import nnx

from ffjax import checkpoint as ckpt_lib
from ffjax import data as data_lib
from ffjax import parallel


def write_config(config, workdir: Path, members=()) -> None:
  p = workdir / 'config.json'
  new = config.to_json_best_effort(indent=1, sort_keys=True)
  if p.exists() and p.read_text() != new:
    old = json.loads(p.read_text())
    diff = _diff(old, json.loads(new))
    logging.warning('workdir %s was started with another config (%s); resuming with the new one',
                    workdir, diff)
    print(f'warning: config differs from the one this workdir started with: {diff}', flush=True)
  p.write_text(new)
  for m in members:  # each member's own config: the single run it is
    from ffjax import population
    d = workdir / m.path
    d.mkdir(parents=True, exist_ok=True)
    (d / 'config.json').write_text(population.member_config(config, m).to_json_best_effort(
        indent=1, sort_keys=True))
    (d / 'member.json').write_text(json.dumps({'population': '../..', 'index': members.index(m)}))


def write_record(path: Path, record: dict) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(record, indent=1))


def _diff(a, b, prefix=''):
  out = []
  for k in sorted(set(a) | set(b)):
    va, vb = a.get(k), b.get(k)
    if isinstance(va, dict) and isinstance(vb, dict):
      out += _diff(va, vb, f'{prefix}{k}.')
    elif va != vb:
      out.append(f'{prefix}{k}: {va} -> {vb}')
  return out


def read_config(workdir) -> ml_collections.ConfigDict:
  p = Path(workdir) / 'config.json'
  if not p.exists():
    raise FileNotFoundError(f'{workdir}/config.json: not a run directory')
  return ml_collections.ConfigDict(json.loads(p.read_text()))


@dataclasses.dataclass
class Restored:
  """A run read back from its workdir: for plots, CAMs, evaluation and notebooks."""
  config: ml_collections.ConfigDict
  dataset: data_lib.Dataset
  net: object               # the network with the checkpoint's parameters (eval mode)
  method: object
  state: dict               # the restored training state (replicated over `mesh`)
  parts: object             # parts.Parts
  mesh: object

  @property
  def encoder(self):
    return self.method.encoder


def restore_run(workdir) -> Restored:
  """The run in workdir at its latest checkpoint. A population member's directory
  (member.json) reads its slice of the population's checkpoint."""
  from ffjax import parts as parts_lib
  workdir = Path(workdir)
  config = read_config(workdir)
  member = None
  if (workdir / 'member.json').exists():
    info = json.loads((workdir / 'member.json').read_text())
    member, workdir = info['index'], (workdir / info['population']).resolve()
    config = read_config(workdir)
  mesh = parallel.make_mesh()
  dataset = data_lib.load(config.data)
  parts = parts_lib.build(config, dataset.image_shape, dataset.num_classes, len(dataset.train))
  like = parts_lib.init_state(parts, mesh, load_transfer=False)
  ckpt = ckpt_lib.Checkpointer(workdir / 'checkpoints')
  step = ckpt.latest_step()
  if step is None:
    ckpt.close()
    raise FileNotFoundError(f'{workdir}/checkpoints: no checkpoint yet')
  state = ckpt.restore(step, like)
  ckpt.close()
  if member is not None:
    state = parts_lib.member_state(state, member)
  net = nnx.merge(parts.graphdef, jax.device_get(state['params']), jax.device_get(state['rest']))
  net.eval()  # inference: batch norm uses its running averages
  return Restored(config, dataset, net, parts.method, state, parts, mesh)


def evaluate_checkpoint(workdir) -> dict:
  """Every predictor's accuracy on val and test for a run's latest checkpoint."""
  from ffjax import evaluate as eval_lib
  r = restore_run(workdir)
  ev = eval_lib.Evaluator(r.method, r.parts.graphdef, r.parts.preprocess, r.mesh, r.dataset,
                          r.config.train.eval_batch_size)
  names = [n for n in ('val', 'test') if getattr(r.dataset, n) is not None]
  res = ev.round(r.state['params'], r.state['rest'], names)
  rec = {'step': int(r.state['step']), 'elapsed_s': float(r.state['elapsed_s'])}
  rec.update({n: res[n][0] for n in names})
  return rec
