"""Populations: S independent runs trained at once, in one jitted step vmapped over the
members' parameters, optimizer states, keys and data orders (train.population).

A member is the run its seed and settings make: member s equals the single run with
seed s (tested). The papers' protocol is a mean over seeds, and a small net (the FF-CNN
at batch 50) leaves most of a GPU idle: a population fills it. Settings that can vary
inside a population are those that enter the step as numbers (method.POPULATION_KEYS:
the learning rate, K, the temperature); what changes shapes or code (widths, kernels,
label sets) needs a sweep (launch.sh).

Each member writes its records under WORKDIR/<setting>/seed<s>/ (metrics.jsonl,
eval.json, predictions), the layout of a sweep, so `experiments.summarize WORKDIR` gives
mean and standard deviation over seeds per setting.
"""
from __future__ import annotations

import dataclasses
import itertools

from ffjax.errors import ConfigError

# train.population's fields: the config key each varies.
GRID = {'lr': 'optim.lr', 'K': 'labels.intensity', 'temperature': 'objective.temperature'}


def check(c, encoder, objective) -> None:
  """train.population against the pieces it varies (the encoder's and the objective's
  hparams) and what a population cannot be (streamed data, pipelined, a transfer)."""
  from ffjax.errors import need
  pop = c.train.population
  for f in ('seeds', 'lr', 'K', 'temperature'):
    need(isinstance(pop[f], (tuple, list)), f'train.population.{f}', pop[f], 'must be a tuple')
  if pop.K:
    need('intensity' in encoder.hparams, 'train.population.K', pop.K,
         f'K is the label intensity, which labels.kind={c.labels.kind!r} has not')
  if pop.temperature:
    need('temperature' in objective.hparams, 'train.population.temperature', pop.temperature,
         f'objective.kind={c.objective.kind!r} has no temperature')
  if pop.seeds or pop.lr or pop.K or pop.temperature:
    from ffjax import data
    need(not data.is_streamed(c.data), 'train.population', pop.to_dict(),
         'a population reads one resident copy of the data: not with streamed data')
    need(c.train.schedule != 'pipelined', 'train.population', pop.to_dict(),
         'a population is vmapped on every device: not with schedule=pipelined')
    need(not c.transfer.init_from, 'train.population', pop.to_dict(),
         'not with transfer.init_from (one run)')


@dataclasses.dataclass(frozen=True)
class Member:
  seed: int
  settings: tuple  # ((config key, value), ...)

  @property
  def setting_name(self) -> str:
    """{'optim.lr': 1e-3} -> 'lr0.001': a directory name (as a sweep's)."""
    return '_'.join(f'{k.split(".")[-1]}{v}' for k, v in self.settings) or 'default'

  @property
  def path(self) -> str:
    return f'{self.setting_name}/seed{self.seed}'


def members(config) -> list[Member]:
  """The population's members, or [] for a single run: every seed in
  train.population.seeds (default: config.seed) times every combination of the grid's
  values, seeds innermost."""
  pop = config.train.population
  grid = [(GRID[f], tuple(pop[f])) for f in GRID if pop[f]]
  if not pop.seeds and not grid:
    return []
  seeds = tuple(pop.seeds) or (config.seed,)
  out = []
  for values in itertools.product(*(v for _, v in grid)):
    for s in seeds:
      out.append(Member(int(s), tuple((k, float(v)) for (k, _), v in zip(grid, values))))
  if len({m.path for m in out}) < len(out):
    raise ConfigError(f'config.train.population={pop.to_dict()}: two members are the '
                                  'same run (a seed or a value given twice)')
  return out


def member_config(config, member: Member):
  """The single run's config that a member is."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.seed = member.seed
    for key, v in member.settings:
      sec, name = key.split('.')
      c[sec][name] = v
    for f in GRID:
      c.train.population[f] = ()
    c.train.population.seeds = ()
  return c
