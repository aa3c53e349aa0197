"""A run assembled from its config, once: the network and its method (method.py, the four
pieces), the optimizer (optim.py), the input preprocessing (preprocess.py), the step (step.py),
the schedule of steps, the population's members; the initial training state; and the
loop that feeds batches to the step (loop.py, or pipeline.py).

The trainer (train.py), a run read back from its directory (rundir.py) and the benchmarks
build runs through here, so they all train the same thing.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from ffjax import data as data_lib
from ffjax import loop as loop_lib
from ffjax import method as method_lib
from ffjax import network as net_lib
from ffjax import optim
from ffjax import parallel
from ffjax import population as pop_lib
from ffjax.data import preprocess as prep_lib
from ffjax import step as step_lib



@dataclasses.dataclass
class Assembly:
  """Everything a run is built from, built once from its config."""
  config: ml_collections.ConfigDict
  net: net_lib.Network        # on the host, with the first member's initial parameters
  method: method_lib.Method
  graphdef: nnx.GraphDef
  tx: optax.GradientTransformation  # the optimizer (optim.py)
  lr_fn: Callable             # lr(step), for the records
  preprocess: prep_lib.Preprocess
  step: Callable              # step.make_step: (state, x_u8, y) -> (state, metrics)
  image_shape: tuple
  num_classes: int
  steps_per_epoch: int
  total_steps: int
  members: list               # population members, or [] for a single run


def build(config, image_shape, num_classes: int, num_train: int) -> Assembly:
  """image_shape: the stored images' (H, W, C); the units see preprocess.output_shape."""
  image_shape = prep_lib.output_shape(config.data, image_shape)
  net, method = method_lib.build(config, image_shape, num_classes, nnx.Rngs(config.seed))
  if config.transfer.train == 'heads':
    for u in net.units:
      u.eval()  # linear probe: frozen units, batch norm on its running averages (in the graph)
  spe = num_train // config.train.batch_size
  total = spe * config.train.num_epochs
  tx, lr_fn = optim.for_run(config, len(net.units), total, spe)
  graphdef = step_lib.split(net)[0]
  prep = prep_lib.make(config.data)
  schedule = config.train.schedule
  return Assembly(config, net, method, graphdef, tx, lr_fn, prep,
               step_lib.make_step(method, graphdef, tx, prep, 'streamed' if schedule == 'streamed' else 'fused'),
               tuple(image_shape), num_classes, spe, total, pop_lib.members(config))


def fresh_state(config, parts: Assembly, *, load_transfer: bool = True, net=None) -> dict:
  """A new run's training state (on the host). net: this config's network if already
  built (else built from config.seed)."""
  if net is None:
    net, _ = method_lib.build(config, parts.image_shape, parts.num_classes, nnx.Rngs(config.seed))
  if config.transfer.init_from and load_transfer:
    # Transfer: the units (and their batch-norm statistics) of another run; the heads
    # are new, for this dataset's classes.
    from ffjax import transfer
    transfer.load_units(config.transfer.init_from, net)
  _, params, rest = step_lib.split(net)
  tx, _ = optim.for_run(config, len(net.units), parts.total_steps, parts.steps_per_epoch)
  hp = {key: jnp.float32(config[key.split('.')[0]][key.split('.')[1]])
        for key in sorted({k for m in parts.members for k, _ in m.settings} - {'optim.lr'})}
  return {'step': jnp.zeros((), jnp.int32), 'seed': jnp.int32(config.seed), 'params': params,
          'rest': rest, 'opt_state': tx.init(params),
          'obj_state': parts.method.init_objective_state(
              net_lib.unit_shapes(config, parts.image_shape, activations=True)),
          'hparams': hp, 'elapsed_s': jnp.zeros((), jnp.float32)}


def init_state(parts: Assembly, mesh, *, load_transfer: bool = True) -> dict:
  """The training state, replicated over the mesh: one run's, or a population's
  (every member's state stacked on a leading axis); a pipelined run's optimizer state
  is every stage's (pipeline.initial_opt_state)."""
  config = parts.config
  if not parts.members:
    state = fresh_state(config, parts, load_transfer=load_transfer, net=parts.net)
  else:
    states = [fresh_state(pop_lib.member_config(config, m), parts, load_transfer=load_transfer)
              for m in parts.members]
    state = jax.tree.map(lambda *v: jnp.stack(v), *states)
  if config.train.schedule == 'pipelined':
    from ffjax import pipeline
    state = dict(state, opt_state=pipeline.initial_opt_state(config, parts))
  return parallel.put_replicated(mesh, state)


def member_state(state, i: int):
  """Member i's slice of a population's state."""
  return jax.tree.map(lambda v: v[i], state)


def make_loop(parts: Assembly, mesh, dataset):
  """(runner, data on the device?, steps per call): how batches reach the step."""
  config, t = parts.config, parts.config.train
  bsz, spe = t.batch_size, parts.steps_per_epoch
  if t.schedule == 'pipelined':
    from ffjax import pipeline
    return pipeline.PipelineLoop(config, parts.net, parts.method, dataset.train, bsz, spe,
                                 parts.total_steps), False, max(1, steps_per_call(config))
  on_device = t.data_on_device == 'yes' or (t.data_on_device == 'auto' and data_lib.source_of(config.data).to_device
                                            and loop_lib.fits_on_device(dataset))
  if on_device:
    k = steps_per_call(config)
    runner = loop_lib.DeviceLoop(parts.step, mesh, dataset.train, bsz, spe, k, bool(parts.members))
    return runner, True, (k if k > 1 else 25)  # k = 1: up to 25 single-step calls per run
  return loop_lib.HostLoop(parts.step, mesh, dataset.train, bsz, spe, bool(parts.members)), False, 1


SCHEDULES = ('fused', 'streamed', 'pipelined')


def check_train(t, num_devices: int) -> None:
  """config.train's own settings: sizes, the schedule, the loop."""
  from ffjax.errors import need
  need(t.batch_size > 0, 'train.batch_size', t.batch_size, 'must be positive')
  need(t.batch_size % num_devices == 0, 'train.batch_size', t.batch_size,
       f'must be divisible by the {num_devices} devices')
  need(t.eval_batch_size > 0 and t.eval_batch_size % num_devices == 0, 'train.eval_batch_size',
       t.eval_batch_size, f'must be positive and divisible by the {num_devices} devices')
  need(t.num_epochs > 0, 'train.num_epochs', t.num_epochs, 'must be positive')
  need(t.log_every_steps > 0, 'train.log_every_steps', t.log_every_steps, 'must be positive')
  need(t.eval_every_epochs >= 1, 'train.eval_every_epochs', t.eval_every_epochs,
       'must be >= 1 (the last epoch is always evaluated)')
  need(t.checkpoint_every_steps >= 0, 'train.checkpoint_every_steps', t.checkpoint_every_steps,
       'must be >= 0 (0: at epoch ends only)')
  need(t.schedule in SCHEDULES, 'train.schedule', t.schedule, f'one of {SCHEDULES}')
  need(t.data_on_device in ('auto', 'yes', 'no'), 'train.data_on_device', t.data_on_device,
       "must be 'auto', 'yes' or 'no'")
  need(t.steps_per_call >= 0, 'train.steps_per_call', t.steps_per_call, 'must be >= 0 (0: auto)')


def steps_per_call(config) -> int:
  """The scan length of a device call: train.steps_per_call, or (0) 100 on an
  accelerator and 1 on a CPU: XLA:CPU runs a convolution's weight gradient 40-60x
  slower inside a loop than outside one (docs/RESULTS.md section 19), and a CPU step
  (milliseconds) hides its own dispatch."""
  k = config.train.steps_per_call
  return k if k > 0 else (1 if jax.default_backend() == 'cpu' else 100)
