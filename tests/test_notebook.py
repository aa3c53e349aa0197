"""The quickstart notebook as a Colab user meets it: a clean kernel, no data folder, MNIST
fetched on first use (from a local server on 127.0.0.1 standing in for the internet)."""
import os

import pytest

from conftest import REPO, real_data_dir
from dataserver import serve

pytestmark = pytest.mark.slow  # a kernel and three runs: the full suite only


def test_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
  nbformat = pytest.importorskip('nbformat')
  nbclient = pytest.importorskip('nbclient')
  if real_data_dir() is None:
    pytest.skip('real data not here')
  for v in ('FFJAX_DATA_DIR', 'FFJAX_DOWNLOAD'):
    monkeypatch.delenv(v, raising=False)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))  # a user with no data yet
  monkeypatch.setenv('FFJAX_NOTEBOOK_DIR', str(tmp_path / 'runs'))
  nb = nbformat.read(REPO / 'notebooks' / 'quickstart.ipynb', as_version=4)
  with serve(real_data_dir()) as (url, srv):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')
    nbclient.NotebookClient(nb, timeout=900, kernel_name='python3',
                            resources={'metadata': {'path': str(tmp_path)}}).execute()
  if os.environ.get('FFJAX_KEEP_NOTEBOOK'):  # for a person to look at (figures inline)
    nbformat.write(nb, os.environ['FFJAX_KEEP_NOTEBOOK'])
  assert len(srv.hits) == 4  # MNIST's four files, fetched once, on first use
  outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])]
  images = [o for o in outputs if 'image/png' in o.get('data', {})]
  assert len(images) == 6  # labels, goodness, curves, FF vs BP, CAMs, confusion
  text = ''.join(o.get('text', '') for o in outputs)
  assert '!!python' not in text and 'model:\n  acts: ()\n' in text  # the config, readable
  assert 'after one epoch, val goodness: K=0.35' in text
  for run in ('ff', 'bp', 'ff_K0.6'):
    assert (tmp_path / 'runs' / run / 'eval.json').exists()
  assert (tmp_path / 'cache' / 'ffjax' / 'data' / 'mnist' / 'train-images-idx3-ubyte.gz').exists()
  assert not (REPO / 'notebooks' / 'runs').exists()
