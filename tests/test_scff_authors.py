"""SCFF against its authors' code: tests/fixtures/scff/scff_cifar.npz was made by running
their ContrastFF_CIFAR.py (the command in make_fixture.py; torch is needed only there).
ffjax's layer on their trained weights computes their numbers, and ffjax's own step
(step.make_step) reproduces their first five training steps."""
import pathlib

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ffjax import probe
from ffjax.methods import scff

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'scff' / 'scff_cifar.npz')
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)  # their transform


def their_input(x_u8):
  return (jnp.asarray(x_u8, jnp.float32) / 255. - jnp.asarray(MEAN)) / jnp.asarray(STD)


def layer1(kernel_OxIxHxW, bias_O):
  """ffjax's first unit as configs/scff.py builds it, holding the given torch weights."""
  u = scff.ScffConv(3, 96, 5, first=True, pair=True, pad=2, act='triangle',
                    pool=('max', 4, 2, 1), rngs=nnx.Rngs(0))
  u.conv.kernel[...] = jnp.asarray(kernel_OxIxHxW).transpose(2, 3, 1, 0)
  u.conv.bias[...] = jnp.asarray(bias_O)
  return u


def nchw(a):
  return np.asarray(a).transpose(0, 3, 1, 2)


def test_the_layer_computes_the_authors_forward_on_their_trained_weights():
  f = FIXTURE
  u = layer1(f['l1_kernel'], f['l1_bias'])
  x = their_input(f['x_test'])
  z = u.preact(x)  # no key: the readout's pass, [x | x]
  a, y = u(x)
  np.testing.assert_allclose(nchw(z)[:, ::24], f['conv_z'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(jnp.mean(jnp.square(a), -1), f['goodness'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(nchw(y)[:, ::12], f['pooled'], rtol=1e-4, atol=1e-4)
  feat = probe.feature(y, pool=2)  # their readout's feature (NHWC order; theirs C, H, W)
  feat = np.asarray(feat).reshape(8, 8, 8, 96).transpose(0, 3, 1, 2).reshape(8, -1)
  np.testing.assert_allclose(feat, f['feature'], rtol=1e-4, atol=1e-4)
  # The values are not small: the comparison means something.
  assert float(jnp.abs(z).max()) > 5. and float(jnp.mean(a > 0)) > 0.1


def one_unit_config():
  """configs/scff.py's staged recipe cut to its first unit (the stage their fixture ran):
  batches of 16 as they come (no flips), their first unit's optimizer settings."""
  from conftest import load_config
  c = load_config('scff', 'recipe=staged')
  m, o = c.model, c.optim
  for key in ('widths', 'kernels', 'pads', 'pools', 'pool_strides', 'pool_pads', 'pool_kinds',
              'acts', 'pair_at'):
    m[key] = m[key][:1]
  for key in ('scff_theta_pos', 'scff_theta_neg', 'scff_lambda'):
    c.objective[key] = c.objective[key][:1]
  for key in ('unit_lr_scale', 'unit_weight_decay', 'unit_decay_rate', 'unit_decay_every',
              'unit_start_epochs', 'unit_stop_epochs'):
    o[key] = o[key][:1]
  c.data.augment, c.train.batch_size = 'none', 16
  return c


def test_the_trainers_step_reproduces_the_authors_first_five_steps(monkeypatch):
  from conftest import trainer_step
  f = FIXTURE
  c = one_unit_config()
  ours = (c.optim.lr, c.optim.unit_weight_decay[0], c.objective.scff_theta_pos[0],
          c.objective.scff_theta_neg[0], c.objective.scff_lambda[0])
  np.testing.assert_allclose(ours, f['opt'], rtol=1e-6)  # the recipe holds their settings
  state = None
  for s in range(5):
    # Their shift k of this batch: the unit draws it through scff.draw_shift.
    monkeypatch.setattr(scff, 'draw_shift', lambda key, b, k=int(f['shifts'][s]): jnp.int32(k))
    _, fresh, step = trainer_step(c, (32, 32, 3))  # compiled anew: k is a constant in it
    if state is None:
      state = fresh
      p = state['params']['units'][0]['conv']
      p['kernel'][...] = jnp.asarray(f['init_kernel']).transpose(2, 3, 1, 0)
      p['bias'][...] = jnp.asarray(f['init_bias'])
    x = f['x_train'][16 * s:16 * (s + 1)]
    state, m = step(state, x, np.zeros(16, np.int32))
    p = state['params']['units'][0]['conv']
    kernel = np.asarray(p['kernel'][...]).transpose(3, 2, 0, 1)
    np.testing.assert_allclose(float(m['loss_u1']), f['losses'][s], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kernel, f['kernels'][s], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(p['bias'][...]), f['biases'][s], rtol=1e-5, atol=1e-5)
    assert np.abs(kernel - f['kernels'][s]).max() <= 1e-3
  # The steps moved the weights well beyond the tolerance.
  assert np.abs(f['kernels'][-1] - f['init_kernel']).max() > 100 * 1e-5
