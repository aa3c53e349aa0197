"""Config arguments and checks.

`parse('tiny,method=bp,K=0.3')` -> {'tiny': True, 'method': 'bp', 'K': 0.3}: the
string after the ':' in `--config=configs/mnist.py:tiny,method=bp`, handed to a
config file's `get_config(arg)`.

`validate(config, num_devices)` refuses bad values before anything runs, with a
message that names the key.
"""
from __future__ import annotations

LABEL_KINDS = ('none', 'onehot', 'fourier', 'morph')
SCHEDULES = ('fused', 'streamed', 'pipelined')


class ConfigError(ValueError):
  """A config value that cannot work; the message names the key."""


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


def _need(cond, key, value, why):
  if not cond:
    raise ConfigError(f'config.{key}={value!r}: {why}')


def validate(config, num_devices: int = 1) -> None:
  from ffjax.data import DATASETS  # here, to keep this module light
  from ffjax.method import METHODS, OBJECTIVES
  from ffjax.units import NORMS, POOLS
  c = config
  _need(c.method in METHODS, 'method', c.method, f'unknown method; one of {METHODS}')
  _need(c.data.name in DATASETS, 'data.name', c.data.name, f'unknown dataset; one of {sorted(DATASETS)}')
  _need(c.data.source in ('raw', 'tfds'), 'data.source', c.data.source, "must be 'raw' or 'tfds'")
  from ffjax.augment import AUGMENTS
  _need(c.data.get('augment', 'none') in AUGMENTS, 'data.augment', c.data.get('augment'),
        f'one of {sorted(AUGMENTS)}')
  _need(c.data.num_val >= 0, 'data.num_val', c.data.num_val, 'must be >= 0')
  _need(c.labels.kind in LABEL_KINDS, 'labels.kind', c.labels.kind, f'one of {LABEL_KINDS}')
  _need(0. <= c.labels.intensity <= 1., 'labels.intensity', c.labels.intensity, 'must be in [0, 1]')
  _need(c.labels.label_set in (1, 2, 3), 'labels.label_set', c.labels.label_set, 'must be 1, 2 or 3')
  if c.labels.kind == 'morph':
    from ffjax.labels import MORPH_OPS
    _need(c.labels.morph_op in MORPH_OPS, 'labels.morph_op', c.labels.morph_op, f'one of {sorted(MORPH_OPS)}')
    _need(c.labels.morph_se in ('lines', 'random'), 'labels.morph_se', c.labels.morph_se,
          "must be 'lines' or 'random'")
  _need(c.method != 'bp' or c.labels.kind == 'none', 'labels.kind', c.labels.kind,
        "method=bp trains on plain images: use labels.kind='none'")
  o = c.objective
  kind = o.get('kind', 'threshold')
  _need(kind in OBJECTIVES, 'objective.kind', kind, f'one of {OBJECTIVES}')
  if c.method == 'ff' and kind == 'threshold':
    _need(c.labels.kind != 'none', 'labels.kind', c.labels.kind,
          "objective.kind='threshold' needs a label in the input (onehot or fourier)")
  if kind != 'threshold':
    _need(c.labels.kind == 'none', 'labels.kind', c.labels.kind,
          f"objective.kind={kind!r} is label-free: use labels.kind='none'")
    _need(c.model.kind == 'conv', 'model.kind', c.model.kind, f"objective.kind={kind!r} needs conv units")
  if kind == 'channel_groups' and c.method != 'bp':
    k = DATASETS[c.data.name][0]
    _need(all(w % k == 0 for w in c.model.widths), 'model.widths', c.model.widths,
          f'objective.kind=channel_groups cuts each unit into {k} class groups: widths must be multiples of {k}')
  if c.model.get('batch_norm') and c.method == 'ff' and kind == 'threshold':
    _need(False, 'model.batch_norm', True, 'not with the threshold objective: positives and '
          'negatives would share batch statistics, which tells a unit the batch\'s label mix')
  if c.method == 'hybrid':
    _need(kind != 'threshold', 'method', c.method,
          "hybrid (backprop inside blocks) needs a one-pass objective: objective.kind="
          "'spatial', 'per_class' or 'channel_groups'")
    _need(c.train.schedule != 'streamed', 'train.schedule', 'streamed', 'streams units, not '
          "blocks: use method=ff, or schedule='fused' with hybrid")
  skips = c.model.get('skips', ())
  if skips:
    _need(len(skips) == len(c.model.widths), 'model.skips', skips, 'needs one value per unit')
    _need(all(-1 <= j < l for l, j in enumerate(skips)), 'model.skips', skips,
          'each -1 or the index of an earlier unit')
  blocks = c.model.get('blocks', ())
  if blocks:
    _need(len(blocks) == len(c.model.widths), 'model.blocks', blocks, 'needs one block id per unit')
    _need(all(b1 <= b2 for b1, b2 in zip(blocks, blocks[1:])), 'model.blocks', blocks,
          'block ids must not decrease (a block is a run of consecutive units)')
  if kind == 'spatial':
    _need(o.grid_min >= 1, 'objective.grid_min', o.grid_min, 'must be >= 1')
    _need(o.alpha >= 0, 'objective.alpha', o.alpha, 'must be >= 0')
    _need(o.projection in ('trained', 'fixed', 'fixed_bias'), 'objective.projection', o.projection,
          "must be 'trained', 'fixed' or 'fixed_bias'")
  m = c.model
  _need(m.kind in ('conv', 'dense'), 'model.kind', m.kind, "must be 'conv' or 'dense'")
  _need(len(m.widths) >= 1, 'model.widths', m.widths, 'needs at least one unit')
  _need(all(w > 0 for w in m.widths), 'model.widths', m.widths, 'sizes must be positive')
  if m.kind == 'conv':
    for key in ('kernels', 'pools') + (('strides',) if m.get('strides') else ()):
      _need(len(m[key]) == len(m.widths), f'model.{key}', m[key], 'needs one value per unit')
      _need(all(k > 0 for k in m[key]), f'model.{key}', m[key], 'sizes must be positive')
    _need(m.get('pool_kind', 'max') in POOLS, 'model.pool_kind', m.get('pool_kind'),
          f'one of {sorted(POOLS)}')
  if m.kind == 'conv':
    from ffjax.units import ACTS
    n = len(m.widths)
    for key in ('acts', 'depthwise', 'se', 'groups'):
      if m.get(key):
        _need(len(m[key]) == n, f'model.{key}', m[key], 'needs one value per unit')
    _need(all(a in ACTS for a in m.get('acts', ())), 'model.acts', m.get('acts'),
          f'each one of {sorted(ACTS)}')
    if m.get('depthwise'):
      ins = (None,) + tuple(m.widths[:-1])
      bad = [l for l in range(n) if m.depthwise[l] and l > 0 and m.widths[l] != ins[l]]
      _need(not bad and not m.depthwise[0], 'model.depthwise', m.depthwise,
            f'a depthwise unit keeps its input channels (not the first unit; units {bad} change them)')
    if m.get('groups'):
      ins = (DATASETS[c.data.name][3],) + tuple(m.widths[:-1])
      bad = [l for l, g in enumerate(m.groups) if g < 1 or ins[l] % g or m.widths[l] % g]
      _need(not bad, 'model.groups', m.groups,
            f'a unit\'s input and output channels must be multiples of its groups (units {bad})')
    _need(m.get('bn_position', 'pre_act') in ('pre_act', 'post_pool'), 'model.bn_position',
          m.get('bn_position'), "must be 'pre_act' or 'post_pool'")
    _need(m.get('conv_impl', 'auto') in ('auto', 'lax', 'matmul'), 'model.conv_impl',
          m.get('conv_impl'), "must be 'auto', 'lax' or 'matmul'")
  _need(m.get('dtype', 'float32') in ('float32', 'bfloat16'), 'model.dtype', m.get('dtype'),
        "must be 'float32' or 'bfloat16'")
  _need(m.norm in NORMS, 'model.norm', m.norm, f'one of {sorted(NORMS)}')
  if m.get('norms'):
    _need(len(m.norms) == len(m.widths), 'model.norms', m.norms, 'needs one value per unit')
    _need(all(n in NORMS for n in m.norms), 'model.norms', m.norms, f'each one of {sorted(NORMS)}')
  _need(m.input_norm in NORMS, 'model.input_norm', m.input_norm, f'one of {sorted(NORMS)}')
  t = c.train
  _need(t.batch_size > 0, 'train.batch_size', t.batch_size, 'must be positive')
  _need(t.batch_size % num_devices == 0, 'train.batch_size', t.batch_size,
        f'must be divisible by the {num_devices} devices')
  _need(t.eval_batch_size > 0 and t.eval_batch_size % num_devices == 0, 'train.eval_batch_size',
        t.eval_batch_size, f'must be positive and divisible by the {num_devices} devices')
  _need(t.num_epochs > 0, 'train.num_epochs', t.num_epochs, 'must be positive')
  _need(t.log_every_steps > 0, 'train.log_every_steps', t.log_every_steps, 'must be positive')
  _need(t.eval_every_epochs >= 1, 'train.eval_every_epochs', t.eval_every_epochs,
        'must be >= 1 (the last epoch is always evaluated)')
  _need(t.checkpoint_every_steps >= 0, 'train.checkpoint_every_steps', t.checkpoint_every_steps,
        'must be >= 0 (0: at epoch ends only)')
  _need(c.data.train_limit >= 0, 'data.train_limit', c.data.train_limit, 'must be >= 0 (0: all)')
  _need(c.data.eval_limit >= 0, 'data.eval_limit', c.data.eval_limit, 'must be >= 0 (0: all)')
  _need(t.schedule in SCHEDULES, 'train.schedule', t.schedule, f'one of {SCHEDULES}')
  _need(t.data_on_device in ('auto', 'yes', 'no'), 'train.data_on_device', t.data_on_device,
        "must be 'auto', 'yes' or 'no'")
  _need(t.steps_per_call >= 0, 'train.steps_per_call', t.steps_per_call, 'must be >= 0 (0: auto)')
  if t.schedule == 'streamed':
    _need(c.method == 'ff', 'train.schedule', 'streamed', f'streams local units: not with '
          f'method={c.method!r}')
    _need(not c.model.dropout, 'train.schedule', 'streamed', 'not with model.dropout (the '
          "streamed step recomputes outputs without it): use 'fused'")
  pop = t.population
  for f in ('seeds', 'lr', 'K', 'temperature'):
    _need(isinstance(pop[f], (tuple, list)), f'train.population.{f}', pop[f], 'must be a tuple')
  if pop.K:
    _need(c.labels.kind in ('fourier', 'morph'), 'train.population.K', pop.K,
          'K is the label intensity of fourier or morph labels')
  if pop.temperature:
    _need(o.kind == 'threshold', 'train.population.temperature', pop.temperature,
          'the temperature is the threshold objective\'s')
  if pop.seeds or pop.lr or pop.K or pop.temperature:
    _need(t.schedule != 'pipelined', 'train.population', pop.to_dict(),
          'a population is vmapped on every device: not with schedule=pipelined')
    _need(not c.transfer.init_from, 'train.population', pop.to_dict(),
          'not with transfer.init_from (one run)')
  if c.get('tensorboard'):
    try:
      import tensorboardX  # noqa: F401
    except ImportError:
      raise ConfigError('config.tensorboard=True: needs tensorboardX (pip install tensorboardX); '
                        'metrics.jsonl is written either way') from None
  o = c.optim
  if o.get('unit_stop_epochs'):
    _need(len(o.unit_stop_epochs) == len(c.model.widths), 'optim.unit_stop_epochs',
          o.unit_stop_epochs, 'needs one epoch per unit (0: never stops)')
    _need(all(e >= 0 for e in o.unit_stop_epochs), 'optim.unit_stop_epochs', o.unit_stop_epochs,
          'epochs must be >= 0')
  _need(o.get('head_name', '') in ('', 'adam', 'sgd'), 'optim.head_name', o.get('head_name'),
        "must be '', 'adam' or 'sgd'")
  if c.data.get('mean') or c.data.get('std'):
    ch = DATASETS[c.data.name][3]
    _need(len(c.data.mean) == ch and len(c.data.std) == ch and all(s > 0 for s in c.data.std),
          'data.mean/std', (c.data.mean, c.data.std), f'one value per channel ({ch}), std > 0')
  if o.get('unit_lr_scale'):
    _need(len(o.unit_lr_scale) == len(c.model.widths), 'optim.unit_lr_scale', o.unit_lr_scale,
          'needs one factor per unit')
    _need(all(f >= 0 for f in o.unit_lr_scale), 'optim.unit_lr_scale', o.unit_lr_scale,
          'factors must be >= 0')
  _need(0. <= c.labels.get('hard_negatives', 0.) <= 1., 'labels.hard_negatives',
        c.labels.get('hard_negatives'), 'a fraction in [0, 1]')
  _need(c.labels.get('hard_negative_score', 'goodness') in ('goodness', 'linear'),
        'labels.hard_negative_score', c.labels.get('hard_negative_score'),
        "must be 'goodness' or 'linear'")
  _need(c.predict.get('head_units', 'all') in ('all', 'last'), 'predict.head_units',
        c.predict.get('head_units'), "must be 'all' or 'last'")
  tr = c.get('transfer', {})
  _need(tr.get('train', 'all') in ('all', 'heads'), 'transfer.train', tr.get('train'),
        "must be 'all' (fine-tune) or 'heads' (linear probe)")
  _need(not (tr.get('train', 'all') == 'heads' and c.train.schedule == 'streamed'),
        'train.schedule', 'streamed', 'not with transfer.train=heads (nothing to stream: the '
        'units are frozen)')
  _need(o.name in ('adam', 'adamw', 'sgd'), 'optim.name', o.name, "must be 'adam', 'adamw' or 'sgd'")
  _need(o.lr > 0, 'optim.lr', o.lr, 'must be positive')
  _need(o.schedule in ('constant', 'half_cooldown', 'cosine_epochs'), 'optim.schedule', o.schedule,
        "must be 'constant', 'half_cooldown' or 'cosine_epochs'")
  _need(0 <= o.lr_min <= o.lr, 'optim.lr_min', o.lr_min, 'must be in [0, optim.lr]')
  _need(c.data.resize >= 0, 'data.resize', c.data.resize, 'must be >= 0 (0: as stored)')
  if c.data.augment == 'crop_flip_jitter':
    _need(DATASETS[c.data.name][3] == 3, 'data.augment', c.data.augment,
          'colour jitter needs RGB images')
  _need(c.labels.wave_range in ('pm1', '01'), 'labels.wave_range', c.labels.wave_range,
        "must be 'pm1' or '01'")
  _need(c.labels.diagonal in ('free', 'mode'), 'labels.diagonal', c.labels.diagonal,
        "must be 'free' or 'mode'")
  _need(m.goodness_at in ('output', 'pre_pool'), 'model.goodness_at', m.goodness_at,
        "must be 'output' or 'pre_pool'")
  _need(0. <= m.dropout < 1., 'model.dropout', m.dropout, 'must be in [0, 1)')
  _need(m.order in ('conv_act_norm', 'conv_norm_act'), 'model.order', m.order,
        "must be 'conv_act_norm' or 'conv_norm_act'")
  _need(m.init in ('lecun', 'hinton', 'kaiming'), 'model.init', m.init,
        "must be 'lecun', 'hinton' or 'kaiming'")
  p = c.predict
  _need(p.readout in ('concat', 'pooled_sum'), 'predict.readout', p.readout,
        "must be 'concat' or 'pooled_sum'")
  if p.readout == 'pooled_sum':
    _need(m.kind == 'conv', 'predict.readout', p.readout, 'pools conv units\' maps: conv units only')
    _need(c.train.schedule == 'fused', 'train.schedule', c.train.schedule,
          "the streamed and pipelined steps read a concat readout only: use 'fused'")
  _need(p.goodness_scale in ('none', 'theta'), 'predict.goodness_scale', p.goodness_scale,
        "must be 'none' or 'theta'")
