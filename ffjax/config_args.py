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

SCHEDULES = ('fused', 'streamed', 'pipelined')


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
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def check_known(args: dict, known) -> None:
  unknown = sorted(set(args) - set(known))
  if unknown:
    raise ConfigError(f'unknown config argument(s) {unknown}; known: {sorted(known)}')


def validate(config, num_devices: int = 1) -> None:
  from ffjax.data import DATASETS, STREAM_SOURCES, STREAMED, STREAMED_TFDS, is_streamed, shape_of
  from ffjax import registry
  from ffjax import modes
  from ffjax.units import NORMS
  c = config
  mode = modes.get(c.method)  # what the mode is, not its name, decides below
  need(c.data.source in ('raw', 'tfds') + STREAM_SOURCES, 'data.source', c.data.source,
       f"one of {('raw', 'tfds') + STREAM_SOURCES}")
  streamed = is_streamed(c.data)
  names = STREAMED if c.data.source in STREAM_SOURCES else (
      dict(DATASETS, **STREAMED) if c.data.source == 'tfds' else DATASETS)
  need(c.data.name in names, 'data.name', c.data.name,
       f'unknown dataset for data.source={c.data.source!r}; one of {sorted(names)}')
  if streamed:
    d = c.data
    need(d.image_size > 0, 'data.image_size', d.image_size, 'streamed images need a size (e.g. 224)')
    need(d.bad_images in ('stop', 'skip'), 'data.bad_images', d.bad_images, "must be 'stop' or 'skip'")
    need(d.workers >= 0, 'data.workers', d.workers, 'must be >= 0 (0: one per core)')
    if d.name == 'folder':
      need(d.num_classes > 0, 'data.num_classes', d.num_classes,
           "data.name='folder' needs the number of class folders")
    if d.source == 'tfds':
      need(d.get('tfds_name') or d.name in STREAMED_TFDS, 'data.tfds_name', d.get('tfds_name'),
           f'data.name={d.name!r} has no tensorflow-datasets name: give the prepared dataset\'s')
    need(c.train.data_on_device != 'yes', 'train.data_on_device', 'yes',
         'streamed data is read from disk a batch at a time')
    need(c.train.schedule != 'pipelined', 'train.schedule', 'pipelined', 'not with streamed data')
  from ffjax.augment import AUGMENTS
  need(c.data.get('augment', 'none') in AUGMENTS, 'data.augment', c.data.get('augment'),
        f'one of {sorted(AUGMENTS)}')
  need(c.data.num_val >= 0, 'data.num_val', c.data.num_val, 'must be >= 0')
  # The pieces check their own settings (labels.py, objectives.py, ffjax/methods/);
  # what follows checks how they fit together.
  k, _, _, in_ch = shape_of(c.data)
  enc = registry.get('encoder', c.labels.kind)
  enc.check(c.labels)
  o = c.objective
  kind = o.kind
  obj = registry.get('objective', kind)
  obj.check(c, k)  # in every mode: backprop builds the same heads (one parameter layout)
  need(mode.local or c.labels.kind == 'none', 'labels.kind', c.labels.kind,
       f"method={c.method} trains end to end on plain images: use labels.kind='none'")
  if mode.per_unit and obj.label_in_input:
    need(enc.label_in_input, 'labels.kind', c.labels.kind,
         f'objective.kind={kind!r} needs a label in the input: one of '
         f'{[n for n in registry.names("encoder") if registry.get("encoder", n).label_in_input]}')
  if mode.local and obj.pairs and not obj.label_in_input:
    need(enc.makes_pairs, 'labels.kind', c.labels.kind,
         f'objective.kind={kind!r} trains on label-free pairs: one of '
         f'{[n for n in registry.names("encoder") if registry.get("encoder", n).makes_pairs]}')
  if not obj.pairs:
    need(not enc.label_in_input and not enc.makes_pairs, 'labels.kind', c.labels.kind,
         f"objective.kind={kind!r} is one pass, label-free: use labels.kind='none'")
  if c.model.get('batch_norm') and mode.local and obj.pairs:
    need(False, 'model.batch_norm', True, f'not with objective.kind={kind!r}: positives and '
         'negatives would share batch statistics, which tells a unit the batch\'s mix')
  if mode.by_block:
    need(not obj.pairs, 'method', c.method,
         'hybrid (backprop inside blocks) needs a one-pass objective: objective.kind one of '
         f'{[n for n in registry.names("objective") if not registry.get("objective", n).pairs]}')
    need(c.train.schedule != 'streamed', 'train.schedule', 'streamed', 'streams units, not '
         "blocks: use method=ff, or schedule='fused' with hybrid")
  skips = c.model.get('skips', ())
  if skips:
    need(len(skips) == len(c.model.widths), 'model.skips', skips, 'needs one value per unit')
    need(all(-1 <= j < l for l, j in enumerate(skips)), 'model.skips', skips,
          'each -1 or the index of an earlier unit')
  blocks = c.model.get('blocks', ())
  if blocks:
    need(len(blocks) == len(c.model.widths), 'model.blocks', blocks, 'needs one block id per unit')
    need(all(b1 <= b2 for b1, b2 in zip(blocks, blocks[1:])), 'model.blocks', blocks,
          'block ids must not decrease (a block is a run of consecutive units)')
  m = c.model
  need(len(m.widths) >= 1, 'model.widths', m.widths, 'needs at least one unit')
  need(all(w > 0 for w in m.widths), 'model.widths', m.widths, 'sizes must be positive')
  unit = registry.get('unit', m.kind)
  unit.check(m, in_ch)  # the unit type's own fields (units.UnitType)
  need(m.get('dtype', 'float32') in ('float32', 'bfloat16'), 'model.dtype', m.get('dtype'),
        "must be 'float32' or 'bfloat16'")
  need(m.norm in NORMS, 'model.norm', m.norm, f'one of {sorted(NORMS)}')
  if m.get('norms'):
    need(len(m.norms) == len(m.widths), 'model.norms', m.norms, 'needs one value per unit')
    need(all(n in NORMS for n in m.norms), 'model.norms', m.norms, f'each one of {sorted(NORMS)}')
  need(m.input_norm in NORMS, 'model.input_norm', m.input_norm, f'one of {sorted(NORMS)}')
  t = c.train
  need(t.batch_size > 0, 'train.batch_size', t.batch_size, 'must be positive')
  need(t.batch_size % num_devices == 0, 'train.batch_size', t.batch_size,
        f'must be divisible by the {num_devices} devices')
  need(t.eval_batch_size > 0 and t.eval_batch_size % num_devices == 0, 'train.eval_batch_size',
        t.eval_batch_size, f'must be positive and divisible by the {num_devices} devices')
  need(t.num_epochs > 0, 'train.num_epochs', t.num_epochs, 'must be positive')
  need(t.log_every_steps > 0, 'train.log_every_steps', t.log_every_steps, 'must be positive')
  need(t.eval_every_epochs >= 1, 'train.eval_every_epochs', t.eval_every_epochs,
        'must be >= 1 (the last epoch is always evaluated)')
  need(t.checkpoint_every_steps >= 0, 'train.checkpoint_every_steps', t.checkpoint_every_steps,
        'must be >= 0 (0: at epoch ends only)')
  need(c.data.train_limit >= 0, 'data.train_limit', c.data.train_limit, 'must be >= 0 (0: all)')
  need(c.data.eval_limit >= 0, 'data.eval_limit', c.data.eval_limit, 'must be >= 0 (0: all)')
  need(t.schedule in SCHEDULES, 'train.schedule', t.schedule, f'one of {SCHEDULES}')
  need(t.data_on_device in ('auto', 'yes', 'no'), 'train.data_on_device', t.data_on_device,
        "must be 'auto', 'yes' or 'no'")
  need(t.steps_per_call >= 0, 'train.steps_per_call', t.steps_per_call, 'must be >= 0 (0: auto)')
  if t.schedule == 'streamed':
    need(mode.per_unit, 'train.schedule', 'streamed', f'streams local units: not with '
          f'method={c.method!r}')
    need(not c.model.dropout, 'train.schedule', 'streamed', 'not with model.dropout (the '
          "streamed step recomputes outputs without it): use 'fused'")
  pop = t.population
  for f in ('seeds', 'lr', 'K', 'temperature'):
    need(isinstance(pop[f], (tuple, list)), f'train.population.{f}', pop[f], 'must be a tuple')
  if pop.K:
    need('intensity' in enc.hparams, 'train.population.K', pop.K,
         f'K is the label intensity, which labels.kind={c.labels.kind!r} has not')
  if pop.temperature:
    need('temperature' in obj.hparams, 'train.population.temperature', pop.temperature,
         f'objective.kind={kind!r} has no temperature')
  if pop.seeds or pop.lr or pop.K or pop.temperature:
    need(not streamed, 'train.population', pop.to_dict(),
         'a population reads one resident copy of the data: not with streamed data')
    need(t.schedule != 'pipelined', 'train.population', pop.to_dict(),
          'a population is vmapped on every device: not with schedule=pipelined')
    need(not c.transfer.init_from, 'train.population', pop.to_dict(),
          'not with transfer.init_from (one run)')
  if c.get('tensorboard'):
    try:
      import tensorboardX  # noqa: F401
    except ImportError:
      raise ConfigError('config.tensorboard=True: needs tensorboardX (pip install tensorboardX); '
                        'metrics.jsonl is written either way') from None
  o = c.optim
  if o.get('unit_stop_epochs'):
    need(len(o.unit_stop_epochs) == len(c.model.widths), 'optim.unit_stop_epochs',
          o.unit_stop_epochs, 'needs one epoch per unit (0: never stops)')
    need(all(e >= 0 for e in o.unit_stop_epochs), 'optim.unit_stop_epochs', o.unit_stop_epochs,
          'epochs must be >= 0')
  need(o.get('head_name', '') in ('', 'adam', 'sgd'), 'optim.head_name', o.get('head_name'),
        "must be '', 'adam' or 'sgd'")
  if c.data.get('mean') or c.data.get('std'):
    ch = in_ch
    need(len(c.data.mean) == ch and len(c.data.std) == ch and all(s > 0 for s in c.data.std),
          'data.mean/std', (c.data.mean, c.data.std), f'one value per channel ({ch}), std > 0')
  if o.get('unit_lr_scale'):
    need(len(o.unit_lr_scale) == len(c.model.widths), 'optim.unit_lr_scale', o.unit_lr_scale,
          'needs one factor per unit')
    need(all(f >= 0 for f in o.unit_lr_scale), 'optim.unit_lr_scale', o.unit_lr_scale,
          'factors must be >= 0')
  need(0. <= c.labels.get('hard_negatives', 0.) <= 1., 'labels.hard_negatives',
        c.labels.get('hard_negatives'), 'a fraction in [0, 1]')
  need(c.labels.get('hard_negative_score', 'goodness') in ('goodness', 'linear'),
        'labels.hard_negative_score', c.labels.get('hard_negative_score'),
        "must be 'goodness' or 'linear'")
  need(c.predict.get('head_units', 'all') in ('all', 'last'), 'predict.head_units',
        c.predict.get('head_units'), "must be 'all' or 'last'")
  tr = c.get('transfer', {})
  need(tr.get('train', 'all') in ('all', 'heads'), 'transfer.train', tr.get('train'),
        "must be 'all' (fine-tune) or 'heads' (linear probe)")
  need(not (tr.get('train', 'all') == 'heads' and c.train.schedule == 'streamed'),
        'train.schedule', 'streamed', 'not with transfer.train=heads (nothing to stream: the '
        'units are frozen)')
  need(o.name in ('adam', 'adamw', 'sgd'), 'optim.name', o.name, "must be 'adam', 'adamw' or 'sgd'")
  need(o.lr > 0, 'optim.lr', o.lr, 'must be positive')
  need(o.schedule in ('constant', 'half_cooldown', 'cosine_epochs'), 'optim.schedule', o.schedule,
        "must be 'constant', 'half_cooldown' or 'cosine_epochs'")
  need(0 <= o.lr_min <= o.lr, 'optim.lr_min', o.lr_min, 'must be in [0, optim.lr]')
  need(c.data.resize >= 0, 'data.resize', c.data.resize, 'must be >= 0 (0: as stored)')
  if c.data.augment == 'crop_flip_jitter':
    need(in_ch == 3, 'data.augment', c.data.augment,
          'colour jitter needs RGB images')
  need(m.goodness_at in ('output', 'pre_pool'), 'model.goodness_at', m.goodness_at,
        "must be 'output' or 'pre_pool'")
  need(0. <= m.dropout < 1., 'model.dropout', m.dropout, 'must be in [0, 1)')
  need(m.order in ('conv_act_norm', 'conv_norm_act'), 'model.order', m.order,
        "must be 'conv_act_norm' or 'conv_norm_act'")
  need(m.init in ('lecun', 'hinton', 'kaiming'), 'model.init', m.init,
        "must be 'lecun', 'hinton' or 'kaiming'")
  p = c.predict
  need(p.readout in ('concat', 'pooled_sum'), 'predict.readout', p.readout,
        "must be 'concat' or 'pooled_sum'")
  if p.readout == 'pooled_sum':
    need(unit.maps, 'predict.readout', p.readout, f'pools units\' maps: model.kind={m.kind!r} has none')
    need(c.train.schedule == 'fused', 'train.schedule', c.train.schedule,
          "the streamed and pipelined steps read a concat readout only: use 'fused'")
  need(p.goodness_scale in ('none', 'theta'), 'predict.goodness_scale', p.goodness_scale,
        "must be 'none' or 'theta'")
