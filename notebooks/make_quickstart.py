"""Writes notebooks/quickstart.ipynb from the cells below (edit here, then run this file).

The notebook is what a Colab user meets: it installs ffjax, fetches MNIST on first use, and
explores Forward-Forward on a CPU in a few minutes. tests/test_notebook.py runs it top to
bottom from a clean kernel, against a local server standing in for the internet.
"""
import nbformat as nbf

cells = [
    ('md', '''# Forward-Forward on MNIST, in a few CPU minutes

Every unit of this network learns from a loss of its own: the *goodness* (mean square of
its activations) of an image carrying its **true** label should be high, of the same image
with a **wrong** label low. No gradient crosses units. Below: the labels as the network
sees them, training, which label wins for a few test images, each unit's curves, FF against
the same network trained by backprop on the same budget, class activation maps, and how to
change one setting and run again. Everything here is ffjax's public functions; the command
line (`python -m experiments.main`) calls the same ones.'''),
    ('code', '''# In Colab: install ffjax from its repository (README, "Colab": put your repository's URL here).
import sys, subprocess
REPO_URL = 'https://github.com/<owner>/ffjax'
if 'google.colab' in sys.modules:
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', f'git+{REPO_URL}'], check=True)'''),
    ('code', '''import os, pathlib, tempfile
import numpy as np
import jax
from IPython.display import Image, display
import ffjax, configs
from ffjax import config_args, metrics, plots, readback, train

def show(png):  # ffjax's figures are PNG files (every function takes the path to write)
    display(Image(str(png)))

# Runs go under a fresh temporary folder (or FFJAX_NOTEBOOK_DIR): run the notebook again anywhere.
root = pathlib.Path(os.environ.get('FFJAX_NOTEBOOK_DIR') or tempfile.mkdtemp(prefix='ffjax-'))
print(f'ffjax {ffjax.__version__}, jax {jax.__version__} on {jax.devices()[0].platform}; runs in {root}')'''),
    ('md', '''## The experiment

`configs/mnist.py:quick`, the README's first run: three convolutional units (8 filters 7x7,
pooling after units 2 and 3), 600 steps of 50 images, Fourier label patterns. Unit 1 is
measured but not trained (as in the paper). The data: MNIST's official files, fetched on
first use into `~/.cache/ffjax/data` (or read from `$FFJAX_DATA_DIR` if you set it).'''),
    ('code', '''config = configs.get('mnist', 'quick')
print(config_args.show(config, ['model', 'labels', 'objective', 'optim', 'train']))'''),
    ('code', '''ff_dir = root / 'ff'
ff = train.train_and_evaluate(config, ff_dir)    # about a minute on 2 CPU cores
print({k: round(v, 3) for k, v in ff['test'].items() if k.startswith('acc_')})'''),
    ('md', '''## The labels as the network sees them

Top row: the ten label patterns. Below: an image, the same image with its own label
(a *positive*) and with a wrong one (a *negative*). Training pushes each unit's goodness up
on positives and down on negatives.'''),
    ('code', '''run = readback.restore_run(ff_dir)             # the trained net, its method and data, read back
net, method = run.net, run.method
x = np.asarray(run.parts.preprocess.to_float(run.dataset.test.x[:8]))
y = run.dataset.test.y[:8]
show(plots.label_gallery(method.encoder, x, y, root / 'labels.png'))'''),
    ('md', '''## Which label wins

Goodness inference puts every label into the image in turn and picks the one the units
find most "good". The bars are each candidate's goodness (green: the true label; red: a
wrong winner); the title gives the margin over the runner-up.'''),
    ('code', '''show(plots.goodness_per_label(net, method, x[:4], y[:4], root / 'goodness.png'))'''),
    ('md', '''## Each unit's curves

Loss and positive-vs-negative discrimination per unit, on the training stream and the
held-out validation images. Unit 1 is drawn grey: measured, not trained.'''),
    ('code', '''records = metrics.read(ff_dir)
show(plots.training_curves(records, root / 'curves.png', plots.untrained_units(method)))'''),
    ('md', '''## FF against backprop, same network, same budget

`method=bp` trains the very same units end to end with a softmax head, on the same 600
steps. FF's linear head reads the units FF trained; its goodness predictor uses no head.'''),
    ('code', '''bp_dir = root / 'bp'
bp = train.train_and_evaluate(configs.get('mnist', 'quick,method=bp'), bp_dir)
show(plots.compare_runs({'FF': ff_dir, 'backprop': bp_dir}, root / 'ff_vs_bp.png'))
print('test:', {k: round(v, 3) for k, v in ff['test'].items() if k.startswith('acc_')},
      'vs backprop', round(bp['test']['acc_linear'], 3))'''),
    ('md', '''## Class activation maps

Where, in each unit, the linear head finds evidence for the label it predicts (red) or
against it (blue), for three right and three wrong test images. The confusion matrices
show which digits each predictor mixes up.'''),
    ('code', '''figures = plots.plot_run(ff_dir)                # every figure of the run, into its folder
show(ff_dir / 'cams.png')
show(ff_dir / 'confusion.png')'''),
    ('md', '''## Change one setting, run again

Any config value can change before a run: here the label patterns' intensity K (0.35 by
default), for one epoch, beside the first run's first epoch. A new folder is a new run
(the same folder would resume the old one).'''),
    ('code', '''config2 = configs.get('mnist', 'quick,epochs=1')
config2.labels.intensity = 0.6
r2 = train.train_and_evaluate(config2, root / 'ff_K0.6')
first = [r for r in metrics.read(ff_dir) if 'val/acc_goodness' in r][0]
print(f"after one epoch, val goodness: K=0.35 {first['val/acc_goodness']:.3f}, "
      f"K=0.6 {r2['val']['acc_goodness']:.3f}")'''),
]

nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_markdown_cell(s) if t == 'md' else nbf.v4.new_code_cell(s) for t, s in cells]
nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
nb.metadata['colab'] = {'provenance': []}
nbf.write(nb, __file__.replace('make_quickstart.py', 'quickstart.ipynb'))
