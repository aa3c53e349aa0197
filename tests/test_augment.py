"""Augmentation: a real crop and flip, deterministic in (seed, step), and one image for a
positive and its negatives."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conftest import load_config
from ffjax import augment, labels, network, train


def _images(b=8, h=6, w=6, c=3):
  return jnp.arange(b * h * w * c, dtype=jnp.float32).reshape(b, h, w, c) + 1.


def test_crop_flip_is_a_window_of_the_padded_image_possibly_mirrored():
  x = _images()
  out = np.asarray(augment.crop_flip(jax.random.key(0), x, pad=2))
  xp = np.pad(np.asarray(x), ((0, 0), (2, 2), (2, 2), (0, 0)))
  seen_flip, seen_shift = False, False
  for b in range(len(x)):
    matches = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (0, 1)
               if np.array_equal(out[b], (xp[b, dy:dy + 6, dx:dx + 6])[:, ::-1 if f else 1])]
    assert matches, b
    seen_flip |= any(f for _, _, f in matches)
    seen_shift |= any((dy, dx) != (2, 2) for dy, dx, _ in matches)
  assert seen_flip and seen_shift  # 8 images: both happen


def test_augmentation_is_deterministic_in_seed_and_step():
  c = load_config('asge_cifar10', 'tiny')
  assert c.data.augment == 'crop_flip'
  x_u8 = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
  key = lambda seed, step: jax.random.fold_in(jax.random.key(seed), step)
  a = train.prepare_batch(c, x_u8, key(0, 5))
  np.testing.assert_array_equal(a, train.prepare_batch(c, x_u8, key(0, 5)))
  assert not np.array_equal(a, train.prepare_batch(c, x_u8, key(0, 6)))
  assert not np.array_equal(a, train.prepare_batch(c, x_u8, key(1, 5)))
  c.data.augment = 'none'
  np.testing.assert_array_equal(train.prepare_batch(c, x_u8, key(0, 5)), train.to_float(c, x_u8))


def test_positive_and_negative_images_are_the_same_augmented_image():
  c = load_config('cifar10', 'tiny')
  c.data.augment = 'crop_flip'
  net = network.build(c, (32, 32, 3), 10, nnx.Rngs(0))
  graphdef, params = nnx.split(net)
  enc = labels.make_encoder(c.labels, 10, 32, 32)
  seen = []

  def embed(x, y):
    seen.append((np.asarray(x), np.asarray(y)))
    return enc.embed(x, y)

  rec = labels.Encoder(enc.kind, 10, embed, enc.embed_neutral, enc.patterns_KxHxW)
  x_u8 = np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
  y = jnp.arange(4)
  key = jax.random.key(3)
  x = train.prepare_batch(c, x_u8, key)
  train.ff_loss_fn(c, rec, graphdef, train.trained_units(c, 3), params, [], x, y, key)
  (x_pos, y_pos), (x_neg, y_neg) = seen
  np.testing.assert_array_equal(x_pos, x_neg)           # one augmented image ...
  assert not np.array_equal(x_pos, train.to_float(c, x_u8))  # ... that is augmented
  assert np.all(y_pos != y_neg)                          # ... with two labels
