"""How distinguishable each label set's classes are, on real images: one JSON line per set.

  python -m benchmarks.label_sets                 # CIFAR-10 and MNIST training images
  python -m benchmarks.label_sets --images 64

Two measures (ffjax/labels.py): `pattern_corr`, the largest |correlation| between two
classes' patterns (additive sets only), and `signal_corr`, the largest |correlation|
between what two classes' labels add to the same image, averaged over `--images` of the
dataset's first training images (1: two classes look the same to the network).
"""
import argparse
import json
from pathlib import Path

import jax.numpy as jnp

from ffjax import config_base, data, labels

SETS = {  # name: (classes, labels fields)
    'fourier_set1': (10, dict(kind='fourier', label_set=1)),
    'fourier_set2': (10, dict(kind='fourier', label_set=2)),
    'fourier_set3': (10, dict(kind='fourier', label_set=3)),
    'fourier_set3_100': (100, dict(kind='fourier', label_set=3)),
    'morph_lines_dilation': (10, dict(kind='morph', morph_op='dilation', morph_se='lines')),
    'morph_lines_gradient': (10, dict(kind='morph', morph_op='gradient', morph_se='lines')),
    'morph_random_100': (100, dict(kind='morph', morph_op='dilation', morph_se='random',
                                   morph_size=12, morph_radius=4)),
}


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--images', type=int, default=32)
  ap.add_argument('--datasets', default='cifar10,mnist')
  a = ap.parse_args()
  root = data.data_dir(None)
  for ds in a.datasets.split(','):
    (x_tr, _), _ = data.load_raw(ds, Path(root), True)
    x = jnp.asarray(x_tr[:a.images], jnp.float32) / 255.
    for name, (k, fields) in SETS.items():
      cfg = config_base.get_base().labels
      cfg.update(fields)
      enc = labels.make_encoder(cfg, k, x.shape[1], x.shape[2])
      rec = {'bench': 'label_sets', 'set': name, 'classes': k, 'data': f'{ds} train[:{a.images}]',
             'signal_corr': round(labels.label_signal_correlation(enc, x), 3)}
      if enc.kind == 'fourier':
        rec['pattern_corr'] = round(labels.max_pairwise_correlation(enc.patterns_KxHxW), 3)
      print(json.dumps(rec), flush=True)


if __name__ == '__main__':
  main()
