import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ffjax import config_base, labels


def _cfg(**kw):
  c = config_base.get_base().labels
  c.update(kw)
  return c


@pytest.mark.parametrize('label_set', [1, 2])
def test_fourier_patterns_shape_range_and_distinct(label_set):
  p = labels.fourier_patterns(10, 28, 28, label_set)
  assert p.shape == (10, 28, 28)
  assert p.min() >= -1 - 1e-6 and p.max() <= 1 + 1e-6
  # Every class pattern must be told apart from every other: no two nearly equal.
  assert labels.max_pairwise_correlation(p) < 0.5


def test_fourier_mode_values():
  # 1 period across 4 pixels at 0 degrees: cos(2 pi u), u = 0, 1/4, 2/4, 3/4 along the width.
  m = labels.fourier_mode(2, 4, cycles=1., angle_deg=0.)
  np.testing.assert_allclose(m[0], [1, 0, -1, 0], atol=1e-6)
  np.testing.assert_allclose(m[1], m[0], atol=1e-6)  # constant along the height
  m90 = labels.fourier_mode(4, 2, cycles=1., angle_deg=90.)
  np.testing.assert_allclose(m90[:, 0], [1, 0, -1, 0], atol=1e-6)


def test_set1_uses_four_orientations_frequency_major():
  params = labels.fourier_set1_params(10, (2., 4., 6.))
  assert params[:4] == [(2., 0.), (2., 45.), (2., 90.), (2., 135.)]
  assert params[8:] == [(6., 0.), (6., 45.)]
  with pytest.raises(ValueError, match='fewer than'):
    labels.fourier_set1_params(13, (2., 4., 6.))


def test_superpose_hand_values():
  x = jnp.array([[[[0.], [1.]]]])        # 1 x 1 x 2 x 1
  pat = jnp.array([[[1., -1.]]])         # 1 x 1 x 2
  out = labels.superpose(x, pat, 0.25, rescale=False)
  np.testing.assert_allclose(out[0, 0, :, 0], [0.25, 0.5])  # 0.75 x + 0.25 L
  out = labels.superpose(x, pat, 0.25, rescale=True)
  np.testing.assert_allclose(out[0, 0, :, 0], [0., 1.])


def test_fourier_encoder_range_and_labels_differ():
  enc = labels.make_encoder(_cfg(kind='fourier'), 10, 28, 28)
  x = jax.random.uniform(jax.random.key(0), (4, 28, 28, 1))
  xa = enc.embed_all(x)
  assert xa.shape == (10, 4, 28, 28, 1)
  assert float(xa.min()) >= 0. and float(xa.max()) <= 1. + 1e-6
  # The same image with two labels differs; with the same label it does not.
  assert float(jnp.abs(xa[0] - xa[1]).mean()) > 0.05
  np.testing.assert_allclose(enc.embed(x, jnp.full((4,), 3)), xa[3], atol=1e-6)
  neu = enc.embed_neutral(x)
  assert neu.shape == x.shape and float(neu.min()) >= 0.


def test_onehot_encoder_writes_first_pixels():
  enc = labels.make_encoder(_cfg(kind='onehot'), 10, 28, 28)
  x = jnp.ones((2, 28, 28, 1)) * 0.7
  out = enc.embed(x, jnp.array([3, 9])).reshape(2, -1)
  np.testing.assert_allclose(out[0, :10], np.eye(10)[3])
  np.testing.assert_allclose(out[1, :10], np.eye(10)[9])
  np.testing.assert_allclose(out[:, 10:], 0.7)
  np.testing.assert_allclose(enc.embed_neutral(x).reshape(2, -1)[:, :10], 0.1)


def test_negatives_never_true_and_uniform():
  y = jnp.tile(jnp.arange(10), 2000)
  neg = labels.sample_negatives(jax.random.key(1), y, 10)
  assert not bool(jnp.any(neg == y))
  assert int(neg.min()) >= 0 and int(neg.max()) <= 9
  # For true class 0 the 9 wrong ones come up about equally often (2000 draws, ~222 each).
  counts = np.bincount(np.asarray(neg[y == 0]), minlength=10)
  assert counts[0] == 0 and counts[1:].min() > 150 and counts[1:].max() < 300


def test_unknown_kind_refused():
  with pytest.raises(ValueError, match='labels.kind'):
    labels.make_encoder(_cfg(kind='morse'), 10, 28, 28)


# ----------------------------------------------------------------------------- label sets at scale


@pytest.mark.parametrize('k', [10, 100])
def test_set3_patterns_for_10_and_100_classes_are_orthogonal(k):
  p = labels.fourier_patterns(k, 32, 32, label_set=3)
  assert p.shape == (k, 32, 32)
  assert p.min() >= -1 - 1e-6 and p.max() <= 1 + 1e-6
  assert labels.max_pairwise_correlation(p) < 1e-4
  # Lowest frequencies first: class 0 and 1 are the cos and sin of one wave vector.
  params = labels.fourier_set3_params(k, 32, 32)
  assert params[0][:2] == params[1][:2] and params[0][2] != params[1][2]
  assert max(c for c, _, _ in params) < 16  # below Nyquist on 32 pixels
  with pytest.raises(ValueError, match='fewer than'):
    labels.fourier_set3_params(1000, 8, 8)


def test_line_elements_and_their_pictures():
  assert labels.line_offsets(5, 0.) == [(0, -2), (0, -1), (0, 0), (0, 1), (0, 2)]
  assert labels.line_offsets(3, 90.) == [(-1, 0), (0, 0), (1, 0)]
  assert labels.line_offsets(3, 45.) == [(-1, 1), (0, 0), (1, -1)]  # dy points down the image
  els = labels.structuring_elements(10, 'lines', (5, 9))
  assert len({tuple(e) for e in els}) == 10
  assert all((0, 0) in e for e in els)
  pics = labels.element_images(els)
  assert pics.shape == (10, 9, 9) and pics[0, 4].sum() == 5  # class 0: horizontal, length 5


def test_random_elements_are_fixed_distinct_and_contain_the_origin():
  a = labels.structuring_elements(100, 'random', size=4, radius=3, seed=0)
  assert a == labels.structuring_elements(100, 'random', size=4, radius=3, seed=0)
  assert a != labels.structuring_elements(100, 'random', size=4, radius=3, seed=1)
  assert len({tuple(e) for e in a}) == 100
  assert all(len(e) == 4 and (0, 0) in e and max(max(map(abs, o)) for o in e) <= 3 for e in a)


def test_morphology_on_a_hand_made_image():
  x = np.zeros((1, 5, 5, 1), np.float32)
  x[0, 2, 2, 0] = 1.                      # one bright pixel
  horiz = jnp.asarray(labels.offsets_table([labels.line_offsets(3, 0.)]))  # 1 x 3 x 2
  d = np.asarray(labels.dilate(jnp.asarray(x), horiz, 1))[0, ..., 0]
  want = np.zeros((5, 5))
  want[2, 1:4] = 1.                       # the pixel grows into a horizontal bar
  np.testing.assert_array_equal(d, want)
  # Erosion of a 3-wide bar by the same line leaves its centre only.
  np.testing.assert_array_equal(
      np.asarray(labels.erode(jnp.asarray(want[None, ..., None], jnp.float32), horiz, 1))[0, ..., 0],
      np.asarray(x)[0, ..., 0])
  # An asymmetric element shifts: {(0,0), (1,0)} copies the pixel one row down.
  down = jnp.asarray(labels.offsets_table([[(0, 0), (1, 0)]]))
  d2 = np.asarray(labels.dilate(jnp.asarray(x), down, 1))[0, ..., 0]
  assert d2[2, 2] == 1 and d2[3, 2] == 1 and d2.sum() == 2
  # Gradient = dilation - erosion: the edges along the element; zero on flat images.
  flat = jnp.full((1, 5, 5, 1), 0.3)
  np.testing.assert_allclose(labels.MORPH_OPS['gradient'](flat, horiz, 1), 0., atol=1e-7)


def test_morph_encoder_reads_the_image_not_a_pattern():
  enc = labels.make_encoder(_cfg(kind='morph', intensity=0.5, rescale=False), 10, 16, 16)
  assert enc.label_in_input and enc.patterns_KxHxW.shape[0] == 10
  # A flat image carries no label: every class gives the same labeled image.
  flat = jnp.full((2, 16, 16, 3), 0.4)
  xa = enc.embed_all(flat)
  np.testing.assert_allclose(xa, 0.4, atol=1e-6)
  # An image with content does: classes differ, and embed agrees with embed_all.
  x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
  xa = enc.embed_all(x)
  assert float(jnp.abs(xa[0] - xa[5]).mean()) > 0.01
  np.testing.assert_allclose(enc.embed(x, jnp.array([5, 5])), xa[5], atol=1e-6)
  # Neutral: the mean transform, so (without rescaling) the mean of the labeled images.
  np.testing.assert_allclose(enc.embed_neutral(x), xa.mean(0), atol=1e-5)


def _smooth_images(n=12, size=32, seed=0):
  """Natural-ish images: noise with a 1/f amplitude spectrum, as natural images have,
  each scaled to [0, 1]; the same for every set."""
  rng = np.random.default_rng(seed)
  f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing='ij'))
  spec = rng.normal(size=(n, size, size, 3)) + 1j * rng.normal(size=(n, size, size, 3))
  img = np.fft.ifft2(spec / np.maximum(f, 1. / size)[None, :, :, None], axes=(1, 2)).real
  lo, hi = img.min(axis=(1, 2, 3), keepdims=True), img.max(axis=(1, 2, 3), keepdims=True)
  return jnp.asarray((img - lo) / (hi - lo), jnp.float32)


# Every label set a config ships, with the bound its classes must stay under:
# |correlation| of what two classes' labels add to the same image.
SHIPPED_SETS = [
    (10, dict(kind='fourier', label_set=1), 0.3),
    (10, dict(kind='fourier', label_set=2), 0.3),
    (10, dict(kind='fourier', label_set=3), 0.3),
    (100, dict(kind='fourier', label_set=3), 0.4),
    (10, dict(kind='morph', morph_op='dilation', morph_se='lines'), 0.7),
    (10, dict(kind='morph', morph_op='gradient', morph_se='lines'), 0.7),
    (100, dict(kind='morph', morph_op='dilation', morph_se='random', morph_size=12,
               morph_radius=4), 0.8),
]


@pytest.mark.parametrize('k,kw,bound', SHIPPED_SETS)
def test_every_shipped_label_set_keeps_its_classes_apart(k, kw, bound):
  enc = labels.make_encoder(_cfg(**kw), k, 32, 32)
  corr = labels.label_signal_correlation(enc, _smooth_images())
  print(kw, k, round(corr, 3))
  assert corr < bound, (kw, corr)
  if enc.kind == 'fourier':
    assert labels.max_pairwise_correlation(enc.patterns_KxHxW) < bound


def test_hard_negatives_take_the_best_wrong_label():
  scores = jnp.array([[5., 9., 1.], [0., 1., 7.], [3., 3., 2.]])
  y = jnp.array([1, 2, 0])
  np.testing.assert_array_equal(labels.hardest_negatives(scores, y), [0, 1, 1])
  rnd, hard = jnp.zeros(1000, jnp.int32), jnp.ones(1000, jnp.int32)
  mixed = labels.mix_negatives(jax.random.key(0), rnd, hard, 0.3)
  assert 0.25 < float(mixed.mean()) < 0.35
  np.testing.assert_array_equal(labels.mix_negatives(jax.random.key(0), rnd, hard, 0.), rnd)


def test_too_small_a_window_for_the_classes_is_refused():
  with pytest.raises(ValueError, match='too few distinct'):
    labels.structuring_elements(100, 'random', size=2, radius=2)
