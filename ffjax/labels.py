"""Label encoders: how a class label enters the input, and how negatives are drawn.

Everything here is a pure function of arrays. An `Encoder` bundles three of them
for the trainer and the predictors:

  embed(x_BxHxWxC, y_B)    the image carrying label y (positive or negative data)
  embed_neutral(x)         the image carrying no particular label (linear head input)
  embed_all(x) -> KxB...   the image once per candidate label (goodness inference)

Kinds (config.labels.kind, registered in ffjax/registry.py; a new one registers in its
own file, e.g. ffjax/methods/scff.py):
  'none'     label-free methods and backprop: the image as it is.
  'onehot'   Hinton's FF-MLP: the first K values of the flattened image are
             overwritten by the one-hot label; the neutral label is 1/K each.
  'fourier'  spatially extended labels of the FF-CNN paper: one 2-D Fourier mode
             per class superimposed on every channel,
             x_lab = (1 - K) x + K L_c, then min-max rescaled to [0, 1] per image
             (the paper: "after the label superposition, the images are
             normalized to the range [0, 1]"). Sets: 1 (4 orientations x
             frequencies), 2 (one frequency, K orientations), 3 (integer wave
             vectors x cos/sin: exactly orthogonal, scales to 100+ classes).
  'morph'    morphological labels (the later paper names them, gives no recipe;
             this is our design): class c has its own structuring element S_c
             and the label is a grey-scale morphological transform of the image
             itself, x_lab = (1 - K) x + K m_c(x), rescaled to [0, 1]. Unlike an
             additive pattern, m_c(x) - x is zero where the image is flat: the
             label can only be read together with the image's edges and strokes,
             which is what should stop a unit from scoring the label alone (the
             paper's "shortcut"). m: 'dilation' (max of x over S_c), 'erosion'
             (min), 'gradient' (dilation - erosion: oriented edges). S_c:
             'lines' (segments, lengths x angles, readable) or 'random' (a fixed
             random set of offsets per class in a small window: scales to 100
             classes). The neutral image uses the mean of m_c(x) over classes.

How far apart a set's classes are is measured by `max_pairwise_correlation`
(patterns) and `label_signal_correlation` (what the label adds to real images);
tests hold every shipped set to a bound.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ffjax import registry
from ffjax.errors import need


def check_negatives(cfg) -> None:
  """config.labels' hard-negative settings (method.Negatives draws them)."""
  need(0. <= cfg.get('hard_negatives', 0.) <= 1., 'labels.hard_negatives',
       cfg.get('hard_negatives'), 'a fraction in [0, 1]')
  need(cfg.get('hard_negative_score', 'goodness') in ('goodness', 'linear'),
       'labels.hard_negative_score', cfg.get('hard_negative_score'),
       "must be 'goodness' or 'linear'")


# ----------------------------------------------------------------------------- patterns


def fourier_mode(height: int, width: int, cycles: float, angle_deg: float,
                 phase: float = 0.0) -> np.ndarray:
  """cos(2 pi cycles (u cos a + v sin a) + phase) on an HxW grid, u, v in [0, 1).

  `cycles` counts periods across the image along the wave's direction (for 45
  degrees, along each axis it is cycles * cos 45). Values in [-1, 1].
  """
  v, u = np.meshgrid(np.arange(height) / height, np.arange(width) / width, indexing='ij')
  a = np.deg2rad(angle_deg)
  return np.cos(2 * np.pi * cycles * (u * np.cos(a) + v * np.sin(a)) + phase).astype(np.float32)


def fourier_set1_params(num_classes: int, cycles: Sequence[float],
                        angles: Sequence[float] = (0., 45., 90., 135.), diagonal: str = 'free'):
  """Label set 1: orientations x frequencies, frequency-major; the first K are used.

  diagonal='mode': a diagonal wave becomes the nearest single 2-D Fourier mode of the
  image, an integer number of cycles along each axis (c cos 45 rounded, at least 1),
  periodic on the image as the paper's "single 2D Fourier mode" is; 'free' keeps the
  nominal c cycles along the diagonal (not periodic on the image)."""
  grid = [(c, a) for c in cycles for a in angles]
  if num_classes > len(grid):
    raise ValueError(f'labels.cycles x 4 orientations give {len(grid)} patterns, '
                     f'fewer than the {num_classes} classes')
  if diagonal == 'mode':
    out = []
    for c, a in grid:
      if a % 90:
        k = max(1, int(round(c * np.cos(np.deg2rad(45.)))))
        c, a = float(np.hypot(k, k)), a  # integer k cycles along each axis
      out.append((c, a))
    grid = out
  return grid[:num_classes]


def fourier_set2_params(num_classes: int, cycles: float):
  """Label set 2: one frequency, K orientations evenly spaced in [0, 180)."""
  return [(cycles, 180. * k / num_classes) for k in range(num_classes)]


def fourier_set3_params(num_classes: int, height: int, width: int):
  """Label set 3: integer wave vectors (kx, ky), lowest frequency first, each with a
  cosine and a sine (phase -90 degrees). Distinct integer modes are orthogonal on the
  pixel grid, so every pair of patterns has correlation 0 (up to rounding), for 10
  or 100 classes. Returns (cycles, angle_deg, phase) triples."""
  nyq = min(height, width) // 2
  ks = [(kx, ky) for kx in range(nyq) for ky in range(-nyq + 1, nyq)
        if (kx > 0 or ky > 0) and kx * kx + ky * ky < nyq * nyq]
  ks.sort(key=lambda k: (k[0] ** 2 + k[1] ** 2, np.arctan2(k[1], k[0])))
  out = []
  for kx, ky in ks:
    cyc, ang = float(np.hypot(kx, ky)), float(np.degrees(np.arctan2(ky, kx)))
    out += [(cyc, ang, 0.), (cyc, ang, -np.pi / 2)]
  if num_classes > len(out):
    raise ValueError(f'label set 3 has {len(out)} patterns on a {height}x{width} image, '
                     f'fewer than the {num_classes} classes')
  return out[:num_classes]


def fourier_patterns(num_classes: int, height: int, width: int, label_set: int = 1,
                     cycles: Sequence[float] = (2., 4., 6.), set2_cycles: float = 4.,
                     phase: float = 0.0, wave_range: str = 'pm1',
                     diagonal: str = 'free') -> np.ndarray:
  """The K class patterns, K x H x W in [-1, 1] (wave_range 'pm1') or [0, 1] ('01')."""
  if label_set == 1:
    params = [(c, a, phase) for c, a in fourier_set1_params(num_classes, cycles, diagonal=diagonal)]
  elif label_set == 2:
    params = [(c, a, phase) for c, a in fourier_set2_params(num_classes, set2_cycles)]
  elif label_set == 3:
    params = [(c, a, p + phase) for c, a, p in fourier_set3_params(num_classes, height, width)]
  else:
    raise ValueError(f'labels.label_set must be 1, 2 or 3, got {label_set}')
  pats = np.stack([fourier_mode(height, width, c, a, p) for c, a, p in params])
  return (pats + 1.) / 2. if wave_range == '01' else pats


def max_pairwise_correlation(patterns_KxHxW) -> float:
  """Largest |Pearson correlation| between two distinct class patterns: 1 means two
  classes are indistinguishable, 0 means orthogonal."""
  p = np.asarray(patterns_KxHxW, np.float64).reshape(len(patterns_KxHxW), -1)
  p = p - p.mean(1, keepdims=True)
  p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
  c = np.abs(p @ p.T)
  np.fill_diagonal(c, 0.)
  return float(c.max())


# ----------------------------------------------------------------------------- morphology


def line_offsets(length: int, angle_deg: float) -> list[tuple[int, int]]:
  """(dy, dx) pixels of a centred digital line segment of `length` pixels."""
  r = (length - 1) / 2.
  a = np.deg2rad(angle_deg)
  pts = {(int(round(-t * np.sin(a))), int(round(t * np.cos(a)))) for t in np.linspace(-r, r, length)}
  return sorted(pts | {(0, 0)})


def structuring_elements(num_classes: int, kind: str = 'lines', lengths: Sequence[int] = (5, 9),
                         size: int = 4, radius: int = 3, seed: int = 0):
  """One structuring element (a list of (dy, dx) offsets, the origin included) per class.

  'lines': lengths x angles, length-major; the angles of one length are evenly spaced
           in [0, 180). 10 classes, lengths (5, 9): 5 angles, 36 degrees apart.
  'random': `size` offsets per class (the origin and size - 1 others) drawn without
           repetition from the (2 radius + 1)^2 window by a fixed seed: a fixed
           label set, independent of the run's seed; distinct for every class.
  """
  if kind == 'lines':
    per = -(-num_classes // len(lengths))
    out = [line_offsets(lengths[c // per], 180. * (c % per) / per) for c in range(num_classes)]
  elif kind == 'random':
    rng = np.random.default_rng(seed)
    window = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
              if (dy, dx) != (0, 0)]
    if math.comb(len(window), size - 1) < 2 * num_classes:  # also keeps the draw loop short
      raise ValueError(f'labels.morph_size={size}, morph_radius={radius}: too few distinct '
                       f'elements for {num_classes} classes; use a larger size or radius')
    out, seen = [], set()
    while len(out) < num_classes:
      pick = tuple(sorted(window[i] for i in rng.choice(len(window), size - 1, replace=False)))
      if pick not in seen:
        seen.add(pick)
        out.append(sorted(((0, 0),) + pick))
  else:
    raise ValueError(f"labels.morph_se must be 'lines' or 'random', got {kind!r}")
  if len({tuple(o) for o in out}) < num_classes:
    raise ValueError('two classes got the same structuring element: use more lengths or a '
                     'larger window')
  return out


def offsets_table(elements) -> np.ndarray:
  """K x M x 2 int32, every element padded to the longest by repeating the origin
  (a repeated offset changes no max or min)."""
  m = max(len(e) for e in elements)
  return np.array([list(e) + [(0, 0)] * (m - len(e)) for e in elements], np.int32)


def element_images(elements) -> np.ndarray:
  """K x S x S pictures of the structuring elements (for figures)."""
  r = max(max(abs(dy), abs(dx)) for e in elements for dy, dx in e)
  img = np.zeros((len(elements), 2 * r + 1, 2 * r + 1), np.float32)
  for c, e in enumerate(elements):
    for dy, dx in e:
      img[c, r + dy, r + dx] = 1.
  return img


def dilate(x_BxHxWxC, offsets_BxMx2, radius: int):
  """Grey-scale dilation with a flat element per example: max over s of x[i - s]."""
  _, h, w, ch = x_BxHxWxC.shape
  xp = jnp.pad(x_BxHxWxC, ((0, 0), (radius, radius), (radius, radius), (0, 0)),
               constant_values=-jnp.inf)

  def one(img, offs):
    shifted = jax.vmap(lambda o: jax.lax.dynamic_slice(
        img, (radius - o[0], radius - o[1], 0), (h, w, ch)))(offs)
    return shifted.max(0)

  return jax.vmap(one)(xp, offsets_BxMx2)


def erode(x_BxHxWxC, offsets_BxMx2, radius: int):
  """Grey-scale erosion: min over s of x[i + s] (the dual of dilation)."""
  return -dilate(-x_BxHxWxC, -offsets_BxMx2, radius)


MORPH_OPS = {
    'dilation': dilate,
    'erosion': erode,
    'gradient': lambda x, o, r: dilate(x, o, r) - erode(x, o, r),
}


def label_signal_correlation(encoder, x_BxHxWxC) -> float:
  """Largest |correlation| between what two classes' labels add to the same image,
  averaged over the images: s_c = embed(x, c) - embed_neutral(x). For additive
  patterns it is (nearly) the pattern correlation; for morphological labels it
  measures the classes on real image content. 1: two classes indistinguishable."""
  s = encoder.embed_all(x_BxHxWxC) - encoder.embed_neutral(x_BxHxWxC)[None]  # K x B x ...
  k, b = s.shape[:2]
  s = np.asarray(s, np.float64).reshape(k, b, -1).transpose(1, 0, 2)  # B x K x N
  s = s - s.mean(-1, keepdims=True)
  s = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
  c = np.abs(np.einsum('bkn,bjn->bkj', s, s)).mean(0)
  np.fill_diagonal(c, 0.)
  return float(c.max())


# ----------------------------------------------------------------------------- embedding


def superpose(x_BxHxWxC, pattern_BxHxW, intensity: float, rescale: bool = True):
  """(1 - K) x + K L on every channel, then each image min-max rescaled to [0, 1]."""
  return blend(x_BxHxWxC, pattern_BxHxW[..., None], intensity, rescale)


def blend(x_BxHxWxC, label_Bx, intensity: float, rescale: bool = True):
  """(1 - K) x + K label (a pattern, or a transform of x), then each image min-max
  rescaled to [0, 1]."""
  x = (1. - intensity) * x_BxHxWxC + intensity * label_Bx
  if not rescale:
    return x
  lo = x.min(axis=(-3, -2, -1), keepdims=True)
  hi = x.max(axis=(-3, -2, -1), keepdims=True)
  return (x - lo) / jnp.maximum(hi - lo, 1e-6)


def write_pixels(x_BxHxWxC, v_BxK):
  """Overwrite the first K values of each flattened image by v (Hinton's labels)."""
  b = x_BxHxWxC.shape[0]
  flat = x_BxHxWxC.reshape(b, -1)
  flat = flat.at[:, :v_BxK.shape[-1]].set(v_BxK.astype(flat.dtype))
  return flat.reshape(x_BxHxWxC.shape)


def sample_negatives(key, y_B, num_classes: int):
  """A wrong label for every example, uniform over the K - 1 wrong classes."""
  shift = jax.random.randint(key, y_B.shape, 1, num_classes)
  return (y_B + shift) % num_classes


def hardest_negatives(scores_BxK, y_B):
  """The wrong label the model likes most: argmax of the scores with the true label
  masked out (scores: goodness per label, or linear-classifier logits)."""
  masked = jnp.where(jax.nn.one_hot(y_B, scores_BxK.shape[-1], dtype=bool), -jnp.inf, scores_BxK)
  return jnp.argmax(masked, axis=-1)


def mix_negatives(key, y_random_B, y_hard_B, rate: float):
  """Each example's negative is the hard one with probability `rate`, else the random one."""
  return jnp.where(jax.random.bernoulli(key, rate, y_random_B.shape), y_hard_B, y_random_B)


@dataclasses.dataclass(frozen=True)
class Encoder:
  """A label encoder: how class label y enters the image (see the module docstring).

  A frozen record of the encoder's constants; its three functions are methods, so a
  population of runs can vary `intensity` (K) by replacing it with a traced scalar
  (`dataclasses.replace(encoder, intensity=K)`).
  """
  kind: str                       # 'none' | 'onehot' | 'fourier' | 'morph'
  num_classes: int
  intensity: Any = 0.             # K of x_lab = (1 - K) x + K label
  rescale: bool = True            # min-max rescale every labeled image to [0, 1]
  patterns_KxHxW: Any = None      # fourier: the class patterns; morph: pictures of the elements
  offsets_KxMx2: Any = None       # morph: each class's structuring element as offsets
  radius: int = 0                 # morph: the elements' half-size
  morph_op: str = 'dilation'      # morph: MORPH_OPS key

  @property
  def label_in_input(self) -> bool:
    return self.kind != 'none'

  def pairs(self, x_BxHxWxC, key):
    raise TypeError(f'label encoder {self.kind!r} makes no label-free pairs (an encoder kind '
                    'with makes_pairs does)')

  def embed(self, x_BxHxWxC, y_B):
    """x carrying label y_B: positive data (the true label) or negative data (a wrong one)."""
    if self.kind == 'none':
      return x_BxHxWxC
    if self.kind == 'onehot':
      return write_pixels(x_BxHxWxC, jax.nn.one_hot(y_B, self.num_classes))
    if self.kind == 'fourier':
      return superpose(x_BxHxWxC, jnp.asarray(self.patterns_KxHxW)[y_B], self.intensity, self.rescale)
    return blend(x_BxHxWxC, self._morph(x_BxHxWxC, jnp.asarray(self.offsets_KxMx2)[y_B]),
                 self.intensity, self.rescale)

  def embed_neutral(self, x_BxHxWxC):
    """x carrying no particular label: the linear head's input."""
    if self.kind == 'none':
      return x_BxHxWxC
    if self.kind == 'onehot':
      return write_pixels(x_BxHxWxC, jnp.full((x_BxHxWxC.shape[0], self.num_classes),
                                              1. / self.num_classes))
    if self.kind == 'fourier':
      neutral_HxW = jnp.asarray(self.patterns_KxHxW).mean(0)
      return superpose(x_BxHxWxC, jnp.broadcast_to(neutral_HxW, x_BxHxWxC.shape[:3]),
                       self.intensity, self.rescale)
    # The mean of every class's transform: no class favoured (K transforms per image).
    b = x_BxHxWxC.shape[0]
    m = jax.vmap(lambda o: self._morph(x_BxHxWxC, jnp.broadcast_to(o, (b,) + o.shape)))(
        jnp.asarray(self.offsets_KxMx2))
    return blend(x_BxHxWxC, m.mean(0), self.intensity, self.rescale)

  def embed_all(self, x_BxHxWxC):
    """x with every candidate label: K x B x H x W x C, batched by vmap."""
    labels_K = jnp.arange(self.num_classes)
    return jax.vmap(lambda c: self.embed(x_BxHxWxC, jnp.full(x_BxHxWxC.shape[:1], c)))(labels_K)

  def _morph(self, x_BxHxWxC, offsets_BxMx2):
    return MORPH_OPS[self.morph_op](x_BxHxWxC, offsets_BxMx2, self.radius)


class LabelEncoder(Protocol):
  """What the trainer, the predictors and the figures need of a label encoder (a frozen
  dataclass: a population member's settings are put in with dataclasses.replace)."""
  __dataclass_fields__: ClassVar[dict[str, Any]]
  @property
  def kind(self) -> str: ...

  @property
  def num_classes(self) -> int: ...

  @property
  def label_in_input(self) -> bool:
    """embed / embed_all put a label into the image."""

  def embed(self, x_BxHxWxC, y_B): ...
  def embed_neutral(self, x_BxHxWxC): ...
  def embed_all(self, x_BxHxWxC): ...
  def pairs(self, x_BxHxWxC, key):
    """Label-free [positives; negatives] (an encoder kind with makes_pairs; others
    raise)."""


@registry.encoder('none')
class _NoLabel:
  label_in_input = False  # embed puts a label into the image
  makes_pairs = False     # pairs(x, key) makes label-free [positives; negatives]
  hparams: tuple[str, ...] = ()  # settings a population may vary (method.with_hparams)

  @staticmethod
  def check(cfg):
    pass

  @staticmethod
  def make(cfg, num_classes, height, width):
    return Encoder('none', num_classes)


@registry.encoder('onehot')
class _OneHot(_NoLabel):
  label_in_input = True

  @staticmethod
  def make(cfg, num_classes, height, width):
    return Encoder('onehot', num_classes)


def _check_intensity(cfg):
  need(0. <= cfg.intensity <= 1., 'labels.intensity', cfg.intensity, 'must be in [0, 1]')


@registry.encoder('fourier')
class _Fourier(_NoLabel):
  label_in_input, hparams = True, ('intensity',)

  @staticmethod
  def check(cfg):
    _check_intensity(cfg)
    need(cfg.label_set in (1, 2, 3), 'labels.label_set', cfg.label_set, 'must be 1, 2 or 3')
    need(cfg.wave_range in ('pm1', '01'), 'labels.wave_range', cfg.wave_range,
         "must be 'pm1' or '01'")
    need(cfg.diagonal in ('free', 'mode'), 'labels.diagonal', cfg.diagonal,
         "must be 'free' or 'mode'")

  @staticmethod
  def make(cfg, num_classes, height, width):
    pats = fourier_patterns(num_classes, height, width, cfg.label_set, tuple(cfg.cycles),
                            cfg.set2_cycles, cfg.phase, cfg.wave_range, cfg.diagonal)
    return Encoder('fourier', num_classes, float(cfg.intensity), bool(cfg.rescale),
                   patterns_KxHxW=pats)


@registry.encoder('morph')
class _Morph(_NoLabel):
  label_in_input, hparams = True, ('intensity',)

  @staticmethod
  def check(cfg):
    _check_intensity(cfg)
    need(cfg.morph_op in MORPH_OPS, 'labels.morph_op', cfg.morph_op, f'one of {sorted(MORPH_OPS)}')
    need(cfg.morph_se in ('lines', 'random'), 'labels.morph_se', cfg.morph_se,
         "must be 'lines' or 'random'")

  @staticmethod
  def make(cfg, num_classes, height, width):
    elems = structuring_elements(num_classes, cfg.morph_se, tuple(cfg.morph_lengths),
                                 cfg.morph_size, cfg.morph_radius, cfg.morph_seed)
    table = offsets_table(elems)
    return Encoder('morph', num_classes, float(cfg.intensity), bool(cfg.rescale),
                   patterns_KxHxW=element_images(elems), offsets_KxMx2=table,
                   radius=int(np.abs(table).max()), morph_op=cfg.morph_op)


def make_encoder(cfg, num_classes: int, height: int, width: int) -> LabelEncoder:
  """Builds the encoder named by config.labels.kind (ffjax/registry.py), checking its
  own settings first."""
  kind = registry.get('encoder', cfg.kind)
  kind.check(cfg)
  return kind.make(cfg, num_classes, height, width)
