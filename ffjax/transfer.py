"""Transfer: start a run's units from another run's (pre-train on one dataset, then a
linear probe or a fine-tune on another).

config.transfer.init_from names the source run's workdir; its config.json says how to
build the source network, its latest checkpoint holds the parameters. Only the units
(conv/dense weights, batch-norm statistics, skip projections) are copied: every head
(the units' own class heads, the linear or softmax head) is new, sized for the target's
classes. config.transfer.train='heads' then trains the heads alone (a linear probe: the
units are frozen and their batch norm uses its running averages); 'all' fine-tunes.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import ml_collections
import numpy as np
from flax import nnx

from ffjax import checkpoint as ckpt_lib
from ffjax.config_args import ConfigError


def source_config(workdir) -> ml_collections.ConfigDict:
  p = Path(workdir) / 'config.json'
  if not p.exists():
    raise ConfigError(f'config.transfer.init_from={str(workdir)!r}: no config.json there '
                      '(not a run directory)')
  return ml_collections.ConfigDict(json.loads(p.read_text()))


def load_source_params(workdir):
  """(source config, the source network with its latest checkpoint's parameters)."""
  from ffjax import parallel, train
  from ffjax.data import DATASETS
  src = source_config(workdir)
  k, h, w, c, _, _ = DATASETS[src.data.name]
  ckpt = ckpt_lib.Checkpointer(Path(workdir) / 'checkpoints')
  step = ckpt.latest_step()
  if step is None:
    ckpt.close()
    raise ConfigError(f'config.transfer.init_from={str(workdir)!r}: no checkpoint there yet')
  # The source run's own state layout (optimizer included) is what the checkpoint holds.
  with src.unlocked():
    if 'transfer' in src:
      src.transfer.init_from = ''  # its own source is not needed: its checkpoint has it all
  _, graphdef, _, _, state = train.fresh_state(src, (h, w, c), k, 1)
  mesh = parallel.make_mesh()
  state = ckpt.restore(step, parallel.put_replicated(mesh, state))
  ckpt.close()
  return src, nnx.merge(graphdef, state['params'])


def _layout(module):
  return [(jax.tree_util.keystr(p), np.shape(v))
          for p, v in jax.tree_util.tree_leaves_with_path(nnx.state(module))]


def load_units(workdir, net) -> None:
  """Copies the source run's units into net.units (in place); same architecture or a
  clear error naming the first difference."""
  src, src_net = load_source_params(workdir)
  a, b = _layout(src_net.units), _layout(net.units)
  if a != b:
    diff = next(((x, y) for x, y in zip(a, b) if x != y), (a[len(b):][:1], b[len(a):][:1]))
    raise ConfigError(
        f'config.transfer.init_from={str(workdir)!r}: its units differ from this config\'s '
        f'(source {diff[0]} vs here {diff[1]}); transfer needs the same model and input shape')
  nnx.update(net.units, jax.device_get(nnx.state(src_net.units)))
