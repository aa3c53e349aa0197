"""Orbax checkpoints of the whole training state, for resuming.

The state is a plain pytree (step, parameters, optimizer state, objective state,
elapsed time). The data order and the step's random key are functions of
(seed, step), so nothing else is needed to continue exactly where a run stopped.
"""
from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp


class Checkpointer:

  def __init__(self, directory, max_to_keep: int = 2, read_only: bool = False):
    """read_only: for reading a run back (evaluation, figures), also from a read-only disk."""
    self._mngr = ocp.CheckpointManager(
        Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only,
                                             read_only=read_only))

  def latest_step(self):
    return self._mngr.latest_step()

  def save(self, step: int, state):
    if self._mngr.latest_step() == step:
      return
    self._mngr.save(step, args=ocp.args.StandardSave(state))
    self._mngr.wait_until_finished()

  def restore(self, step: int, like):
    """Restores into the structure, shapes and shardings of `like`."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))

  def restore_part(self, step: int, like):
    """Restores only the subtree `like` names (e.g. {'params': {'units': ...}}); the rest
    of the saved state (optimizer, heads of another layout) is not read."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._mngr.restore(step, args=ocp.args.PyTreeRestore(
        item=abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
        partial_restore=True))

  def close(self):
    self._mngr.close()
