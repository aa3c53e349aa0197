"""Orbax checkpoints of the whole training state, for resuming.

The state is a plain pytree (step, parameters, optimizer state, objective state,
elapsed time). The data order and the step's random key are functions of
(seed, step), so nothing else is needed to continue exactly where a run stopped.
"""
from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:

  def __init__(self, directory, max_to_keep: int = 2, read_only: bool = False):
    """read_only: for reading a run back (evaluation, figures), also from a read-only disk."""
    level = logging.get_verbosity()
    if read_only:  # orbax warns of the options read_only implies: three lines after every run
      logging.set_verbosity(logging.ERROR)
    try:
      self._mngr = ocp.CheckpointManager(
          Path(directory).absolute(),
          options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only,
                                               read_only=read_only))
    finally:
      logging.set_verbosity(level)

  def latest_step(self):
    return self._mngr.latest_step()

  def save(self, step: int, state):
    if self._mngr.latest_step() == step:
      return
    self._mngr.save(step, args=ocp.args.StandardSave(state))
    self._mngr.wait_until_finished()

  def restore(self, step: int, like):
    """Restores into the structure, shapes and shardings of `like`; a checkpoint saved by
    another model or population is refused in one line (checked on its metadata first:
    orbax's own failure leaves its reader threads printing tracebacks)."""
    self.check_fits(step, like)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))

  def check_fits(self, step: int, like) -> None:
    why = self._mismatch(step, like)
    if why:
      from ffjax.errors import ConfigError
      raise ConfigError(f'{self._mngr.directory}/{step} does not fit this run: it was saved '
                        f'by another model or population ({why}). Use another --workdir')

  def _mismatch(self, step: int, like, partial: bool = False) -> str | None:
    """What differs between the saved tree and `like` (None: nothing, or unreadable);
    partial: `like` names a part of the saved tree."""
    reader = ocp.StandardCheckpointHandler()
    try:
      md = reader.metadata(Path(self._mngr.directory) / str(step) / 'default')
    except Exception:  # another layout: orbax's restore decides
      return None
    finally:
      reader.close()
    saved = {_path(p): tuple(x.shape) for p, x in jax.tree_util.tree_leaves_with_path(
        md, is_leaf=lambda x: hasattr(x, 'shape'))}
    want = {_path(p): tuple(jax.numpy.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(like)}
    if partial and not want.keys() <= saved.keys():
      missing = sorted(want.keys() - saved.keys())
      return f'{len(missing)} entries not saved, e.g. {missing[0]}'
    if not partial and saved.keys() != want.keys():
      only = sorted(saved.keys() - want.keys())[:1] + sorted(want.keys() - saved.keys())[:1]
      return f'{len(saved.keys() ^ want.keys())} entries differ, e.g. {" and ".join(only)}'
    bad = [k for k in want if saved[k] != want[k]]
    if bad:
      return f'{bad[0]}: saved {saved[bad[0]]}, this run {want[bad[0]]}'
    return None

  def restore_part(self, step: int, like):
    """Restores only the subtree `like` names (e.g. {'params': {'units': ...}}); the rest
    of the saved state (optimizer, heads of another layout) is not read. A part that does
    not fit: ValueError, before orbax starts reading (its failures print tracebacks)."""
    why = self._mismatch(step, like, partial=True)
    if why:
      raise ValueError(why)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._mngr.restore(step, args=ocp.args.PyTreeRestore(
        item=abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
        partial_restore=True))

  def close(self):
    self._mngr.close()


def _path(keys) -> str:
  """A leaf's path as saved (orbax stores dicts): attribute, key and index alike."""
  names = [getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k))) for k in keys]
  return '/'.join(str(n) for n in names)
