"""What says a run went wrong, and what to do: a divergence (a loss or a parameter NaN,
Inf or absurdly large: the run stops, and no checkpoint of it is ever written) and a stall
(every trained unit's loss constant over an epoch and every predictor at chance: said,
and recorded)."""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


class TrainingDiverged(FloatingPointError):
  """A loss or a parameter became NaN, Inf or absurdly large."""


# The largest |parameter| a sane network has; beyond it a run has diverged even if every
# number is still finite (an lr of 1e30 makes weights of 1e30 in one Adam step).
MAX_PARAM = 1e12


@jax.jit
def params_ok(params):
  leaves = jax.tree.leaves(params)
  finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in leaves]))
  big = jnp.max(jnp.stack([jnp.max(jnp.abs(p)) for p in leaves]))
  return finite & (big < MAX_PARAM)


def diverged(what: str, workdir: Path, last_saved) -> TrainingDiverged:
  """The error to raise: what happened, and what to do (only checked states were saved)."""
  if last_saved is None:
    where = (f'No checkpoint was kept (none was taken before the divergence), so the same '
             f'command with a lower optim.lr starts afresh in {workdir}')
  else:
    where = (f'The last good checkpoint (step {last_saved}) stays in {workdir}/checkpoints: '
             f'lower optim.lr and run again with --allow_config_change to go on from it, or '
             f'use a new --workdir')
  return TrainingDiverged(f'{what}; stopping. {where}')


def stalled(window_losses, accuracies: dict, num_classes: int) -> bool:
  """Every trained unit's loss constant over the epoch's windows (windows x units), and
  every predictor at chance."""
  accs = [v for key, v in accuracies.items() if key.startswith('acc_')]
  l = np.asarray(window_losses)
  flat = len(l) >= 2 and bool(np.all(np.ptp(l, 0) <= 1e-4 * np.maximum(np.abs(l.mean(0)), 1e-8)))
  return bool(accs) and max(accs) <= 1.5 / num_classes and flat


def stall_warning(epoch: int, losses) -> str:
  return (f"training has stalled by epoch {epoch}: the units' losses are constant "
          f'({", ".join(f"{v:.6g}" for v in losses)}) and every predictor is at chance; the '
          'learning rate may be far too high (saturated units) or too low')
