"""Data on first use (ffjax/data/fetch.py) against a local server on 127.0.0.1 (tests/dataserver.py):
the fetched files equal the originals, an interrupted or corrupt download leaves nothing that
looks complete, a lost file falls over to the mirror, two processes fetch once, no internet
is one line, and a folder the user configured is never written."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, make_cifar100_dir
from dataserver import closed_port, serve
from ffjax import data
from ffjax.data import fetch

MNIST = [f for f, _ in fetch.REMOTES['mnist'].files]


@pytest.fixture
def home(tmp_path, monkeypatch):
  """A fresh user: empty cache, no data folder configured, fetching on."""
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  for v in ('FFJAX_DATA_DIR', 'FFJAX_DOWNLOAD', 'FFJAX_DATA_MIRRORS'):
    monkeypatch.delenv(v, raising=False)
  return tmp_path / 'cache' / 'ffjax' / 'data'


def _cfg(name='mnist', **kw):
  import ml_collections
  d = dict(name=name, source='raw', dir='', download=True, verify_md5=True, num_val=0)
  d.update(kw)
  return ml_collections.ConfigDict(d)


def _leftovers(root: Path):
  """Temporary names and folders a fetch left under root."""
  return [p for p in root.rglob('*') if p.name.endswith('.part') or (p.is_dir() and p.name.startswith('.'))]


def test_first_use_fetches_the_originals_into_the_cache(home, real_data, monkeypatch):
  with serve(real_data) as (url, srv):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')
    ds = data.load(_cfg())
    assert len(ds.train) == 60000 and len(ds.test) == 10000
    for f in MNIST:
      assert (home / 'mnist' / f).read_bytes() == Path(real_data, 'mnist', f).read_bytes()
    n = len(srv.hits)
    data.load(_cfg())  # complete now: nothing fetched again
    assert len(srv.hits) == n == 4
  assert not _leftovers(home)


def test_a_lost_file_falls_over_to_the_mirror(home, real_data, monkeypatch):
  with serve(real_data) as (url, srv):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/404 {url}/ok')
    data.load(_cfg())
    assert srv.hits[:2] == [f'/404/mnist/{MNIST[0]}', f'/ok/mnist/{MNIST[0]}']


def test_wrong_bytes_are_refused_and_nothing_is_left(home, real_data, monkeypatch):
  with serve(real_data) as (url, _):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/bad')
    with pytest.raises(data.DataError, match=r'cannot fetch mnist/train-images-idx3-ubyte.gz: .*md5 \w+ is not the official'):
      data.load(_cfg())
  assert not any((home / 'mnist').iterdir())


def test_an_interrupted_download_never_looks_complete(home, real_data, monkeypatch):
  (home / 'mnist').mkdir(parents=True)
  (home / 'mnist' / (MNIST[0] + '.part')).write_bytes(b'a killed run left this')
  with serve(real_data) as (url, _):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/cut')
    with pytest.raises(data.DataError, match='connection closed after'):
      data.load(_cfg())
    assert not any((home / 'mnist').iterdir())  # neither the file nor its temporary name
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')  # the next run starts it again
    data.load(_cfg())
  assert sorted(p.name for p in (home / 'mnist').iterdir()) == sorted(MNIST)


FETCH = ('import sys; from ffjax import data; from ffjax.data import fetch; '
         'fetch.fetch("mnist", fetch.cache_dir(), check=data.check_raw)')


def test_two_processes_fetch_once(home, real_data, tmp_path):
  with serve(real_data) as (url, srv):
    env = dict(os.environ, FFJAX_DATA_MIRRORS=f'{url}/slow')
    procs = [subprocess.Popen([sys.executable, '-c', FETCH], cwd=REPO, env=env, text=True,
                              stderr=subprocess.PIPE) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert sorted(srv.hits) == sorted(f'/slow/mnist/{f}' for f in MNIST)  # each file once
  assert any('waiting for another process fetching mnist' in e for e in errs)
  for f in MNIST:
    assert (home / 'mnist' / f).read_bytes() == Path(real_data, 'mnist', f).read_bytes()


def test_fetching_off_says_how_to_get_the_files(home, monkeypatch):
  with pytest.raises(data.DataError, match=r'fetching is off \(data.download=False.*download '
                     r'train-images-idx3-ubyte.gz.*experiments.fetch_data mnist'):
    data.load(_cfg(download=False))
  monkeypatch.setenv('FFJAX_DOWNLOAD', '0')
  with pytest.raises(data.DataError, match='fetching is off'):
    data.load(_cfg())
  assert not (home / 'mnist').exists()


def test_a_configured_folder_is_never_written(home, real_data, tmp_path, monkeypatch):
  mine = tmp_path / 'mine'
  mine.mkdir()
  with serve(real_data) as (url, srv):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')
    monkeypatch.setenv('FFJAX_DATA_DIR', str(mine))
    with pytest.raises(data.DataError, match=r'FFJAX_DATA_DIR names .*never writes into: fetch mnist '
                       r'there with `python -m experiments.fetch_data mnist --data_dir='):
      data.load(_cfg())
    with pytest.raises(data.DataError, match='config.data.dir names'):
      data.load(_cfg(dir=str(mine)))
    assert srv.hits == [] and not any(mine.iterdir())


def _pack(tar_path: Path, folder: Path, arcname: str):
  tar_path.parent.mkdir(parents=True, exist_ok=True)
  with tarfile.open(tar_path, 'w:gz', compresslevel=1) as tar:
    tar.add(folder, arcname=arcname)


@pytest.mark.slow
def test_cifar10_archive_extracted_checked_and_removed(home, real_data, tmp_path, monkeypatch):
  src = Path(real_data, 'cifar10', 'cifar-10-batches-bin')
  if not src.is_dir():
    pytest.skip('real data not here')
  srv_root = tmp_path / 'srv'
  _pack(srv_root / 'cifar10' / 'cifar-10-binary.tar.gz', src, 'cifar-10-batches-bin')
  # The same files with one member altered: refused by the md5 table, nothing left.
  bad = tmp_path / 'bad' / 'cifar-10-batches-bin'
  bad.mkdir(parents=True)
  for f in src.iterdir():
    (bad / f.name).write_bytes(f.read_bytes())
  b = bytearray((bad / 'data_batch_3.bin').read_bytes())
  b[5000] ^= 1
  (bad / 'data_batch_3.bin').write_bytes(bytes(b))
  _pack(tmp_path / 'bad_srv' / 'cifar10' / 'cifar-10-binary.tar.gz', bad, 'cifar-10-batches-bin')
  with serve(tmp_path / 'bad_srv') as (url, _):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')
    with pytest.raises(data.DataError, match=r'data_batch_3.bin: md5 \w+ is not the official'):
      data.load(_cfg('cifar10'))
  assert not [p for p in home.rglob('*') if p.is_file() and not p.name.endswith('.lock')]
  with serve(srv_root) as (url, _):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')
    ds = data.load(_cfg('cifar10'))
  assert len(ds.train) == 50000 and ds.image_shape == (32, 32, 3)
  got = home / 'cifar10' / 'cifar-10-batches-bin'
  for f in src.iterdir():
    assert (got / f.name).read_bytes() == f.read_bytes()
  assert not (home / 'cifar10' / 'cifar-10-binary.tar.gz').exists()  # the archive is gone
  assert [p.name for p in home.iterdir() if not p.name.endswith('.lock')] == ['cifar10']  # no temp folder


def test_an_archive_is_trusted_by_its_md5_or_its_members(home, tmp_path, monkeypatch):
  # CIFAR-100: no per-file md5 is published, so only the archive's own md5 can vouch for it.
  gen = make_cifar100_dir(tmp_path / 'gen', n_train=50, n_test=20)
  tar_path = tmp_path / 'srv' / 'cifar100' / 'cifar-100-binary.tar.gz'
  _pack(tar_path, gen / 'cifar100' / 'cifar-100-binary', 'cifar-100-binary')
  with serve(tmp_path / 'srv') as (url, _):
    monkeypatch.setenv('FFJAX_DATA_MIRRORS', f'{url}/ok')
    with pytest.raises(data.DataError, match='not the official one and ffjax has no md5'):
      data.load(_cfg('cifar100'))
    assert not (home / 'cifar100' / 'cifar-100-binary').exists()
    r = fetch.REMOTES['cifar100']
    md5 = hashlib.md5(tar_path.read_bytes()).hexdigest()
    monkeypatch.setitem(fetch.REMOTES, 'cifar100', type(r)(((r.files[0][0], md5),), r.urls, r.needs,
                                                           r.archive, r.page))
    ds = data.load(_cfg('cifar100'))  # as if this were the official archive
  assert ds.num_classes == 100 and len(ds.train) == 50


def _main(args, env, tmp_path):
  return subprocess.run([sys.executable, '-m', 'experiments.main', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)


def _fresh_env(tmp_path, **kw):
  env = {k: v for k, v in os.environ.items()
         if k not in ('FFJAX_DATA_DIR', 'FFJAX_DOWNLOAD', 'FFJAX_DATA_MIRRORS', 'XDG_CACHE_HOME')}
  return dict(env, HOME=str(tmp_path / 'home'), **kw)


@pytest.mark.slow
def test_no_internet_is_one_line(tmp_path):
  env = _fresh_env(tmp_path, FFJAX_DATA_MIRRORS=f'http://127.0.0.1:{closed_port()}')
  r = _main(['--config=configs/mnist.py:tiny', f'--workdir={tmp_path / "run"}'], env, tmp_path)
  assert r.returncode == 2, r.stderr
  errors = [l for l in r.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and 'Traceback' not in r.stderr, r.stderr
  assert errors[0].startswith('error: cannot fetch mnist/train-images-idx3-ubyte.gz: http://127.0.0.1:')
  assert 'Connection refused' in errors[0] and 'experiments.fetch_data mnist' in errors[0]
  assert str(tmp_path / 'home' / '.cache' / 'ffjax' / 'data' / 'mnist') in errors[0]


@pytest.mark.slow
def test_the_first_command_on_a_fresh_home_fetches_and_trains(tmp_path, real_data):
  with serve(real_data) as (url, srv):
    env = _fresh_env(tmp_path, FFJAX_DATA_MIRRORS=f'{url}/ok')
    r = _main(['--config=configs/mnist.py:tiny', f'--workdir={tmp_path / "run"}'], env, tmp_path)
  assert r.returncode == 0, r.stderr[-2000:]
  assert 'fetching mnist/train-images-idx3-ubyte.gz (9.9 MB)' in r.stderr
  assert 'final test' in r.stdout and len(srv.hits) == 4
  cached = tmp_path / 'home' / '.cache' / 'ffjax' / 'data' / 'mnist'
  assert sorted(p.name for p in cached.iterdir()) == sorted(MNIST)


def test_fetch_data_command(tmp_path, real_data):
  with serve(real_data) as (url, _):
    env = _fresh_env(tmp_path, FFJAX_DATA_MIRRORS=f'{url}/ok')
    cmd = [sys.executable, '-m', 'experiments.fetch_data']
    r = subprocess.run(cmd + ['mnist', f'--data_dir={tmp_path / "d"}'], cwd=REPO, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and f'mnist: fetched and checked, in {tmp_path / "d" / "mnist"}' in r.stdout
    r = subprocess.run(cmd + ['mnist', f'--data_dir={tmp_path / "d"}'], cwd=REPO, env=env,
                       capture_output=True, text=True)
    assert 'mnist: complete in' in r.stdout
    r = subprocess.run(cmd + ['--status', f'--data_dir={tmp_path / "d"}'], cwd=REPO, env=env,
                       capture_output=True, text=True)
    assert r.stdout.split('\n')[0].split()[:2] == ['mnist', 'complete']
    r = subprocess.run(cmd + ['imagenet'], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().startswith('error: imagenet: not a dataset ffjax fetches')
