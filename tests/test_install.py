"""What `pip install "git+<url>"` gives a Colab user: the library, the configs and the
commands, usable from any folder (not only from a clone). Built here without the network:
a wheel of this tree, installed into a bare folder."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_a_wheel_carries_the_configs_and_the_commands(tmp_path):
  pytest.importorskip('setuptools')
  # The tracked files, as `pip install git+URL` sees them (and no build/ left in the tree).
  files = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True).stdout.split()
  if not files:
    pytest.skip('not a git checkout')
  src = tmp_path / 'src'
  for f in files:
    (src / f).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / f, src / f)
  r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                      '-w', str(tmp_path / 'dist'), str(src)], capture_output=True, text=True)
  assert r.returncode == 0, r.stderr[-2000:]
  wheel, = (tmp_path / 'dist').glob('ffjax-*.whl')
  names = set(zipfile.ZipFile(wheel).namelist())
  assert {'ffjax/data/fetch.py', 'configs/mnist.py', 'configs/__init__.py',
          'experiments/main.py', 'experiments/fetch_data.py'} <= names
  r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target',
                      str(tmp_path / 'site'), str(wheel)], capture_output=True, text=True)
  assert r.returncode == 0, r.stderr[-2000:]
  env = dict(os.environ, PYTHONPATH=str(tmp_path / 'site'))
  code = ('import configs, ffjax; c = configs.get("mnist", "quick"); '
          'print(ffjax.__file__, configs.path("mnist"), c.train.num_epochs)')
  r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr[-2000:]
  lib, cfg, epochs = r.stdout.split()
  assert lib.startswith(str(tmp_path / 'site')) and cfg == str(tmp_path / 'site' / 'configs' / 'mnist.py')
  assert epochs == '3'
  r = subprocess.run([sys.executable, '-m', 'experiments.main', '--list_configs'], cwd=tmp_path,
                     env=env, capture_output=True, text=True)
  assert r.returncode == 0 and 'configs/mnist.py: FF-CNN' in r.stdout, r.stderr[-2000:]
