"""Writes notebooks/quickstart.ipynb from the cells below (edit here, then run this file)."""
import nbformat as nbf

cells = [
    ('md', '''# ffjax quickstart: a Forward-Forward CNN on MNIST

Every unit of the network learns from its own loss; no gradient crosses units. This
notebook trains the tiny MNIST config on the CPU in a minute or two, then looks at the
label patterns, the training curves and the class activation maps, using only ffjax's
public functions.'''),
    ('code', '''# In Colab: install ffjax from its repository first, e.g.
#   !pip install -q "git+<repository url>"   (or: !pip install -q -e . in a clone)
import os, importlib.util, pathlib
import ffjax
from ffjax import train, plots, metrics
print('ffjax', ffjax.__version__)'''),
    ('md', '''The data: the official MNIST files (`train-images-idx3-ubyte.gz`, ...) in
`$FFJAX_DATA_DIR/mnist/`. Set the variable to the folder that holds `mnist/`.'''),
    ('code', '''data_dir = os.environ.get('FFJAX_DATA_DIR', '../../shared/data')
assert pathlib.Path(data_dir, 'mnist').is_dir(), f'put the MNIST files in {data_dir}/mnist'
repo = pathlib.Path(ffjax.__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('mnist_config', repo / 'configs' / 'mnist.py')
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
config = mod.get_config('tiny')       # seconds on a CPU; 'cpu' for a real run
config.data.dir = data_dir
print(config.model, config.labels)'''),
    ('code', '''workdir = '/tmp/ffjax_quickstart'
record = train.train_and_evaluate(config, workdir)   # resumes if workdir has a checkpoint
record['test']'''),
    ('md', '''The figures ffjax draws for any run: the label patterns and how the network sees
positive and negative images, per-unit curves, and class activation maps.'''),
    ('code', '''from IPython.display import Image, display
for p in plots.plot_run(workdir):
    print(p.name); display(Image(str(p)))'''),
    ('md', '''The metrics of every step and epoch are JSON lines; here the per-unit
discrimination accuracy at the last logged step.'''),
    ('code', '''recs = metrics.read(workdir)
last = [r for r in recs if 'train/loss' in r][-1]
{k: round(v, 3) for k, v in last.items() if 'disc_acc' in k}'''),
]

nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_markdown_cell(s) if t == 'md' else nbf.v4.new_code_cell(s) for t, s in cells]
nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
nbf.write(nb, __file__.replace('make_quickstart.py', 'quickstart.ipynb'))
