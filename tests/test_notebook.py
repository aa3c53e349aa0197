import pytest

from conftest import REPO, real_data_dir

pytestmark = pytest.mark.slow  # subprocesses: the full suite only


def test_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
  nbformat = pytest.importorskip('nbformat')
  nbclient = pytest.importorskip('nbclient')
  if real_data_dir() is None:
    pytest.skip('real data not here')
  monkeypatch.setenv('FFJAX_DATA_DIR', real_data_dir())
  nb = nbformat.read(REPO / 'notebooks' / 'quickstart.ipynb', as_version=4)
  for cell in nb.cells:
    cell.source = cell.source.replace("'/tmp/ffjax_quickstart'", repr(str(tmp_path / 'run')))
  nbclient.NotebookClient(nb, timeout=600, kernel_name='python3',
                          resources={'metadata': {'path': str(tmp_path)}}).execute()
  images = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])
            if 'image/png' in o.get('data', {})]
  assert len(images) >= 5  # every figure was shown
  assert (tmp_path / 'run' / 'eval.json').exists()
