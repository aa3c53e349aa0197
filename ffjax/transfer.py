"""Transfer: start a run's units from another run's (pre-train on one dataset, then a
linear probe or a fine-tune on another).

config.transfer.init_from names the source run's workdir; its latest checkpoint holds
the parameters, read into this config's units (so the model and input shape must be the
same; configs/transfer.py takes them from the source's config.json). Only the units
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
from ffjax.errors import ConfigError


def check(c) -> None:
  """config.transfer: a probe trains the heads alone (nothing for the streamed step)."""
  from ffjax.errors import need
  tr = c.get('transfer', {})
  need(tr.get('train', 'all') in ('all', 'heads'), 'transfer.train', tr.get('train'),
       "must be 'all' (fine-tune) or 'heads' (linear probe)")
  need(not (tr.get('train', 'all') == 'heads' and c.train.schedule == 'streamed'),
       'train.schedule', 'streamed', 'not with transfer.train=heads (nothing to stream: the '
       'units are frozen)')


def source_config(workdir) -> ml_collections.ConfigDict:
  p = Path(workdir) / 'config.json'
  if not p.exists():
    raise ConfigError(f'config.transfer.init_from={str(workdir)!r}: no config.json there '
                      '(not a run directory)')
  return ml_collections.ConfigDict(json.loads(p.read_text()))


def load_source_units(workdir, like_params, like_rest):
  """The source run's unit parameters and their other variables (batch-norm
  statistics), restored from its latest checkpoint into the structure of this net's
  (`like_*`: the units' nnx.Param state and the rest). Only that part of the
  checkpoint is read, so the source's optimizer and heads may differ (another mode)."""
  from ffjax import parallel
  src = source_config(workdir)
  ckpt = ckpt_lib.Checkpointer(Path(workdir) / 'checkpoints')
  step = ckpt.latest_step()
  if step is None:
    ckpt.close()
    raise ConfigError(f'config.transfer.init_from={str(workdir)!r}: no checkpoint there yet')
  tree = {'params': {'units': like_params}}
  if jax.tree.leaves(like_rest):
    tree['rest'] = {'units': like_rest}
  like = parallel.put_replicated(parallel.make_mesh(), tree)
  try:
    got = ckpt.restore_part(step, like)
  except (ValueError, KeyError) as e:
    raise ConfigError(
        f'config.transfer.init_from={str(workdir)!r}: its units differ from this config\'s '
        f'(same model and input shape needed; source model: {src.model.to_dict()}): '
        f'{str(e).splitlines()[0]}') from None
  finally:
    ckpt.close()
  return got['params']['units'], got.get('rest', {}).get('units', like_rest)


def _layout(tree):
  return [(jax.tree_util.keystr(p), np.shape(v)) for p, v in jax.tree_util.tree_leaves_with_path(tree)]


def load_units(workdir, net) -> None:
  """Copies the source run's units into net.units (in place); same architecture or a
  clear error."""
  from ffjax import step as step_lib
  _, like_p, like_r = step_lib.split(net.units)
  got_p, got_r = load_source_units(workdir, like_p, like_r)
  if _layout(like_p) != _layout(got_p):
    raise ConfigError(f'config.transfer.init_from={str(workdir)!r}: its units differ from this '
                      f'config\'s (source {_layout(got_p)[:1]} vs here {_layout(like_p)[:1]})')
  nnx.update(net.units, jax.device_get(got_p), jax.device_get(got_r))
