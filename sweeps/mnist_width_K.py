"""The small real sweep of docs/RESULTS.md: 2 widths x 2 label intensities x 3 seeds on the
CPU-sized MNIST FF-CNN, 1 epoch each (about 12 x 2.5 min on 2 CPU cores).
  ./launch.sh sweeps/mnist_width_K.py && python -m experiments.summarize runs/mnist_width_K
"""


def get_sweep():
  return dict(config='configs/mnist.py', base='cpu',
              grid={'width': [8, 16], 'K': [0.25, 0.35]}, seeds=[0, 1, 2],
              flags=['--config.train.num_epochs=1'], out='runs/mnist_width_K')
