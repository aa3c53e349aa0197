"""SCFF's first layer at CPU size, ffjax's side (docs/RESULTS.md section 27).

  FFJAX_DATA_DIR=../shared/data python benchmarks/scff_cpu.py --out=/tmp/scff_ffjax.json

The authors' layer 1 (configs/scff.py's staged recipe, its first stage: 96 filters 5x5,
AdamW 0.01, thresholds 0 / 1, lambda 0.0012) trained on the first --train CIFAR-10
training images for --epochs epochs (batches of 100, flips), then their readout (the
probe: avg pool 2, stdnorm, dropout 0.1 as their one-layer run, Adam 1e-3 with the
halvings, batches of 64 with flips) for --probe_epochs epochs on the same images; tested
on the first 1,000 official test images. Three readings of the same probe: the trained
layer, the same layer at its init (never trained: paired), and the authors' shipped
trained layer 1 (tests/fixtures/scff/scff_cifar.npz). Prints per-epoch mean loss and its
three terms, and every accuracy, as JSON.
"""
import argparse
import json
import pathlib
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import configs  # noqa: E402
from ffjax import metrics, probe, readback, train  # noqa: E402

PER_UNIT = ('widths', 'kernels', 'pads', 'pools', 'pool_strides', 'pool_pads', 'pool_kinds',
            'acts', 'pair_at')


def layer1_config(n_train: int, epochs: int, probe_epochs: int):
  c = configs.get('scff', 'recipe=staged')
  for key in PER_UNIT:
    c.model[key] = c.model[key][:1]
  for key in ('scff_theta_pos', 'scff_theta_neg', 'scff_lambda'):
    c.objective[key] = c.objective[key][:1]
  for key in ('unit_lr_scale', 'unit_weight_decay', 'unit_decay_rate', 'unit_decay_every',
              'unit_start_epochs', 'unit_stop_epochs'):
    c.optim[key] = c.optim[key][:1]
  c.data.train_limit, c.data.num_val = n_train, 0
  c.train.num_epochs, c.train.log_every_steps, c.plots = epochs, 1, False
  c.probe.epochs, c.probe.dropout = probe_epochs, 0.1  # their NL=1 readout: layer 1's out_dropout
  return c


def epoch_means(workdir, steps_per_epoch: int) -> list:
  """Per epoch: the mean of the loss and its terms over its steps (one record a step)."""
  rs = [r for r in metrics.read(workdir) if 'train/loss_u1' in r]
  out = []
  for e in range(len(rs) // steps_per_epoch):
    part = rs[e * steps_per_epoch:(e + 1) * steps_per_epoch]
    out.append({k: float(np.mean([r[f'train/{k}_u1'] for r in part]))
                for k in ('loss', 'loss_pos', 'loss_neg', 'loss_reg', 'g_pos', 'g_neg')})
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--train', type=int, default=5000)
  ap.add_argument('--epochs', type=int, default=2)
  ap.add_argument('--probe_epochs', type=int, default=10)
  ap.add_argument('--out', default='')
  args = ap.parse_args()
  res, root = {'train': args.train, 'epochs': args.epochs, 'probe_epochs': args.probe_epochs}, pathlib.Path(tempfile.mkdtemp())
  for name, scale in (('trained', 1.), ('untrained', 0.)):
    c = layer1_config(args.train, args.epochs, args.probe_epochs)
    c.optim.unit_lr_scale = (scale,)
    t0 = time.time()
    train.train_and_evaluate(c, root / name)
    res[f'{name}_train_s'] = round(time.time() - t0, 1)
    if scale:
      res['loss_per_epoch'] = epoch_means(root / name, args.train // c.train.batch_size)
    p = readback.probe_run(root / name)
    res[name] = {'test': p['test'], 'seconds': p['seconds'], 'loss': p['curve'][-1]['loss']}
  # The authors' shipped layer 1, read by the same probe (on the untrained run's net).
  r = readback.restore_run(root / 'untrained')
  f = np.load(REPO / 'tests' / 'fixtures' / 'scff' / 'scff_cifar.npz')
  params = jax.tree.map(jnp.asarray, jax.device_get(r.state['params']))
  params['units'][0]['conv']['kernel'][...] = jnp.asarray(f['l1_kernel']).transpose(2, 3, 1, 0)
  params['units'][0]['conv']['bias'][...] = jnp.asarray(f['l1_bias'])
  p = probe.train_probe(r.config.probe, graphdef=r.parts.graphdef, method=r.method,
                        preprocess=r.parts.preprocess, params=params,
                        rest=jax.device_get(r.state['rest']), dataset=r.dataset, seed=r.config.seed)
  res['authors_weights'] = {'test': p['test'], 'seconds': p['seconds'], 'loss': p['curve'][-1]['loss']}
  print(json.dumps(res, indent=1))
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == '__main__':
  main()
