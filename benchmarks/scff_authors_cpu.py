"""SCFF's first layer at CPU size, the authors' side (docs/RESULTS.md section 27): their
own code at the budget of benchmarks/scff_cpu.py. Not part of ffjax: run it in a separate
torch virtualenv from a checkout of their repository at a6fc0f8 (as
tests/fixtures/scff/make_fixture.py):

  cd contrastive-forward-forward && /tmp/authors/bin/python <ffjax>/benchmarks/scff_authors_cpu.py \
      --cifar=<data>/cifar10/cifar-10-batches-bin --out=/tmp/scff_authors.json

Their layer 1 (create_layer with layer 1 of their config.json) trained by their train() on
the first --train training images (their transform_train: flips; batches of 100) for
--epochs epochs, recording each step's loss and its three terms (recomputed from the
relu(z) their loop computes, checked to sum to the loss it backpropagates); then their
readout functions (build_classifier, train_readout, test_readout, CustomStepLR) for
--probe_epochs epochs (their evaluate_model is fixed at 50) on the same images in batches
of 64 with flips, tested on the first 1,000 official test images: on the layer they just
trained, on the same layer at its init, and on their shipped trained layer 1.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.getcwd())
import ContrastFF_CIFAR as theirs  # noqa: E402

_load = torch.load  # their weights were saved on a GPU: read onto the CPU
torch.load = lambda *a, **k: _load(*a, **{'map_location': 'cpu', **k})


def read_cifar(path, n):
  raw = np.fromfile(path, np.uint8, count=n * 3073).reshape(n, 3073)
  return raw[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), raw[:, 0].astype(np.int64)


class Images(Dataset):
  """Their datasets' __getitem__, over arrays: a PIL image through their transform."""

  def __init__(self, x, y, transform, quad=False):
    self.x, self.y, self.t, self.quad = x, y, transform, quad

  def __len__(self):
    return len(self.y)

  def __getitem__(self, i):
    img = self.t(theirs.ToPILImage()(self.x[i]))
    return (img, img, img, int(self.y[i])) if self.quad else (img, int(self.y[i]))


def readout(net, pool, extra_pool, epochs, sup, test, dropout):
  torch.manual_seed(42)  # as their evaluate_model
  cfg = theirs.EvaluationConfig(device='cpu', dims=(1, 2, 3), dims_in=(1, 2, 3), dims_out=(1, 2, 3),
                                stdnorm_out=True, out_dropout=dropout, Layer_out=[0],
                                pre_std=True, all_neurons=False)
  dims = [net.output_channels * 16 * 16]
  clf = theirs.build_classifier(theirs.calculate_output_length(dims, [net], [extra_pool], [0], False), cfg)
  opt = torch.optim.Adam(clf.parameters(), lr=0.001)
  sched = theirs.CustomStepLR(opt, nb_epochs=epochs)
  crit = torch.nn.CrossEntropyLoss()
  t0 = time.time()
  for epoch in range(epochs):
    theirs.train_readout(clf, [net], [pool], [extra_pool], sup, crit, opt, cfg, epoch)
    sched.step()
  acc = theirs.test_readout(clf, [net], [pool], [extra_pool], test, crit, cfg, epochs - 1, 'Test')
  return {'test': acc, 'seconds': round(time.time() - t0, 1)}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--cifar', required=True)
  ap.add_argument('--train', type=int, default=5000)
  ap.add_argument('--epochs', type=int, default=2)
  ap.add_argument('--probe_epochs', type=int, default=10)
  ap.add_argument('--out', default='')
  args = ap.parse_args()
  torch.set_num_threads(os.cpu_count())
  cfg = json.load(open('config.json'))['CIFAR']
  lc, oc = cfg['layer_configs'][0], cfg['opt_configs'][0]
  xs, ys = zip(*(read_cifar(os.path.join(args.cifar, f'data_batch_{i}.bin'), 10000) for i in range(1, 6)))
  x_tr, y_tr = np.concatenate(xs)[:args.train], np.concatenate(ys)[:args.train]
  x_te, y_te = read_cifar(os.path.join(args.cifar, 'test_batch_first1000.bin'), 1000)
  torch.manual_seed(1234)
  train_loader = DataLoader(Images(x_tr, y_tr, theirs.transform_train, quad=True), batch_size=100, shuffle=True)
  sup = DataLoader(Images(x_tr, y_tr, theirs.transform_train), batch_size=64, shuffle=True)
  test = DataLoader(Images(x_te, y_te, theirs.transform_test), batch_size=1000, shuffle=False)

  torch.manual_seed(1234)
  net, pool, extra_pool, opt, sched = theirs.create_layer(lc, oc, load_params=False, device='cpu')
  net.concat = 1
  init = {k: v.clone() for k, v in net.state_dict().items()}
  # Record each step: the loss their loop backpropagates, and relu(z) of the positives and
  # negatives it computes just before (nets[i].relu(x), nets[i].relu(x_neg)).
  steps, seen = [], []
  hook = net.relu.register_forward_hook(lambda m, inp, out: seen.append(out.detach()))
  backward = torch.Tensor.backward

  def record(self, *a, **k):
    yp, yn = (t.pow(2).mean([1]) for t in seen[-2:])
    pos = torch.log(1 + torch.exp(-yp + oc['th1'])).mean([1, 2]).mean()
    neg = torch.log(1 + torch.exp(yn - oc['th2'])).mean([1, 2]).mean()
    reg = oc['lamda'] * torch.norm(yp, p=2, dim=(1, 2)).mean()
    steps.append([float(self), float(pos), float(neg), float(reg), float(yp.mean()), float(yn.mean())])
    seen.clear()
    return backward(self, *a, **k)
  torch.Tensor.backward = record
  t0 = time.time()
  try:
    theirs.train([net], 'cpu', [opt], [sched], [oc['th1']], [oc['th2']], (1, 2, 3), (1, 2, 3),
                 args.epochs, [pool], 1, 1, [oc['lamda']], 0, [oc['period']], [extra_pool], False,
                 [0], False, train_loader, None, None, None, True, True, False, 1, 1, None)
  finally:
    torch.Tensor.backward = backward
    hook.remove()
  train_s = time.time() - t0
  s = np.array(steps)
  assert np.allclose(s[:, 0], s[:, 1:4].sum(1), rtol=1e-5, atol=1e-6), 'terms do not sum to the loss'
  per = len(s) // args.epochs
  names = ('loss', 'loss_pos', 'loss_neg', 'loss_reg', 'g_pos', 'g_neg')
  res = {'train': args.train, 'epochs': args.epochs, 'probe_epochs': args.probe_epochs,
         'trained_train_s': round(train_s, 1),
         'loss_per_epoch': [dict(zip(names, map(float, s[e * per:(e + 1) * per].mean(0))))
                            for e in range(args.epochs)]}
  net.eval()
  res['trained'] = readout(net, pool, extra_pool, args.probe_epochs, sup, test, oc['out_dropout'])
  net.load_state_dict(init)
  res['untrained'] = readout(net, pool, extra_pool, args.probe_epochs, sup, test, oc['out_dropout'])
  net.load_state_dict(torch.load('./results/params_CIFAR_l0.pth'))
  res['authors_weights'] = readout(net, pool, extra_pool, args.probe_epochs, sup, test, oc['out_dropout'])
  print(json.dumps(res, indent=1))
  if args.out:
    open(args.out, 'w').write(json.dumps(res, indent=1))


if __name__ == '__main__':
  main()
