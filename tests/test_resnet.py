"""ResNet-18 from ffjax units: residual connections, locality per mode, one layout."""
import jax
import numpy as np
import pytest
from flax import nnx

from conftest import load_config, loss_owners, param_layout
from ffjax import config_args, network, train
from ffjax import method as method_lib


def _net(arg):
  c = load_config('resnet18_cifar10', arg)
  config_args.validate(c)
  return c, method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))[0]


def test_the_architecture_is_resnet18():
  c, net = _net('cpu')
  assert len(net.units) == 17
  assert network.unit_shapes(c, (32, 32, 3))[-1] == (4, 4, 128)
  assert net.skips[:5] == (-1, -1, 1, -1, 3)           # unit B adds the input of unit A
  assert net.units[2].proj is None                     # same shape: identity skip
  assert net.units[6].proj is not None                 # stage 2 starts: 1x1 projection, stride 2
  assert net.units[6].proj.strides == (2, 2) or net.units[6].proj.strides == 2
  assert c.model.blocks[:5] == (0, 1, 1, 2, 2)
  std = load_config('resnet18_cifar10', 'variant=standard')
  shapes = network.unit_shapes(std, (224, 224, 3))
  assert shapes[0] == (56, 56, 64) and shapes[-1] == (7, 7, 512)  # the ImageNet ResNet-18


def test_a_residual_unit_adds_its_blocks_input():
  c, net = _net('tiny,method=bp')
  net.eval()
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  ys, hs = network.forward(net, x)
  a_in, a_out = hs[0], hs[1]   # unit 1 (A) receives unit 0's output
  b = net.units[2]
  z = b.bn(b.conv(a_out)) + a_in
  np.testing.assert_allclose(ys[2], jax.nn.relu(z), rtol=1e-5, atol=1e-5)


def test_layerwise_trains_each_unit_alone_and_hybrid_each_block():
  c, net = _net('tiny')
  # Layer-wise: unit B of block 1 (index 2) learns alone, skip projection included.
  assert loss_owners(c, net, 2) == {('units', 2), ('aux', 2)}
  assert loss_owners(c, net, 6) == {('units', 6), ('aux', 6)}  # with its 1x1 projection
  c, net = _net('tiny,method=hybrid')
  assert method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))[1].scored[:3] == (0, 2, 4)
  # Hybrid: block 3 (units 5, 6: the first block of stage 2) learns as a whole, nothing before.
  assert loss_owners(c, net, 6) == {('units', 5), ('units', 6), ('aux', 6)}


def test_three_modes_share_one_parameter_layout():
  layouts = [param_layout(_net(f'tiny,method={m}')[1]) for m in ('ff', 'hybrid', 'bp')]
  assert layouts[0] == layouts[1] == layouts[2]


@pytest.mark.slow
@pytest.mark.parametrize('method', ['ff', 'hybrid', 'bp'])
def test_tiny_resnet_learns(method, tmp_path, c10_dir):
  # Generated CIFAR-10 files whose class is a bright square's position (flips would move
  # it: no augmentation): a 17-unit net must learn them in 40 steps.
  c = load_config('resnet18_cifar10', f'tiny,method={method}')
  c.data.dir, c.data.verify_md5, c.data.augment = str(c10_dir), False, 'none'
  c.data.num_val, c.data.train_limit, c.data.eval_limit = 200, 0, 0
  c.train.num_epochs = 4  # 64 steps
  rec = train.train_and_evaluate(c, str(tmp_path))
  acc = rec['val']['acc_linear' if method == 'bp' else 'acc_fusion']
  assert acc > 0.3, rec['val']  # chance 0.10
