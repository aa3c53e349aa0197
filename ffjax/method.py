"""A method is a composition of four pieces; `build` makes them from the config, once.

  encoder     how a label enters the image, and how negatives are drawn (labels.py)
  units       the stack of locally trained modules, with their heads (network.py)
  objectives  one per unit: the loss of its activations (objectives.py), or None
  predictors  class scores at evaluation (predict.py)
and, between the units, the cut pattern: where `stop_gradient` stands.

This file applies the method's mode (config.method, ffjax/modes.py: ff, hybrid, bp,
where the cuts stand and which units carry an objective) and looks the pieces up by name
(ffjax/registry.py); what a piece can do comes from its own properties
(objectives.Objective: pairs, label_in_input, predictors), never from its name. The
objectives' two families:
  pairs          the units run on [positives; negatives] (the label in the input:
                 threshold goodness, SymBa; or label-free pairs: SCFF); predictors
                 goodness (when the label is in the input) and linear (the readout)
  one pass       no label in the input; each unit's own head (ASGE spatial head, aux
                 class conv, channel groups) gives logits for a cross-entropy;
                 predictors per unit (u1..uL, last, fusion, best)
The trainer (train.py), the streamed schedule (step.py) and the pipeline stages
(pipeline.py) run a Method without knowing which one it is.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from ffjax import heads as heads_lib
from ffjax import inits
from ffjax import labels as labels_lib
from ffjax import modes
from ffjax import network as net_lib
from ffjax import objectives
from ffjax.objectives import Objective, Readout
from ffjax import predict
from ffjax import registry



@dataclasses.dataclass(frozen=True)
class Negatives:
  """Wrong labels for the negatives: uniform over the K - 1 wrong classes, and a
  fraction `rate` of them the wrong class the current model scores highest."""
  rate: float = 0.
  score: str = 'goodness'  # 'goodness' (K passes) | 'linear' (the readout, one pass)

  def draw(self, method, net, x, y, key):
    y_neg = labels_lib.sample_negatives(key, y, method.encoder.num_classes)
    if not self.rate:
      return y_neg
    if self.score == 'linear':
      scores = predict.linear_logits(net, method.encoder, x, method.readout)
    else:
      scores = predict.goodness_scores(net, method.encoder, x, method.goodness_units,
                                       method.goodness_per_theta)
    y_hard = labels_lib.hardest_negatives(jax.lax.stop_gradient(scores), y)
    return labels_lib.mix_negatives(jax.random.fold_in(key, 2), y_neg, y_hard, self.rate)


@dataclasses.dataclass(frozen=True)
class Method:
  encoder: labels_lib.LabelEncoder
  objectives: tuple[Objective | None, ...]  # per unit: an objective, or None
  trained: tuple[bool, ...]     # per unit: its objective's loss is differentiated (else
                                # only measured: the FF-CNN's first unit keeps its weights)
  cuts: tuple[bool, ...]        # per unit: stop_gradient at its input
  readout: Readout | None      # the linear head's loss
  negatives: Negatives
  predictors: tuple[str, ...]   # names: 'goodness', 'linear', 'per_unit'
  pairs: bool = False           # the units train on [positives; negatives] (2B rows)
  goodness_units: tuple = ()    # units whose goodness the goodness predictor sums
  goodness_per_theta: bool = False  # the goodness predictor divides each unit's by its theta
  diagnostic_seed: int = 1      # fixed negatives of the evaluation's diagnostics

  @property
  def label_in_input(self) -> bool:
    """The pairs differ by the label embedded in the image (threshold goodness, SymBa)."""
    return self.pairs and self.encoder.label_in_input

  @property
  def scored(self) -> tuple:
    """Units whose own head gives class logits (one-pass objectives): the per-unit
    predictors' units."""
    return tuple(l for l, o in enumerate(self.objectives) if o is not None and not o.pairs)

  def training_input(self, net, x, y, key):
    """What the units run on in training: [x + y; x + a wrong label] (label in the
    input), label-free [positives; negatives] the encoder makes of the images, or the
    images themselves."""
    if not self.pairs:
      return x
    if not self.encoder.label_in_input:
      return self.encoder.pairs(x, key)
    y_neg = self.negatives.draw(self, net, x, y, key)
    return jnp.concatenate([self.encoder.embed(x, y), self.encoder.embed(x, y_neg)])

  def diagnostic_input(self, x, y):
    """The evaluation's diagnostic pass: positives and fixed (seeded) negatives, or x."""
    if not self.pairs:
      return x
    key = jax.random.key(self.diagnostic_seed)
    if not self.encoder.label_in_input:
      return self.encoder.pairs(x, key)
    y_neg = labels_lib.sample_negatives(key, y, self.encoder.num_classes)
    return jnp.concatenate([self.encoder.embed(x, y), self.encoder.embed(x, y_neg)])

  def readout_hs(self, net, x, hs):
    """The outputs the readout reads: those of the neutral input (a second pass) when the
    units train on pairs, else those of the training pass itself."""
    if not self.pairs:
      return hs
    return net_lib.forward(net, self.encoder.embed_neutral(x), self.cuts)[1]

  def predictor_fns(self) -> dict[str, Callable]:
    """name -> f(net, encoder, x, acts=None) -> {prediction name: scores_BxK}: the
    registered predictors (predict.py) bound to this method's units."""
    return {name: functools.partial(registry.get('predictor', name), self)
            for name in self.predictors}

  @property
  def readout_units(self) -> tuple:
    return self.readout.units if self.readout is not None else ()

  def init_objective_state(self, unit_shapes) -> list:
    """Each objective's initial state (peer normalization's running means), or None.
    unit_shapes: (H, W, C) of every unit's activations (network.unit_shapes(...,
    activations=True))."""
    return [o.init_state((1,) + tuple(s)) if o is not None else None
            for o, s in zip(self.objectives, unit_shapes)]

  def with_hparams(self, hp: dict) -> 'Method':
    """This method with a population member's settings (traced scalars) put in."""
    m = self
    if 'labels.intensity' in hp:
      m = dataclasses.replace(m, encoder=dataclasses.replace(m.encoder, intensity=hp['labels.intensity']))
    if 'objective.temperature' in hp:
      t = hp['objective.temperature']

      def set_t(o):
        if isinstance(o, objectives.PeerNormalized):
          return dataclasses.replace(o, base=set_t(o.base))
        return dataclasses.replace(o, temperature=t) if 'temperature' in o.hparams else o
      m = dataclasses.replace(m, objectives=tuple(set_t(o) if o is not None else None
                                                  for o in m.objectives))
    return m


# Settings a population may vary per member (with the seed): each enters a piece as a
# traced scalar (Method.with_hparams) or the optimizer's state (optim.py).
POPULATION_KEYS = ('optim.lr', 'labels.intensity', 'objective.temperature')


def grids(config, image_shape):
  """The ASGE grid P_l of every unit (objectives.adaptive_grids)."""
  return objectives.adaptive_grids(config, net_lib.unit_shapes(config, image_shape, activations=True))


def block_ids(config) -> tuple:
  """model.blocks, or every unit its own block."""
  n = len(config.model.widths)
  return tuple(config.model.get('blocks', ())) or tuple(range(n))


def build(config, image_shape, num_classes: int, rngs: nnx.Rngs):
  """config -> (Network, Method): the parameters, and how they are trained and read."""
  n = len(config.model.widths)
  mode, p, o = modes.get(config.method), config.predict, config.objective
  obj_kind = objectives.get(o.kind)
  obj_kind.check(config, num_classes)
  one_pass = not obj_kind.pairs

  # The readout (linear head): backprop's softmax on the last unit, trained end to end;
  # threshold FF's classifier on the units' neutral-label outputs (a read-out, on
  # stop_gradient); for one-pass objectives, on request (CwComp's softmax "Sf").
  pooled = p.readout == 'pooled_sum'
  head_units: tuple[int, ...]
  if (not mode.local or one_pass) and not pooled:
    head_units = (n - 1,)
  else:
    head_units = tuple(range(1 if p.skip_first and n > 1 else 0, n))
  goodness_units = head_units if 'goodness' in obj_kind.predictors and mode.local else ()
  if p.head_units == 'last':
    head_units = (n - 1,)  # a head that does not grow with depth (streamed memory stays flat)
  if not mode.local:
    readout = objectives.Readout(head_units, detach=False, pooled=pooled)
  elif not one_pass or p.linear_head:
    readout = objectives.Readout(head_units, detach=True, pooled=pooled)
  else:
    readout = None

  def make_net(rngs):
    # Parameters: units, then their own heads, then the linear head (this order fixes
    # which random numbers each gets from the seed).
    units = net_lib.build_units(config, image_shape, rngs)
    # Every unit's own head (one-pass objectives). They exist in every mode (ff, hybrid,
    # bp), so the three share one parameter layout and a checkpoint of one can start
    # another; a mode that does not use them leaves them untouched.
    aux = obj_kind.heads(config, net_lib.unit_shapes(config, image_shape, activations=True),
                         num_classes, rngs)
    kw = dict(inits.DENSE, kernel_init=inits.zeros) if p.head_zero_init else dict(inits.DENSE)
    if pooled:
      chans = [net_lib.unit_shapes(config, image_shape)[l][2] for l in head_units]
      head = heads_lib.PooledSumHead(chans, num_classes, rngs=rngs, kernel_init=(
          inits.KAIMING if config.model.init == 'kaiming' else None))
    else:
      head = nnx.Linear(net_lib.feature_size(config, image_shape, head_units), num_classes,
                        use_bias=p.head_bias, rngs=rngs, **kw)
    m = config.model
    return net_lib.Network(units, head, aux, skips=tuple(m.skips) or None,
                           input_norm=m.input_norm, remat=m.remat)

  net = make_net(rngs)

  # Cuts and objectives.
  blocks = block_ids(config)
  cuts, carries = mode.cuts(blocks), mode.with_objective(blocks)
  objs = tuple(obj_kind.from_config(config, l) if carries[l] else None for l in range(n))
  trained = carries
  if mode.per_unit:
    # The FF-CNN paper leaves unit 1 out of the loss (it keeps its random weights): a
    # unit that sees the label pattern itself learns to score it alone.
    skip_first = obj_kind.label_in_input and not o.train_first_unit and n > 1
    trained = tuple(not (skip_first and l == 0) for l in range(n))
  if o.peer_weight and mode.per_unit:
    objs = tuple(objectives.PeerNormalized(ob, o.peer_weight, o.peer_momentum) if t else ob
                 for ob, t in zip(objs, trained))

  if not mode.local:
    predictors = ('linear',)
  else:
    predictors = obj_kind.predictors + (('linear',) if p.linear_head and 'linear' not in
                                        obj_kind.predictors else ())
  h, w, _ = image_shape
  encoder = labels_lib.make_encoder(config.labels, num_classes, h, w)
  if getattr(net_lib.unit_type(config), 'draws_pairs', False):  # scff_conv: the units make
    encoder = dataclasses.replace(encoder, in_units=True)       # the pairs, from the images
  method = Method(
      encoder=encoder, objectives=objs,
      trained=trained, cuts=cuts, readout=readout,
      negatives=Negatives(config.labels.hard_negatives, config.labels.hard_negative_score),
      predictors=predictors, pairs=obj_kind.pairs and mode.local, goodness_units=goodness_units,
      goodness_per_theta=p.goodness_scale == 'theta', diagnostic_seed=config.seed + 1)
  return net, method


def describe(method: Method) -> str:
  """One line: what the method is made of (printed at the start of a run)."""
  objs = sorted({type(o).__name__ for o in method.objectives if o is not None}) or ['none']
  cuts = ('every unit' if all(method.cuts) else 'nowhere' if not any(method.cuts) else
          'units ' + ','.join(str(l + 1) for l, c in enumerate(method.cuts) if c))
  ro = ('none' if method.readout is None else
        f"units {','.join(str(l + 1) for l in method.readout.units)}"
        f"{' (detached)' if method.readout.detach else ' (end to end)'}")
  return (f'labels {method.encoder.kind}; objectives {"/".join(objs)} on units '
          f'{",".join(str(l + 1) for l, t in enumerate(method.trained) if t) or "none"}; '
          f'cuts before {cuts}; readout {ro}; predictors {", ".join(method.predictors)}')
