"""Networks by name (ffjax/nets/): the maps each produces, and one-line errors."""
import pytest

from ffjax import config_args, config_base, network, nets


def _shapes(fields, image):
  c = config_base.get_base()
  c.model.update(fields)
  return network.unit_shapes(c, image)


@pytest.mark.parametrize('name,kw,image,units,last', [
    ('ffcnn', {}, (28, 28, 1), 3, (28, 28, 128)),
    ('ffcnn_cpu', {}, (28, 28, 1), 3, (7, 7, 16)),
    ('resnet18', {}, (32, 32, 3), 17, (4, 4, 512)),
    ('resnet18', {'variant': 'standard'}, (224, 224, 3), 17, (7, 7, 512)),
    ('mobilenetv3_small', {}, (32, 32, 3), 34, (4, 4, 576)),
    ('mobilenetv3_small', {'variant': 'standard'}, (224, 224, 3), 34, (7, 7, 576)),
    ('vgg8', {}, (32, 32, 1), 7, (2, 2, 512)),  # MNIST resized to 32, four pools
    ('vgg11', {'scale': 0.25}, (32, 32, 3), 10, (2, 2, 128)),
    ('vgg_imagenet', {}, (224, 224, 3), 8, (7, 7, 512)),
    ('asge_rgb', {'cpu': True}, (32, 32, 3), 4, (8, 8, 64)),
])
def test_each_network_makes_the_maps_of_its_architecture(name, kw, image, units, last):
  shapes = _shapes(nets.get(name, **kw), image)
  assert len(shapes) == units and shapes[-1] == last, shapes


def test_resnet18_blocks_add_their_input_and_downsample_at_each_stage():
  f = nets.get('resnet18')
  assert f['skips'][2] == 1 and f['skips'][4] == 3  # unit B of a block adds unit A's input
  assert [l for l, s in enumerate(f['strides']) if s == 2] == [5, 9, 13]
  assert len(set(f['blocks'])) == 9  # the stem and 8 basic blocks


def test_an_unknown_network_or_variant_is_one_line():
  with pytest.raises(config_args.ConfigError, match="model.net='resnet19': unknown; one of"):
    nets.get('resnet19')
  with pytest.raises(config_args.ConfigError, match="variant='tiny'"):
    nets.get('resnet18', variant='tiny')


def test_a_network_is_found_by_name_alone_and_its_run_records_it(tmp_path):
  from flax import nnx
  from ffjax import method, registry, rundir

  @registry.net('test_two_units')  # a new network: defined here, named nowhere else
  def two_units(width=4):
    return dict(kind='conv', widths=(width, width), kernels=(3, 3), pools=(1, 2))

  c = config_base.get_base()
  c.data.name = 'mnist'
  nets.apply(c.model, 'test_two_units', width=6)
  config_args.validate(c)
  net, _ = method.build(c, (28, 28, 1), 10, nnx.Rngs(0))
  assert [u.conv.kernel.shape[-1] for u in net.units] == [6, 6]
  rundir.open_workdir(c, tmp_path, resuming=False, allow_change=False)
  saved = rundir.read_config(tmp_path).model
  assert saved.net == 'test_two_units' and dict(saved.net_args) == {'width': 6}
  assert nets.names().count('test_two_units') == 1 and 'resnet18' in nets.names()
  c.model.net = 'nope'
  with pytest.raises(config_args.ConfigError, match="model.net='nope'"):
    config_args.validate(c)


@pytest.mark.parametrize('shape', [(3, 3, 16, 72), (1, 1, 576, 1024), (4608, 10), (5, 5, 1, 1)])
def test_initializers_draw_flax_values_bit_for_bit(shape):
  # ffjax's initializers draw flat at a power-of-two size (one compilation per size class,
  # not per shape): the weights must be flax's own, so seeds mean what they meant.
  import jax
  import jax.numpy as jnp
  import numpy as np
  from flax import nnx

  from ffjax import inits
  key = jax.random.key(7)
  pairs = [(nnx.initializers.lecun_normal(), inits.LECUN),
           (nnx.initializers.variance_scaling(2., 'fan_in', 'normal'), inits.KAIMING)]
  for ref, ours in pairs:
    np.testing.assert_array_equal(ours(key, shape), ref(key, shape))
  want = jax.random.normal(key, shape) / jnp.sqrt(shape[-1])
  np.testing.assert_array_equal(inits.normal_over_sqrt_out(key, shape), want)
  assert ours(key, shape).shape == shape and float(jnp.std(ours(key, shape))) > 0
