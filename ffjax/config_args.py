"""Config arguments and checks.

`parse('tiny,method=bp,K=0.3')` -> {'tiny': True, 'method': 'bp', 'K': 0.3}: the
string after the ':' in `--config=configs/mnist.py:tiny,method=bp`, handed to a
config file's `get_config(arg)`.

`validate(config, num_devices)` refuses bad values before anything runs, with a
message that names the key.
"""
from __future__ import annotations

from ffjax.units import NORMS, POOLS

METHODS = ('ff', 'bp')
LABEL_KINDS = ('none', 'onehot', 'fourier')
OBJECTIVES = ('threshold', 'spatial')


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


def check_known(args: dict, known) -> None:
  unknown = sorted(set(args) - set(known))
  if unknown:
    raise ConfigError(f'unknown config argument(s) {unknown}; known: {sorted(known)}')


def _need(cond, key, value, why):
  if not cond:
    raise ConfigError(f'config.{key}={value!r}: {why}')


def validate(config, num_devices: int = 1) -> None:
  from ffjax.data import DATASETS  # here, to keep this module light
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
  _need(c.labels.label_set in (1, 2), 'labels.label_set', c.labels.label_set, 'must be 1 or 2')
  _need(c.method != 'bp' or c.labels.kind == 'none', 'labels.kind', c.labels.kind,
        "method=bp trains on plain images: use labels.kind='none'")
  o = c.objective
  kind = o.get('kind', 'threshold')
  _need(kind in OBJECTIVES, 'objective.kind', kind, f'one of {OBJECTIVES}')
  if c.method == 'ff' and kind == 'threshold':
    _need(c.labels.kind != 'none', 'labels.kind', c.labels.kind,
          "objective.kind='threshold' needs a label in the input (onehot or fourier)")
  if kind == 'spatial':
    _need(c.labels.kind == 'none', 'labels.kind', c.labels.kind,
          "objective.kind='spatial' (ASGE) is label-free: use labels.kind='none'")
    _need(c.model.kind == 'conv', 'model.kind', c.model.kind, "objective.kind='spatial' needs conv units")
    _need(o.grid_min >= 1, 'objective.grid_min', o.grid_min, 'must be >= 1')
    _need(o.alpha >= 0, 'objective.alpha', o.alpha, 'must be >= 0')
    _need(o.projection in ('trained', 'fixed'), 'objective.projection', o.projection,
          "must be 'trained' or 'fixed'")
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
  norms = m.norm if isinstance(m.norm, (tuple, list)) else (m.norm,)
  _need(all(n in NORMS for n in norms), 'model.norm', m.norm, f'one of {sorted(NORMS)}, or one per unit')
  if isinstance(m.norm, (tuple, list)):
    _need(len(m.norm) == len(m.widths), 'model.norm', m.norm, 'needs one value per unit')
  _need(m.input_norm in NORMS, 'model.input_norm', m.input_norm, f'one of {sorted(NORMS)}')
  t = c.train
  _need(t.batch_size > 0, 'train.batch_size', t.batch_size, 'must be positive')
  _need(t.batch_size % num_devices == 0, 'train.batch_size', t.batch_size,
        f'must be divisible by the {num_devices} devices')
  _need(t.eval_batch_size > 0 and t.eval_batch_size % num_devices == 0, 'train.eval_batch_size',
        t.eval_batch_size, f'must be positive and divisible by the {num_devices} devices')
  _need(t.num_epochs > 0, 'train.num_epochs', t.num_epochs, 'must be positive')
  _need(t.log_every_steps > 0, 'train.log_every_steps', t.log_every_steps, 'must be positive')
  if c.get('tensorboard'):
    try:
      import tensorboardX  # noqa: F401
    except ImportError:
      raise ConfigError('config.tensorboard=True: needs tensorboardX (pip install tensorboardX); '
                        'metrics.jsonl is written either way') from None
  o = c.optim
  _need(o.name in ('adam', 'sgd'), 'optim.name', o.name, "must be 'adam' or 'sgd'")
  _need(o.lr > 0, 'optim.lr', o.lr, 'must be positive')
  _need(o.schedule in ('constant', 'half_cooldown'), 'optim.schedule', o.schedule,
        "must be 'constant' or 'half_cooldown'")
