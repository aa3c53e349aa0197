"""Per-unit optimizer schedules (ffjax/optim.py): the exponential decay as the SCFF
authors step torch's ExponentialLR, and units that start late with a fresh optimizer."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ffjax import config_base, config_args, optim


def authors_lrs(lr, gamma, period, n):
  """The lr each of n batches used in their loop: nbbatches += 1, the step, then
  `if (nbbatches + 1) % period == 0: scheduler.step()`."""
  out = []
  for nb in range(1, n + 1):
    out.append(lr)
    if (nb + 1) % period == 0:
      lr *= gamma
  return out


def test_the_exponential_schedule_counts_batches_as_the_authors_loop():
  shape = optim.schedule_shape('exponential', 100, decay_rate=0.5, decay_every=3)
  ours = [float(shape(jnp.int32(c))) for c in range(10)]
  np.testing.assert_allclose(ours, authors_lrs(1., 0.5, 3, 10), rtol=1e-6)


def params2():
  return {'units': {0: {'w': jnp.ones(3)}, 1: {'w': jnp.ones(3)}}, 'head': {'w': jnp.ones(2)}}  # as nnx.State


def test_a_unit_that_starts_late_is_frozen_then_steps_as_a_fresh_adamw():
  o = config_base.get_base().optim
  o.name, o.lr, o.schedule = 'adamw', 0.1, 'exponential'
  o.unit_start_epochs, o.unit_weight_decay = (0, 2), (0., 0.5)
  o.unit_decay_rate, o.unit_decay_every = (1., 0.5), (1, 2)
  optim.check(o, 2)
  tx, _ = optim.make_optimizer(o, num_units=2, total_steps=6, steps_per_epoch=1)
  p = params2()
  state = tx.init(p)
  grads = [jax.tree.map(lambda x, s=s: (s + 1.) * jnp.arange(1., x.size + 1.), p) for s in range(5)]
  # The reference for unit 2: torch-style AdamW made fresh at its start, its own decay.
  ref = optax.adamw(lambda c: 0.1 * 0.5 ** ((c + 1) // 2), weight_decay=0.5)
  w_ref, s_ref = jnp.ones(3), None
  for s, g in enumerate(grads):
    u, state = tx.update(g, state, p)
    p = optax.apply_updates(p, u)
    if s < 2:
      np.testing.assert_array_equal(p['units'][1]['w'], jnp.ones(3))  # frozen before its start
    else:
      s_ref = ref.init(w_ref) if s_ref is None else s_ref
      u_ref, s_ref = ref.update(g['units'][1]['w'], s_ref, w_ref)
      w_ref = optax.apply_updates(w_ref, u_ref)
      np.testing.assert_allclose(p['units'][1]['w'], w_ref, rtol=1e-6)
  assert float(jnp.abs(p['units'][0]['w'] - 1.).min()) > 0.2  # unit 1 trained from step 0


def test_per_unit_settings_need_one_value_per_unit():
  o = config_base.get_base().optim
  o.unit_weight_decay = (1e-4,)
  with pytest.raises(config_args.ConfigError, match='optim.unit_weight_decay.*one value per unit'):
    optim.check(o, 3)
  o.unit_weight_decay, o.unit_start_epochs, o.unit_stop_epochs = (), (0, 7), (4, 6)
  with pytest.raises(config_args.ConfigError, match='optim.unit_start_epochs'):
    optim.check(o, 2)
