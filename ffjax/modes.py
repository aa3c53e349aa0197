"""The training modes (config.method): where the cuts stand and which units carry an
objective. This file and method.py's `build` (which applies a mode) are the only readers
of a mode's name; the checks, the config arguments and pipelining ask a mode's
properties. No JAX here: config files use it.

  ff      a cut before every unit, every unit its own objective (Forward-Forward)
  hybrid  cuts before each block only (model.blocks), an objective at each block's last
          unit whose loss trains the block by backprop (scalable FF)
  bp      no cuts, no unit objectives: the readout trains everything end to end (the
          backprop baseline), on plain images
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Mode:
  name: str
  local: bool     # units learn from objectives of their own (there are cuts)
  by_block: bool  # the cuts and objectives follow model.blocks, not every unit

  @property
  def per_unit(self) -> bool:
    """Every unit learns alone (ff): what the streamed schedule, peer normalization and
    an untrained first unit need."""
    return self.local and not self.by_block

  def cuts(self, blocks: tuple) -> tuple:
    """Per unit: stop_gradient at its input. blocks: each unit's block id."""
    n = len(blocks)
    if not self.local:
      return (False,) * n
    if self.by_block:
      return tuple(l == 0 or blocks[l] != blocks[l - 1] for l in range(n))
    return (True,) * n

  def with_objective(self, blocks: tuple) -> tuple:
    """Per unit: it carries an objective (every unit; block ends; none)."""
    n = len(blocks)
    if not self.local:
      return (False,) * n
    if self.by_block:
      return tuple(l == n - 1 or blocks[l] != blocks[l + 1] for l in range(n))
    return (True,) * n

  def set_defaults(self, c) -> None:
    """What `method=<name>` sets in a config besides config.method
    (config_base.apply_common_args): the baseline trains on plain images at Adam's usual
    rate; hybrid without named blocks pairs consecutive units."""
    c.method = self.name
    if not self.local:
      c.labels.kind = 'none'
      c.optim.lr = 1e-3
    if self.by_block and not c.model.blocks:
      c.model.blocks = tuple(l // 2 for l in range(len(c.model.widths)))


MODES = {m.name: m for m in (Mode('ff', local=True, by_block=False),
                             Mode('hybrid', local=True, by_block=True),
                             Mode('bp', local=False, by_block=False))}


def get(name: str) -> Mode:
  if name not in MODES:
    from ffjax.errors import ConfigError
    raise ConfigError(f'config.method={name!r}: unknown method; one of {tuple(MODES)}')
  return MODES[name]
