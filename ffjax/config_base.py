"""The defaults every experiment config starts from, one comment per field.

Config files (configs/*.py) take `get_base()` and change what their experiment
changes; the file, with its docstring, is the experiment's record.
"""
from __future__ import annotations

import ml_collections

from ffjax import modes


def get_base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0                   # parameters, negatives and data order all derive from it
  c.method = 'ff'              # 'ff' (Forward-Forward, local losses) | 'bp' (backprop baseline) |
                               # 'hybrid' (backprop inside model.blocks, local between them)
  c.eval_on_test = True        # final record also on the official test set (False while tuning)
  c.plots = True               # figures (PNG) in the workdir at the end (needs matplotlib)
  c.tensorboard = False        # also write scalars for TensorBoard (needs tensorboardX)

  c.data = ml_collections.ConfigDict(dict(
      name='mnist',            # mnist | fashion_mnist | cifar10 | cifar100; streamed (below):
                               # imagenet | imagenet100 | imagenette | folder (any tree)
      source='raw',            # 'raw': official files; 'tfds': a prepared tfds dataset (the
                               # streamed names too: read from disk by tfds.data_source);
                               # streamed from disk (ffjax/data/stream.py): 'folder' (an image-
                               # folder tree: dir/train/<class>/*, dir/val/<class>/*) |
                               # 'array_record' (shards of experiments.pack); 'arrays': your
                               # own .npy files in data.dir (ffjax/data/arrays.py)
      image_size=0,            # streamed: images cropped to image_size x image_size
      num_classes=0,           # streamed name 'folder': how many class folders it has;
                               # source 'arrays': K (0: the largest label + 1)
      bad_images='stop',       # streamed: a file that cannot be decoded stops the run, naming
                               # it ('stop'), or is replaced by the next good one and counted
                               # ('skip')
      workers=0,               # streamed: decoding threads (0: one per core this process may
                               # use: SLURM_CPUS_PER_TASK, else its CPU affinity)
      processes=0,             # streamed: decoding worker processes instead of threads
                               # (0: threads; the batches are the same either way)
      prefetch_mb=0,           # streamed: MiB the pipeline holds at most, whatever the
                               # consumer's speed (0: what four batches ahead need; too small
                               # for two is refused with the least it needs)
      check_files=False,       # streamed: read every file of every split once before
                               # training (bad ones: 'stop' names them all, 'skip' skips them)
      tfds_name='',            # source 'tfds', streamed: the prepared dataset ('': imagenet ->
                               # imagenet2012, imagenette -> imagenette; 'name:test_split'
                               # names the held-out split, else 'validation')
      dir='',                  # data directory; '' -> $FFJAX_DATA_DIR, else the per-user
                               # cache (~/.cache/ffjax/data), where the official files of
                               # mnist, fashion_mnist, cifar10, cifar100 are fetched on first
                               # use (a folder you name is read, never written)
      download=True,           # fetch a dataset missing from the cache (False, or the
                               # environment's FFJAX_DOWNLOAD=0: say how to get it instead)
      verify_md5=True,         # check files against their official md5
      num_val=10000,           # last N official training images held out for validation (0: none)
      train_limit=0,           # > 0: train on the first N only (small-data runs, tests)
      eval_limit=0,            # > 0: evaluate on the first N of val and test only (tests)
      normalize='none',        # 'none': pixels in [0, 1]; 'standardize': minus mean, over std
      augment='none',          # 'none' | 'flip' | 'crop_flip' (random crop after zero padding,
                               # h-flip) | 'crop_flip_jitter' (+ colour jitter and random
                               # greyscale: ASGE's CIFAR recipe); on device, fixed by (seed,
                               # step), before any label is embedded (augment.py)
      crop_pad=4,              # crop_flip: padding in pixels
      mean=(),                 # standardize with these per-channel constants instead of
      std=(),                  # ffjax's training-set ones (a recipe's own; empty: ours)
      resize=0,                # > 0: images resized (bilinear) to resize x resize on the
                               # device before anything else (ASGE's code: MNIST at 32)
  ))
  c.labels = ml_collections.ConfigDict(dict(
      kind='fourier',          # 'none' | 'onehot' (Hinton) | 'fourier' (spatially extended) |
                               # 'morph' (morphological transform of the image, labels.py)
      label_set=1,             # 1: 4 orientations x 3 frequencies; 2: 1 frequency x K orientations;
                               # 3: integer wave vectors x cos/sin (orthogonal, 100+ classes)
      cycles=(2., 4., 6.),     # set 1: periods per image of the three frequencies (not in the paper)
      set2_cycles=4.,          # set 2: periods per image
      phase=0.,                # phase of every mode (not in the paper)
      intensity=0.35,          # K: x_lab = (1 - K) x + K L_c (paper's best on MNIST, 128 filters)
      rescale=True,            # min-max rescale each labeled image to [0, 1], as the paper does
      morph_op='dilation',     # morph: 'dilation' | 'erosion' | 'gradient' (labels.py)
      morph_se='lines',        # morph: structuring elements 'lines' | 'random'
      morph_lengths=(5, 9),    # morph lines: segment lengths (angles fill the rest)
      morph_size=4,            # morph random: offsets per element, the origin included
      morph_radius=3,          # morph random: window half-size
      morph_seed=0,            # morph random: fixes the label set (not the run's seed)
      hard_negatives=0.,       # fraction of negatives that are the wrong label the model scores
                               # highest (the rest uniform); costs K extra passes with 'goodness'
      hard_negative_score='goodness',  # 'goodness' (all labels) | 'linear' (head, one pass)
      wave_range='pm1',        # fourier: the wave spans [-1, 1] ('pm1') or [0, 1] ('01', a
                               # "gray-value wave"; then K means half the label strength)
      diagonal='free',         # fourier set 1: 'free' waves at 45 / 135 degrees with the
                               # nominal cycles (not periodic on the image) | 'mode': the
                               # nearest single 2-D Fourier mode (integer cycles per axis)
  ))
  c.model = ml_collections.ConfigDict(dict(
      kind='conv',             # 'conv' | 'dense'
      net='',                  # the registered network (ffjax/nets/) these fields came from,
                               # set with nets.apply(c.model, name, **args); '' none
      net_args={},             # the arguments it was built with (its defaults otherwise)
      widths=(128, 128, 128),  # filters (conv) or neurons (dense) per unit
      kernels=(7, 7, 7),       # conv kernel size per unit
      strides=(),              # conv stride per unit (empty: all 1)
      pools=(1, 1, 1),         # pool window per unit (1: none; the FF-CNN paper found pooling hurt)
      pool_kind='max',         # 'max' | 'rms' (sqrt of mean square, ASGE)
      norm='layer',            # between units, once or per unit: 'layer' (mean/std over the
                               # whole map, Ba et al.) | 'channel' (over channels, per position,
                               # ASGE) | 'rms' (Hinton) | 'none'
      norms=(),                # one of those per unit, overriding norm (empty: norm for all)
      input_norm='none',       # normalization of the network's input (the FF-MLP uses 'rms')
      full_grad_relu=False,    # dense units: ReLU whose backward is the identity (FF-MLP reference)
      init='lecun',            # 'lecun' | 'hinton' (dense units: N(0, 1/out)) | 'kaiming'
                               # (conv units and pooled heads: N(0, 2/fan_in), ASGE's code) |
                               # 'xavier' (torch's xavier_uniform_; scff_conv units also
                               # torch's default bias, U(+-1/sqrt(fan_in)))
      goodness_at='output',    # conv units: the loss reads the unit's output ('output', after
                               # the pool) or the activation before the pool ('pre_pool')
      dropout=0.,              # conv units: dropout rate on the output (training only)
      order='conv_act_norm',   # conv units: conv -> act -> [pool] -> norm (the output passed
                               # on normalized) | 'conv_norm_act': conv -> norm -> act, passed
                               # on as it is (the FF-CNN paper's figure)
      batch_norm=False,        # conv units: batch norm between conv and ReLU (one-pass objectives
                               # and backprop; running averages at evaluation)
      skips=(),                # per unit: -1, or j: add the input unit j received before the ReLU
                               # (residual connections, ResNet); empty: none
      blocks=(),               # block id per unit, e.g. (0, 0, 1, 1): hybrid trains a block by
                               # its last unit's loss (empty: every unit its own block)
      acts=(),                 # conv units: activation per unit, 'relu' | 'hardswish' | 'none'
                               # (a linear projection, MobileNetV3); empty: all 'relu'
      depthwise=(),            # conv units: per unit, True for a depthwise conv (one filter per
                               # input channel; width = input channels); empty: none
      se=(),                   # conv units: per unit, True for squeeze-excite after the activation
      groups=(),               # conv units: per unit, grouped conv (CwComp: one group per class);
                               # empty: 1 (a full conv)
      bn_position='pre_act',   # batch_norm between conv and activation ('pre_act'), or after
                               # the activation and pool ('post_pool', CwComp)
      conv_impl='auto',        # 'lax': XLA's convolution and its gradient | 'matmul': the same
                               # convolution, weight gradient as matrix products (conv.py;
                               # faster on XLA:CPU, benchmarks/conv_grad.py) | 'auto': matmul
                               # on CPU for kernels up to 3x3, else lax
      dtype='float32',         # the units' convolutions / matrix products: 'float32' |
                               # 'bfloat16' (mixed precision, for GPUs: parameters, batch
                               # norm, goodness and losses stay float32)
      pads=(),                 # scff_conv units: padding per unit before a VALID conv
      pad_mode='reflect',      # scff_conv units: 'reflect' | 'zeros'
      pool_kinds=(),           # scff_conv units: per unit 'max' | 'avg' (empty: 'max')
      pool_strides=(),         # scff_conv units: per unit (empty: the window, model.pools)
      pool_pads=(),            # scff_conv units: per unit (empty: 0)
      pair_at=(),              # scff_conv units: per unit, 1: the unit makes its own pairs
                               # from the positives it receives (the first unit must: it
                               # receives images); 0: it takes both streams as they come
      remat=False,             # recompute unit activations in the backward pass (jax.checkpoint);
                               # for backprop's memory: FF's units have no backward across them
  ))
  c.objective = ml_collections.ConfigDict(dict(
      kind='threshold',        # 'threshold': goodness vs threshold on positive/negative images
                               # (label in the input) | 'spatial': ASGE, label-free, cross-entropy
                               # of a linear map of each unit's spatial goodness | 'per_class':
                               # scalable FF, an aux conv with one channel per class, its mean
                               # square the class's goodness | 'channel_groups': CwComp, the
                               # unit's channels cut into one group per class
      grid_min=2,              # spatial: the grid P of the widest unit (goodness.adaptive_grid)
      alpha=1.,                # spatial: P_l = grid_min * (C_max / C_l)^(alpha / 2)
      projection='trained',    # spatial: 'trained' linear map | 'fixed' random projection |
                               # 'fixed_bias': fixed random map and bias, N(0, 1/K) (ASGE's code)
      aux_kernel=3,            # per_class: kernel of the auxiliary conv (one channel per class)
      train_first_unit=False,  # the paper excludes unit 1 from the loss (it keeps random weights)
      reduce='sum_pair',       # 'sum_pair': softplus(t-G+) + softplus(G- - t); 'mean_all': half of it
      temperature=1.,          # sigmoid((G - theta) / T); 1 is the papers' loss (see goodness.ff_loss)
      peer_weight=0.,          # peer normalization weight (FF-MLP reference: 0.03)
      peer_momentum=0.9,       # its running mean's momentum
  ))
  c.predict = ml_collections.ConfigDict(dict(
      # threshold objective: 'goodness' (all labels) and 'linear' (head on the neutral
      # label). spatial objective: 'u<l>' (unit l alone), 'last', 'fusion' (mean of the
      # units' probabilities), 'best' (the unit best on validation; on test, that unit).
      skip_first=True,         # goodness sum and linear head leave out unit 1
      linear_head=False,       # one-pass objectives: also train a softmax classifier on the last
                               # unit's output as a constant (acc_linear; CwComp's "Sf")
      head_units='all',        # threshold FF's linear head reads 'all' units' outputs (as
                               # the paper) or the 'last' only (its size then does not grow
                               # with depth: streamed memory stays flat)
      head_bias=True,          # linear head with a bias
      head_zero_init=False,    # linear head starts at zero (FF-MLP reference)
      readout='concat',        # the linear head reads the units' outputs flattened and
                               # concatenated | 'pooled_sum': each unit's output averaged over
                               # positions, a linear map per unit, logits summed (ASGE's code;
                               # with linear_head for one-pass objectives)
      goodness_scale='none',   # goodness predictor: 'none' sums the units' goodness | 'theta':
                               # each divided by its threshold (its number of neurons)
  ))
  c.optim = ml_collections.ConfigDict(dict(
      name='adam',             # 'adam' | 'adamw' (decoupled weight decay) | 'sgd'
      lr=5e-5,                 # paper's best FF run; BP baseline 1e-3
      lr_min=0.,               # cosine_epochs: the last epoch's learning rate
      momentum=0.9,            # sgd only
      weight_decay=0.,         # coupled L2 on the units (torch semantics)
      head_lr=0.,              # 0: same as lr
      unit_lr_scale=(),        # one factor per unit multiplying lr (empty: all 1)
      unit_stop_epochs=(),     # per unit, the epoch after which it is frozen (0: never; empty:
                               # none): CwComp's layer schedule
      unit_start_epochs=(),    # per unit, the epoch it starts training at (frozen before, its
                               # optimizer fresh then; empty: all at 0): SCFF's staged recipe
      unit_weight_decay=(),    # per unit, overriding weight_decay (empty: weight_decay for all)
      decay_rate=1.,           # schedule 'exponential': the factor per decay_every steps
      decay_every=1,           # schedule 'exponential': steps between decays
      unit_decay_rate=(),      # per unit, overriding decay_rate (empty: decay_rate for all)
      unit_decay_every=(),     # per unit, overriding decay_every
      head_name='',            # optimizer of the linear head ('' : the units' one) 'adam' | 'sgd'
      head_weight_decay=0.,    # coupled L2 on the head
      schedule='half_cooldown',  # constant for half the steps, then linear to 0 | 'constant' |
                               # 'cosine_epochs': cosine from lr to lr_min over the epochs,
                               # constant within an epoch (torch's CosineAnnealingLR per epoch) |
                               # 'exponential': decay_rate every decay_every steps (the units;
                               # the head stays constant)
  ))
  c.probe = ml_collections.ConfigDict(dict(
      epochs=0,                # > 0: after training, a linear probe on the frozen units
                               # (ffjax/probe.py; experiments.probe on a finished run)
      batch_size=64,
      lr=1e-3,                 # Adam; halved at 20, 35, 50, 60, 70, 80, 90% of the epochs
      dropout=0.,              # on the features
      pool=1,                  # extra average pool of each unit's output (1: none)
      standardize=True,        # each unit's features standardized per example
      units=(),                # the units read (0-based; empty: all)
      augment='',              # '': the run's data.augment
      eval_every_epochs=10,    # val accuracy on the curve (and after the last epoch)
  ))
  c.transfer = ml_collections.ConfigDict(dict(
      init_from='',            # a finished run's workdir: start the units from its checkpoint
                               # (same model and input shape; the heads start new)
      train='all',             # 'all': fine-tune everything | 'heads': linear probe (units frozen)
  ))
  c.train = ml_collections.ConfigDict(dict(
      batch_size=50,
      num_epochs=200,
      eval_batch_size=500,     # at most; goodness inference holds K x this many images at once
      log_every_steps=200,     # console line and metrics.jsonl record
      eval_every_epochs=1,     # validation accuracy and per-unit diagnostics
      checkpoint_every_steps=0,  # > 0: also checkpoint inside epochs (always at epoch ends)
      schedule='fused',        # 'fused': one jax.grad of the summed unit losses | 'streamed':
                               # unit by unit (forward, loss, gradient of one unit before the
                               # next): the same update, peak memory flat in depth |
                               # 'pipelined': units cut into stages, one per device, stage s
                               # on batch t - s (ffjax/pipeline.py)
      pipeline_stages=0,       # pipelined: number of stages (0: one per device)
      data_on_device='auto',   # 'auto': training images resident on the device(s) when they
                               # fit (raw files), many steps per call | 'yes' | 'no' (fed from
                               # the host, one step per call: tfds, data too large)
      test_at_best_val='',     # a predictor ('linear', 'fusion', ...): also evaluate the test set
                               # whenever that predictor's validation accuracy is the best so
                               # far; eval.json's test_at_best_val is the test number of the
                               # best-validation epoch (ASGE's code reports that one)
      steps_per_call=0,        # device loop: steps per dispatched call (lax.scan); 0: 100 on
                               # an accelerator, 1 on a CPU (XLA:CPU runs conv gradients
                               # inside a loop 40-60x slower: docs/RESULTS.md section 19)
      population=ml_collections.ConfigDict(dict(
          # S runs trained at once, vmapped (ffjax/population.py): every seed times every
          # combination of the values given; empty: a single run.
          seeds=(),            # e.g. (0, 1, 2, 3, 4); empty: config.seed
          lr=(),               # optim.lr values
          K=(),                # labels.intensity values
          temperature=(),      # objective.temperature values
      )),
  ))
  return c


def apply_common_args(c, args: dict, tiny=None) -> None:
  """Arguments every config understands: method=ff|bp|hybrid, tiny, seed=N, epochs=N,
  seeds=N (a population of N seeds from seed), conv=auto|lax|matmul (model.conv_impl),
  bf16 (model.dtype='bfloat16').

  Order: the method, then `tiny` (the sizes every config shrinks to, then the config's
  own `tiny(c)`), then the values the user gave (seed, epochs, ...): an argument given
  explicitly always wins over a variant's default (`tiny,epochs=4` trains 4 epochs).
  A config applies its own explicit arguments (K=, width=, ...) after this call."""
  if 'method' in args:  # the mode's own defaults (ffjax/modes.py: bp's plain images, ...)
    modes.get(args['method']).set_defaults(c)
  if args.get('tiny'):
    # Seconds on a CPU: for tests and for trying the pipeline.
    c.model.widths = tuple(8 for _ in c.model.widths)
    c.model.kernels = tuple(3 for _ in c.model.widths)
    c.data.train_limit = 1000
    c.data.eval_limit = 200  # val, test and the calibration: evaluation is most of a tiny run
    c.train.batch_size = 50
    c.train.num_epochs = 2
    c.optim.lr = 1e-3  # so that 40 steps show learning
    c.plots = False
    c.train.log_every_steps = 10
    c.train.eval_batch_size = 250
    if tiny is not None:
      tiny(c)
  if 'seed' in args:
    c.seed = int(args['seed'])
  if 'epochs' in args:
    c.train.num_epochs = int(args['epochs'])
  if 'seeds' in args:
    c.train.population.seeds = tuple(range(c.seed, c.seed + int(args['seeds'])))
  if 'conv' in args:
    c.model.conv_impl = args['conv']
  if args.get('bf16'):
    c.model.dtype = 'bfloat16'


COMMON_ARGS = ('method', 'seed', 'seeds', 'epochs', 'tiny', 'conv', 'bf16')
