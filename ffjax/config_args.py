"""Config arguments and checks.

`parse('tiny,method=bp,K=0.3')` -> {'tiny': True, 'method': 'bp', 'K': 0.3}: the
string after the ':' in `--config=configs/mnist.py:tiny,method=bp`, handed to a
config file's `get_config(arg)`.

`validate(config, num_devices)` refuses bad values before anything runs, with a
message that names the key.

`show(config, sections)` is the config as a person reads it: one `key: value` a line
under each section (not YAML with its tuple tags).
"""
from __future__ import annotations

from ffjax.errors import ConfigError, need  # noqa: F401 (re-exported: configs raise it)


def _value(s: str):
  low = s.lower()
  if low in ('true', 'false'):
    return low == 'true'
  for cast in (int, float):
    try:
      return cast(s)
    except ValueError:
      pass
  return s


def parse(arg: str | None) -> dict:
  out = {}
  for part in (arg or '').split(','):
    part = part.strip()
    if not part:
      continue
    if '=' in part:
      k, v = part.split('=', 1)
      out[k.strip()] = _value(v.strip())
    else:
      out[part] = True
  return out


def show(config, sections=None) -> str:
  """The config (or the given top-level sections of it) as text: scalars first, then each
  section's `key: value` lines, nested sections dotted."""
  def lines(d, prefix=''):
    out = []
    for k, v in d.items():
      if isinstance(v, dict):
        out += lines(v, f'{prefix}{k}.')
      else:
        out.append(f'{prefix}{k}: {v!r}' if isinstance(v, str) else f'{prefix}{k}: {v}')
    return out
  d = config.to_dict() if hasattr(config, 'to_dict') else dict(config)
  scalars = [k for k, v in d.items() if not isinstance(v, dict)]
  keys = sections if sections is not None else scalars + [k for k in d if k not in scalars]
  out = []
  for k in keys:
    if isinstance(d[k], dict):
      out += [f'{k}:'] + ['  ' + line for line in lines(d[k])]
    else:
      out.append(f'{k}: {d[k]!r}' if isinstance(d[k], str) else f'{k}: {d[k]}')
  return '\n'.join(out)


def load_sibling(config_file: str, name: str):
  """The config module `name` (e.g. 'mnist.py') beside `config_file`: configs that are
  another config with a change call its get_config instead of repeating it."""
  import importlib.util
  import pathlib
  spec = importlib.util.spec_from_file_location(f'_{name[:-3]}', pathlib.Path(config_file).with_name(name))
  assert spec is not None and spec.loader is not None, name
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def check_known(args: dict, known) -> None:
  unknown = sorted(set(args) - set(known))
  if unknown:
    raise ConfigError(f'unknown config argument(s) {unknown}; known: {sorted(known)}')


def validate(config, num_devices: int = 1) -> None:
  """Every piece checks its own settings (data, units, objective, encoder, optimizer,
  readout, loop, population, transfer, metrics); what is written here is how they fit."""
  from ffjax import assembly, data, labels, metrics, modes, optim, population, predict, probe
  from ffjax import registry, transfer, units
  from ffjax.data import stream
  c, m = config, config.model
  data.check(c.data)
  k, _, _, in_ch = data.shape_of(c.data)
  mode = modes.get(c.method)  # what the mode is, not its name, decides below
  enc, obj = registry.get('encoder', c.labels.kind), registry.get('objective', c.objective.kind)
  unit = registry.get('unit', m.kind)
  enc.check(c.labels)
  labels.check_negatives(c.labels)
  obj.check(c, k)  # in every mode: backprop builds the same heads (one parameter layout)
  units.check_model(m, in_ch)
  optim.check(c.optim, len(m.widths))
  predict.check(c.predict, m.kind, unit.maps)
  probe.check(c.probe)
  assembly.check_train(c.train, num_devices)
  population.check(c, enc, obj)
  transfer.check(c)
  metrics.check(c)
  kind, encs = c.objective.kind, registry.names('encoder')
  need(mode.local or c.labels.kind == 'none', 'labels.kind', c.labels.kind,
       f"method={c.method} trains end to end on plain images: use labels.kind='none'")
  if mode.per_unit and obj.label_in_input:
    need(enc.label_in_input, 'labels.kind', c.labels.kind, f'objective.kind={kind!r} needs a '
         f'label in the input: one of {[n for n in encs if registry.get("encoder", n).label_in_input]}')
  if mode.local and obj.pairs and not obj.label_in_input:
    need(enc.makes_pairs, 'labels.kind', c.labels.kind, f'objective.kind={kind!r} trains on '
         f'label-free pairs: one of {[n for n in encs if registry.get("encoder", n).makes_pairs]}')
  need(not getattr(unit, 'draws_pairs', False) or (mode.per_unit and obj.pairs and not
       obj.label_in_input), 'model.kind', m.kind, 'makes label-free pairs in its units: with '
       'a label-free pairs objective and method=ff only')
  if not obj.pairs:
    need(not enc.label_in_input and not enc.makes_pairs, 'labels.kind', c.labels.kind,
         f"objective.kind={kind!r} is one pass, label-free: use labels.kind='none'")
  need(not (m.get('batch_norm') and mode.local and obj.pairs), 'model.batch_norm', True,
       f'not with objective.kind={kind!r}: positives and negatives would share batch '
       "statistics, which tells a unit the batch's mix")
  if mode.by_block:
    need(not obj.pairs, 'method', c.method, 'hybrid (backprop inside blocks) needs a one-pass '
         f'objective: objective.kind one of {[n for n in registry.names("objective") if not registry.get("objective", n).pairs]}')
    need(c.train.schedule != 'streamed', 'train.schedule', 'streamed', 'streams units, not '
         "blocks: use method=ff, or schedule='fused' with hybrid")
  if c.train.schedule == 'streamed':
    need(mode.per_unit, 'train.schedule', 'streamed', f'streams local units: not with method={c.method!r}')
    need(not m.dropout, 'train.schedule', 'streamed', 'not with model.dropout (the streamed step '
         "recomputes outputs without it): use 'fused'")
  need(c.predict.readout != 'pooled_sum' or c.train.schedule == 'fused', 'train.schedule',
       c.train.schedule, "the streamed and pipelined steps read a concat readout only: use 'fused'")
  if data.is_streamed(c.data):
    need(c.train.data_on_device != 'yes', 'train.data_on_device', 'yes',
         'streamed data is read from disk a batch at a time')
    need(c.train.schedule != 'pipelined', 'train.schedule', 'pipelined', 'not with streamed data')
    stream.check_budget(c.data, max(c.train.batch_size, c.train.eval_batch_size))
