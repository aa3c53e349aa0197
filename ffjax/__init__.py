"""ffjax: Forward-Forward training of convolutional networks in JAX.

The same functions the command line uses, for notebooks:
  from ffjax import config_base, train
  config = ...  # e.g. importlib-load configs/mnist.py and call get_config('tiny')
  record = train.train_and_evaluate(config, '/tmp/run')
"""
__version__ = '0.1.0'
