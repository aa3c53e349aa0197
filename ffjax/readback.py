"""A run read back from its workdir, at its latest checkpoint: its config, data, network
and method (for plots, CAMs, evaluation and notebooks), and its evaluation again.

  r = readback.restore_run('runs/quick')     # r.net, r.method, r.dataset, r.state, r.parts
  readback.evaluate_checkpoint('runs/quick')  # every predictor on val and test
  readback.probe_run('runs/scff')             # a linear probe on the frozen units (probe.py)

Reading a run back builds it (ffjax/assembly.py); the run directory's own module
(ffjax/rundir.py) builds nothing and stands below everything that does.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Callable
from pathlib import Path

import jax
import ml_collections
from flax import nnx

from ffjax import assembly, config_args, config_base
from ffjax import checkpoint as ckpt_lib
from ffjax import data as data_lib
from ffjax import method as method_lib
from ffjax import network as net_lib
from ffjax import parallel
from ffjax import probe as probe_lib
from ffjax.errors import ConfigError, need
from ffjax.rundir import read_config


@dataclasses.dataclass
class Restored:
  """A run read back from its workdir: for plots, CAMs, evaluation and notebooks."""
  config: ml_collections.ConfigDict
  dataset: data_lib.Dataset
  net: net_lib.Network      # the network with the checkpoint's parameters (eval mode)
  method: method_lib.Method
  state: dict               # the restored training state (replicated over `mesh`)
  parts: assembly.Assembly
  mesh: jax.sharding.Mesh

  @property
  def encoder(self):
    return self.method.encoder


# What may differ from the run's own config when it is read back: settings of inference
# alone, never of what was trained.
READ_BACK_SETTINGS = ('predict.goodness_scale',)


def restore_run(workdir, settings: dict | None = None) -> Restored:
  """The run in workdir at its latest checkpoint. A population member's directory
  (member.json) reads its slice of the population's checkpoint. settings: values of
  READ_BACK_SETTINGS for this reading (e.g. {'predict.goodness_scale': 'theta'})."""
  workdir = Path(workdir)
  config = read_config(workdir)
  member = None
  if (workdir / 'member.json').exists():
    info = json.loads((workdir / 'member.json').read_text())
    member, workdir = info['index'], (workdir / info['population']).resolve()
    config = read_config(workdir)
  for key, value in (settings or {}).items():
    if key not in READ_BACK_SETTINGS:
      raise ConfigError(f'{key}: not a setting of inference alone (those: '
                                    f'{", ".join(READ_BACK_SETTINGS)})')
    section, name = key.split('.')
    config[section][name] = value
  if settings:
    config_args.validate(config, jax.device_count())
  mesh = parallel.make_mesh()
  dataset = data_lib.load(config.data)
  parts = assembly.build(config, dataset.image_shape, dataset.num_classes, len(dataset.train))
  like = assembly.init_state(parts, mesh, load_transfer=False)
  ckpt = ckpt_lib.Checkpointer(workdir / 'checkpoints', read_only=True)
  step = ckpt.latest_step()
  if step is None:
    ckpt.close()
    raise FileNotFoundError(f'{workdir}/checkpoints: no checkpoint yet')
  state = ckpt.restore(step, like)
  ckpt.close()
  if member is not None:
    state = assembly.member_state(state, member)
  net = nnx.merge(parts.graphdef, jax.device_get(state['params']), jax.device_get(state['rest']))
  net.eval()  # inference: batch norm uses its running averages
  return Restored(config, dataset, net, parts.method, state, parts, mesh)


def evaluate_checkpoint(workdir, settings: dict | None = None) -> dict:
  """Every predictor's accuracy on val and test for a run's latest checkpoint."""
  from ffjax import evaluate as eval_lib
  r = restore_run(workdir, settings)
  ev = eval_lib.Evaluator(r.method, r.parts.graphdef, r.parts.preprocess, r.mesh, r.dataset,
                          r.config.train.eval_batch_size, r.config.data.eval_limit)
  names = [n for n in ('val', 'test') if getattr(r.dataset, n) is not None]
  res = ev.round(r.state['params'], r.state['rest'], names)
  rec: dict = {'step': int(r.state['step']), 'elapsed_s': float(r.state['elapsed_s'])}
  if settings:
    rec['settings'] = dict(settings)
  rec.update({n: res[n][0] for n in names})
  return rec


def probe_run(workdir, overrides: dict | None = None, log: Callable | None = None) -> dict:
  """A linear probe on the run's frozen units (ffjax/probe.py), with the run's config.probe
  (overrides: {'epochs': 10, ...} on top). Writes probe.json in the run's directory."""
  r = restore_run(workdir)
  if 'probe' not in r.config:  # a run from before the probe phase existed: its defaults
    r.config.probe = config_base.get_base().probe
  p = r.config.probe
  for key, value in (overrides or {}).items():
    if key not in p:
      raise ConfigError(f'probe.{key}: no such setting (those: {", ".join(sorted(p))})')
    p[key] = type(p[key])(value) if not isinstance(p[key], tuple) else tuple(value)
  probe_lib.check(p)
  need(p.epochs > 0, 'probe.epochs', p.epochs, 'nothing to train: give it epochs')
  rec = probe_lib.train_probe(p, graphdef=r.parts.graphdef, method=r.method,
                              preprocess=r.parts.preprocess, params=jax.device_get(r.state['params']),
                              rest=jax.device_get(r.state['rest']), dataset=r.dataset,
                              seed=r.config.seed, log=log)
  rec['step'] = int(r.state['step'])
  rec['settings'] = _jsonable(p.to_dict())
  (Path(workdir) / 'probe.json').write_text(json.dumps(rec, indent=1))
  ev = Path(workdir) / 'eval.json'
  if ev.exists():  # the run's record carries its probe's numbers (a reproduction row reads them)
    final = json.loads(ev.read_text())
    final['probe'] = {k: rec[k] for k in ('val', 'test', 'epochs', 'features')}
    ev.write_text(json.dumps(final, indent=1))
  return rec


def _jsonable(d: dict) -> dict:
  return json.loads(json.dumps(d))


def probe_done(workdir, config, step: int) -> dict | None:
  """The probe the run already has (probe.json) with these settings at this step, or None:
  the same command run again on a finished run trains nothing again."""
  p = Path(workdir) / 'probe.json'
  if 'probe' not in config or not p.exists():
    return None
  rec = json.loads(p.read_text())
  same = rec.get('step') == step and rec.get('settings') == _jsonable(config.probe.to_dict())
  return rec if same else None
