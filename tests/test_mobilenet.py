"""MobileNetV3 from ffjax units: depthwise, squeeze-excite, linear projections,
locality per mode, one parameter layout for ff / hybrid / bp."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, loss_owners, param_layout
from ffjax import config_args, network, train, units
from ffjax import method as method_lib


def _net(arg):
  c = load_config('mobilenetv3_cifar10', arg)
  config_args.validate(c)
  return c, method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))[0]


@pytest.mark.slow
def test_the_architecture_is_mobilenetv3_small():
  c, net = _net('')
  assert len(net.units) == 34  # stem, 11 blocks (the first without expansion), final 1x1
  shapes = network.unit_shapes(c, (32, 32, 3))
  assert shapes[0] == (32, 32, 16) and shapes[-1] == (4, 4, 576)  # 32x32 variant: 3 halvings
  assert shapes[3] == (32, 32, 72) and shapes[4] == (16, 16, 72)  # block 2: expand, then stride 2
  assert c.model.acts[2] == 'none' and c.model.depthwise[1] and not c.model.depthwise[2]
  assert net.skips[2] == 1 and net.units[2].proj is None  # block 1 adds its input (the stem's)
  assert net.skips[5] == -1                               # 16 -> 24 channels: no residual
  assert net.units[1].se is not None and net.units[4].se is None
  std = load_config('mobilenetv3_cifar10', 'variant=standard')
  assert network.unit_shapes(std, (224, 224, 3))[-1] == (7, 7, 576)  # the paper's 224 input


def test_depthwise_unit_filters_each_channel_alone():
  u = units.ConvUnit(4, 4, 3, depthwise=True, norm='none', act='none', rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
  y, _ = u(x)
  x2 = x.at[..., 1].set(0.)  # changing channel 1 changes output channel 1 only
  y2, _ = u(x2)
  diff = jnp.abs(y - y2).sum(axis=(0, 1, 2))
  assert diff[1] > 0 and float(diff[0] + diff[2] + diff[3]) == 0.


def test_squeeze_excite_gates_channels_between_0_and_1():
  se = units.SqueezeExcite(16, rngs=nnx.Rngs(0))
  y = jax.nn.relu(jax.random.normal(jax.random.key(1), (3, 5, 5, 16))) + 0.1
  g = se(y) / y  # the gate per example and channel, the same at every position
  assert float(g.min()) >= 0. and float(g.max()) <= 1.
  np.testing.assert_allclose(g, jnp.broadcast_to(g[:, :1, :1, :], g.shape), rtol=1e-5)


def test_a_projection_is_linear_and_adds_its_blocks_input():
  c, net = _net('cpu,tiny,method=bp')
  net.eval()
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  ys, hs = network.forward(net, x)
  p = net.units[2]
  z = p.bn(p.conv(hs[1])) + hs[0]  # no ReLU: the linear bottleneck
  np.testing.assert_allclose(ys[2], z, rtol=1e-5, atol=1e-5)
  assert float(ys[2].min()) < 0.


def test_layerwise_trains_each_unit_alone_and_hybrid_each_block():
  c, net = _net('cpu,tiny')
  assert loss_owners(c, net, 1) == {('units', 1), ('aux', 1)}   # depthwise + squeeze-excite
  assert loss_owners(c, net, 8) == {('units', 8), ('aux', 8)}   # a projection with a residual
  c, net = _net('cpu,tiny,method=hybrid')
  # Block 3 (units 6, 7, 8: expand, depthwise, project + skip) learns as a whole from its
  # last unit's loss; nothing before it.
  assert loss_owners(c, net, 8) == {('units', 6), ('units', 7), ('units', 8), ('aux', 8)}


def test_three_modes_share_one_parameter_layout():
  layouts = [param_layout(_net(f'cpu,tiny,method={m}')[1]) for m in ('ff', 'hybrid', 'bp')]
  assert layouts[0] == layouts[1] == layouts[2]


def test_bad_depthwise_config_is_refused():
  c = load_config('mobilenetv3_cifar10', 'cpu')
  c.model.depthwise = tuple(c.model.depthwise[:3]) + (True,) + tuple(c.model.depthwise[4:])
  with pytest.raises(config_args.ConfigError, match='depthwise'):
    config_args.validate(c)  # unit 3 expands 8 -> 40 channels: it cannot be depthwise


@pytest.mark.slow
# Hybrid's blocks with batch norm and skips learn in test_resnet.py; its gradient
# structure on MobileNet is checked above.
@pytest.mark.parametrize('method', ['ff'])
def test_tiny_mobilenet_learns(method, tmp_path, c10_dir):
  # Generated CIFAR-10 whose class is a bright square's position (test_resnet.py): 34
  # units with batch norm, depthwise convs and squeeze-excite must learn it in 64 steps.
  c = load_config('mobilenetv3_cifar10', f'tiny,method={method}')
  c.data.dir, c.data.verify_md5, c.data.augment = str(c10_dir), False, 'none'
  c.data.num_val, c.data.train_limit, c.data.eval_limit = 200, 0, 0
  c.train.num_epochs = 4
  rec = train.train_and_evaluate(c, str(tmp_path))
  assert rec['val']['acc_fusion'] > 0.3, rec['val']  # chance 0.10
