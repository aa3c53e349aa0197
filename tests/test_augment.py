"""Augmentation: a real crop and flip, deterministic in (seed, step), and one image for a
positive and its negatives."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conftest import load_config
from ffjax import labels, step
from ffjax.data import augment, preprocess
from ffjax import method as method_lib


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
  prep = preprocess.make(c.data)
  x_u8 = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
  key = lambda seed, step: jax.random.fold_in(jax.random.key(seed), step)
  a = prep.train(x_u8, key(0, 5))
  np.testing.assert_array_equal(a, prep.train(x_u8, key(0, 5)))
  assert not np.array_equal(a, prep.train(x_u8, key(0, 6)))
  assert not np.array_equal(a, prep.train(x_u8, key(1, 5)))
  c.data.augment = 'none'
  np.testing.assert_array_equal(preprocess.make(c.data).train(x_u8, key(0, 5)), prep.to_float(x_u8))


class Recording(labels.Encoder):
  """An encoder that keeps what it was asked to embed (outside jit)."""
  seen = []

  def embed(self, x, y):
    Recording.seen.append((np.asarray(x), np.asarray(y)))
    return super().embed(x, y)


def test_positive_and_negative_images_are_the_same_augmented_image():
  c = load_config('cifar10', 'tiny')
  c.data.augment = 'crop_flip'
  net, method = method_lib.build(c, (32, 32, 3), 10, nnx.Rngs(0))
  method = dataclasses.replace(method, encoder=Recording(**{
      f.name: getattr(method.encoder, f.name) for f in dataclasses.fields(method.encoder)}))
  graphdef, params, rest = step.split(net)
  x_u8 = np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
  y = jnp.arange(4)
  key = jax.random.key(3)
  prep = preprocess.make(c.data)
  x = prep.train(x_u8, key)
  Recording.seen = []
  step.loss_fn(params, rest, [None] * len(net.units), x, y, key, method=method, graphdef=graphdef)
  (x_pos, y_pos), (x_neg, y_neg) = Recording.seen
  np.testing.assert_array_equal(x_pos, x_neg)           # one augmented image ...
  assert not np.array_equal(x_pos, prep.to_float(x_u8))  # ... that is augmented
  assert np.all(y_pos != y_neg)                          # ... with two labels
