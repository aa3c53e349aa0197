"""The small real sweep of docs/RESULTS.md (issue: research workflow): 2 widths x 2 label
intensities x 3 seeds of the CPU-sized MNIST FF-CNN, 1 epoch on the first 10,000 training
images, evaluated on the first 2,000 validation and test images. About 1.5 minutes a run
on 2 CPU cores.
  ./launch.sh sweeps/mnist_width_K.py && python -m experiments.summarize runs/mnist_width_K
"""


def get_sweep():
  return dict(config='configs/mnist.py', base='cpu',
              grid={'width': [8, 16], 'K': [0.25, 0.35]}, seeds=[0, 1, 2],
              flags=['--config.train.num_epochs=1', '--config.data.train_limit=10000',
                     '--config.data.eval_limit=2000', '--config.plots=False'],
              out='runs/mnist_width_K')
