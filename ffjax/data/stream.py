"""Data that does not fit in memory: images streamed from disk, decoded and cropped ahead
of the step on the host's workers (threads, or worker processes: data.processes).

Sources (config.data.source):
  'folder'        an image-folder tree, DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG
                  (ImageNet as unpacked, Imagenette, ImageNet-100, any such tree)
  'array_record'  DIR/{train,val}-*.array_record shards of (encoded image, label) records
                  with DIR/classes.json and DIR/{train,val}-labels.npy (read at start-up
                  instead of every record), written by `python -m experiments.pack` (fast
                  sequential reads on network filesystems; bad files dropped at packing)
  'tfds'          a prepared tensorflow-datasets dataset (imagenet2012, imagenette, or
                  data.tfds_name), read by tfds.data_source without TensorFlow
Every split is a `StreamSplit`: its labels (known from the index, a few MB for ImageNet)
are in memory, its images are not. Host memory and start-up are flat in the dataset's
size apart from the file index (benchmarks/stream.py).

The promises of the small-data path (ffjax/data/__init__.py) hold:
  - The order is a pure function of (seed, epoch): data.epoch_order_host, the same
    permutation the resident path draws; batch i of an epoch is rows i*B..(i+1)*B of it.
  - A training image's crop and flip come from its own generator, seeded by (seed,
    epoch, index): the same whatever the number of workers, the process reading it, or
    where a resumed run starts. Resuming is therefore exact with no iterator state in
    the checkpoint: step s is batch s % steps_per_epoch of epoch s // steps_per_epoch.
  - Several processes each read only the rows of a global batch that their devices hold
    (`rows`); together they equal one process with the same global batch.
Evaluation streams too (center crops, in file order).

One pipeline per dataset for the process's life (`Workers`, `ahead`): training reads one
endless stream across epochs (the next epoch's order is drawn, and its first images
decode, while this epoch's last batches are consumed); the work is shared image by image;
at most four batches decoded ahead, and never more than data.prefetch_mb in all, whatever
the consumer's speed (a setting too small for two batches is refused at start).

Bad files, as ImageNet has them (data.bad_images): a CMYK JPEG is converted (simplejpeg
decodes it to RGB), a PNG named .JPEG is read by Pillow; a file that cannot be decoded
(truncated, not an image) stops the run with one line naming it ('stop', the default),
or is replaced by the next good file of the split and counted ('skip': `bad_files`,
reported in the records). Decoding is strict: simplejpeg flags truncated data that
Pillow would silently fill with grey.
"""
from __future__ import annotations

import collections
import dataclasses
import io
import json
import multiprocessing.context
import os
import re
import signal
import sys
import threading
import time
import weakref
from concurrent import futures
from typing import Any, ClassVar, Protocol
from pathlib import Path

import numpy as np

from ffjax import registry
from ffjax.data.splits import STREAMED, STREAMED_TFDS, Dataset, check_name, data_dir, named_shape
from ffjax.errors import DataError, need

IMAGE_EXTS = ('.jpeg', '.jpg', '.png', '.bmp', '.webp')


# ----------------------------------------------------------------------------- files


def scan_folder(root: Path, split: str, classes: list[str] | None = None):
  """(files, labels, classes) of root/split/<class>/*: classes sorted by name (the
  training split's; another split's folders must be among them), files sorted within
  each class. An empty class folder in training is an error naming it (a class no image
  teaches); in evaluation it is allowed."""
  d = Path(root) / split
  if not d.is_dir():
    raise DataError(f'{d}: no such folder (an image-folder tree has {split}/<class>/<images>)')
  found = sorted(p.name for p in d.iterdir() if p.is_dir())
  if not found:
    raise DataError(f'{d}: no class folders')
  if classes is None:
    classes = found
  else:
    extra = sorted(set(found) - set(classes))
    if extra:
      raise DataError(f'{d}: class folders {extra[:5]}{" ..." if len(extra) > 5 else ""} are not '
                      f'in the training split ({len(classes)} classes): the two trees differ')
  index = {c: i for i, c in enumerate(classes)}
  files, labels = [], []
  for c in found:
    names = sorted(f for f in os.listdir(d / c) if f.lower().endswith(IMAGE_EXTS))
    if not names and split == 'train':
      raise DataError(f'{d / c}: an empty class folder (no {"/".join(IMAGE_EXTS)} files)')
    files += [str(d / c / f) for f in names]
    labels += [index[c]] * len(names)
  return files, np.asarray(labels, np.int32), classes


class BadImage(Exception):
  """A file that cannot be decoded as an image."""


def decode(data: bytes, where: str = '') -> np.ndarray:
  """H x W x 3 uint8 RGB. JPEG by simplejpeg (libjpeg-turbo, strict: truncated data is an
  error; CMYK and YCCK are converted); anything else (a PNG named .JPEG, BMP, WebP) by
  Pillow, checked by loading it whole."""
  if data[:2] == b'\xff\xd8':
    import simplejpeg
    try:
      return simplejpeg.decode_jpeg(data, colorspace='RGB', strict=True)
    except ValueError as e:
      raise BadImage(f'{where}: not a decodable JPEG ({e})') from None
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(io.BytesIO(data)) as im:
      im.load()
      return np.asarray(im.convert('RGB'))
  except UnidentifiedImageError:
    raise BadImage(f'{where}: not an image (no format Pillow knows)') from None
  except (OSError, ValueError, SyntaxError) as e:  # the same words for the same file, every run
    why = re.sub(r'<[^>]* at 0x[0-9a-f]+>', 'the file', str(e))
    raise BadImage(f'{where}: not an image ({type(e).__name__}: {why})') from None


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
  from PIL import Image
  if img.shape[0] == h and img.shape[1] == w:
    return img
  bilinear = getattr(Image, 'Resampling', Image).BILINEAR  # Pillow >= 9.1, and before
  return np.asarray(Image.fromarray(img).resize((w, h), bilinear))


def random_box(h: int, w: int, rng: np.random.Generator, scale=(0.08, 1.),
               ratio=(3. / 4., 4. / 3.)) -> tuple[int, int, int, int]:
  """(y0, x0, height, width) of an Inception-style crop of an h x w image: an area
  fraction in `scale` and an aspect ratio in `ratio` (log-uniform), 10 tries, else the
  central square."""
  area = h * w
  for _ in range(10):
    a = area * rng.uniform(*scale)
    r = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
    cw, ch = int(round(np.sqrt(a * r))), int(round(np.sqrt(a / r)))
    if 0 < cw <= w and 0 < ch <= h:
      return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
  s = min(h, w)
  return (h - s) // 2, (w - s) // 2, s, s


def center_box(h: int, w: int, fraction: float = 0.875) -> tuple[int, int, int, int]:
  """Evaluation: the central square of side `fraction` of the shorter edge (the usual
  resize-to-size/0.875-then-crop, in one resampling)."""
  s = max(1, int(round(min(h, w) * fraction)))
  return (h - s) // 2, (w - s) // 2, s, s


def cut(img: np.ndarray, box, size: int, scale_y: float = 1., scale_x: float = 1.) -> np.ndarray:
  """The box (in the original image's pixels) of img, decoded at (scale_y, scale_x) of
  the original size, resized to size x size."""
  y0, x0, ch, cw = box
  ys, xs = int(y0 * scale_y), int(x0 * scale_x)
  ye = max(ys + 1, min(img.shape[0], int(round((y0 + ch) * scale_y))))
  xe = max(xs + 1, min(img.shape[1], int(round((x0 + cw) * scale_x))))
  return _resize(img[ys:ye, xs:xe], size, size)


def random_resized_crop(img: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
  return cut(img, random_box(img.shape[0], img.shape[1], rng), size)


def center_crop(img: np.ndarray, size: int, fraction: float = 0.875) -> np.ndarray:
  return cut(img, center_box(img.shape[0], img.shape[1], fraction), size)


def decode_for(data: bytes, where: str, box_of, size: int) -> np.ndarray:
  """Decoded, cropped by box_of(h, w) -> box, resized to size x size. A JPEG whose box
  is at least twice `size` is decoded at a reduced scale by libjpeg-turbo's DCT scaling
  (1/2, 1/4, 1/8: most of ImageNet's decoding time at 64-128 pixel crops), the box
  chosen on the full image's size first, so the crop is the same region either way."""
  if data[:2] == b'\xff\xd8':
    import simplejpeg
    try:
      h, w, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as e:
      raise BadImage(f'{where}: not a decodable JPEG ({e})') from None
    box = box_of(h, w)
    f = 1
    while f < 8 and min(box[2], box[3]) >= 2 * f * size:
      f *= 2
    if f > 1:
      try:
        img = simplejpeg.decode_jpeg(data, colorspace='RGB', strict=True,
                                     min_height=-(-h // f), min_width=-(-w // f))
      except ValueError as e:
        raise BadImage(f'{where}: not a decodable JPEG ({e})') from None
      return cut(img, box, size, img.shape[0] / h, img.shape[1] / w)
  img = decode(data, where)
  return cut(img, box_of(img.shape[0], img.shape[1]), size)


# ----------------------------------------------------------------------------- sources


def usable_cpus() -> int:
  """The cores this process may run on: the scheduler's allocation where it says
  (SLURM_CPUS_PER_TASK), else the process's affinity (taskset, cgroups' cpusets), else
  the machine's count. os.cpu_count() alone counts cores a job may not use."""
  slurm = os.environ.get('SLURM_CPUS_PER_TASK', '')
  if slurm.isdigit() and int(slurm) > 0:
    return int(slurm)
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except (AttributeError, OSError):  # no affinity API (macOS)
    return max(1, os.cpu_count() or 1)


def decoders(threads: int, processes: int) -> int:
  """How many decode at once: data.processes, else data.workers, else one per usable core."""
  return processes or threads or usable_cpus()


class Source(Protocol):
  """Where a streamed split's encoded images come from, by index: a folder tree, packed
  shards, tfds, or a subset of one of them."""

  def __len__(self) -> int: ...
  def __getitem__(self, i: int) -> bytes: ...
  def name(self, i: int) -> str: ...


class FolderSource:
  """Encoded bytes of an image-folder tree's files, by index."""

  def __init__(self, files):
    self.files = files

  def __len__(self):
    return len(self.files)

  def name(self, i: int) -> str:
    return self.files[i]

  def __getitem__(self, i: int) -> bytes:
    try:
      with open(self.files[i], 'rb') as f:
        return f.read()
    except OSError as e:
      raise BadImage(f'{self.files[i]}: cannot be read ({e.strerror})') from None


def _labels_match(y: np.ndarray, n: int, label_of) -> bool:
  """A saved label array fits a source of n records: its length, and the labels of its
  first, middle and last records (label_of(i) reads one record)."""
  return y.shape == (n,) and all(int(y[i]) == label_of(i) for i in sorted({0, n // 2, n - 1} if n else ()))


class ArrayRecordSource:
  """Encoded bytes of `experiments.pack`'s shards, by index (records: 4-byte label, then
  the encoded image). labels_file: the labels pack wrote beside the shards ({split}-labels.npy),
  read instead of every record at start-up."""

  def __init__(self, paths, labels_file: Path | None = None):
    from array_record.python import array_record_data_source as ards
    self.paths = [str(p) for p in paths]
    self._src = ards.ArrayRecordDataSource(self.paths)
    self.labels_file = labels_file

  def __getstate__(self):  # a worker process opens the shards itself
    return self.paths, self.labels_file

  def __setstate__(self, state):
    self.__init__(*state)

  def __len__(self):
    return len(self._src)

  def name(self, i: int) -> str:
    return f'{self.paths[0].rsplit("-", 1)[0]} record {i}'

  def record(self, i: int):
    r = self._src[i]
    return int.from_bytes(r[:4], 'little'), r[4:]

  def __getitem__(self, i: int) -> bytes:
    return self.record(i)[1]

  def labels(self) -> np.ndarray:
    """Every record's label: from the labels file (checked against three records: a file
    from another packing is an error, not a silent relabelling), or, for shards packed
    without one, from every record (one pass: minutes for ImageNet)."""
    n = len(self)
    if self.labels_file is None or not self.labels_file.is_file():
      return np.asarray([self.record(i)[0] for i in range(n)], np.int32)
    y = np.load(self.labels_file)
    if not _labels_match(y, n, lambda i: self.record(i)[0]):
      raise DataError(f'{self.labels_file}: does not match its shards ({len(y)} labels for {n} '
                      'records, or other labels): pack again, or delete it to read the records\' own')
    return y.astype(np.int32)


class TfdsSource:
  """Encoded images of a prepared tensorflow-datasets split (array_record format), read
  by tfds.data_source without TensorFlow. Image decoding is skipped there: the bytes
  take the same decode, crop and DCT-scaled path as files."""

  def __init__(self, name: str, split: str, data_dir: str | None):
    try:
      import tensorflow_datasets as tfds
    except ImportError:
      raise DataError('data.source=tfds needs tensorflow-datasets: pip install -e .[tfds]') from None
    self.where, self.split = f'tfds {name}/{split}', ''.join(
        ch if ch.isalnum() or ch in '-_' else '_' for ch in split)
    try:
      self._src = tfds.data_source(name, split=split, data_dir=data_dir or None, download=False,
                                   decoders={'image': tfds.decode.SkipDecoding()})
    except Exception as e:  # tfds raises many kinds; all mean "not prepared here"
      first = str(e).splitlines()[0] if str(e) else ''
      place = data_dir or "tfds' default data directory"
      raise DataError(f'{self.where} in {place}: cannot be '
                      f'read ({type(e).__name__}: {first}); ffjax reads prepared tfds datasets '
                      '(array_record format) and never downloads (see README, "Data")') from None
    feats = self._src.dataset_info.features
    if 'image' not in feats or 'label' not in feats:
      raise DataError(f'{self.where}: has no image and label features ({sorted(feats)})')
    self.classes = list(feats['label'].names)
    self._args = (name, split, data_dir)

  def __getstate__(self):  # a worker process opens the dataset itself
    return self._args

  def __setstate__(self, state):
    self.__init__(*state)

  def __len__(self):
    return len(self._src)

  def name(self, i: int) -> str:
    return f'{self.where} record {i}'

  def __getitem__(self, i: int) -> bytes:
    return self._src[i]['image']

  def labels(self) -> np.ndarray:
    """Every record's label. The first start reads every record (tfds has no label
    column: ImageNet's 1.28 million take minutes) and keeps them beside the prepared
    dataset (ffjax-labels-<split>.npy, where that folder is writable); later starts read
    that file, checked against three records (a stale file is read again, not trusted)."""
    n = len(self)
    cache = None
    try:
      cache = Path(self._src.dataset_info.data_dir) / f'ffjax-labels-{self.split}.npy'
    except (AttributeError, TypeError):
      pass
    if cache is not None and cache.is_file():
      y = np.load(cache)
      if _labels_match(y, n, lambda i: int(self._src[i]['label'])):
        return y.astype(np.int32)
    y = np.asarray([int(self._src[i]['label']) for i in range(n)], np.int32)
    if cache is not None:
      try:  # written whole, then renamed: a run stopped here leaves no partial file
        tmp = cache.with_name(f'.{cache.name}.{os.getpid()}.npy')
        np.save(tmp, y)
        os.replace(tmp, cache)
      except OSError:
        pass  # a read-only dataset folder: read the records again next time
    return y


# ----------------------------------------------------------------------------- decoding


@dataclasses.dataclass(frozen=True)
class Decoder:
  """What decodes an example of any split of one dataset: its sources and labels by split
  ('train', 'val', 'test'), the crop size and what a bad file does. Pickled once into each
  worker process; an example is a pure function of (split, index, seed, epoch)."""
  sources: dict            # split -> (Source, labels y_N)
  size: int
  bad_images: str = 'stop'  # 'stop' | 'skip'
  known_bad: frozenset = frozenset()  # files a check found: skipped without decoding

  def example(self, split: str, i: int, seed: int, epoch: int, train: bool):
    """(image, label, files skipped) of example i: decoded, cropped (training: by the
    generator of (seed, epoch, i)). A bad file is replaced by the next good one of the
    split ('skip') or stops (DataError naming it)."""
    source, y = self.sources[split]
    n = len(source)
    rng = np.random.default_rng((seed, epoch, i))  # training's crop and flip
    box_of = ((lambda h, w: random_box(h, w, rng)) if train else center_box)
    skipped = []
    for j in range(i, i + n):
      j %= n
      name = source.name(j)
      if name in self.known_bad:
        skipped.append(name)
        continue
      try:
        img = decode_for(source[j], name, box_of, self.size)
        break
      except BadImage as e:
        if self.bad_images != 'skip':
          raise DataError(f'{e}. {BAD_IMAGES_HELP}') from None
        skipped.append(name)
    else:
      raise DataError(f'{split}: no file of the split can be decoded')
    if train and rng.random() < 0.5:
      img = img[:, ::-1]
    return np.ascontiguousarray(img), int(y[j]), skipped


  def check(self, split: str, i: int):
    """(file name, why) if file i of the split cannot be decoded whole, else None."""
    source = self.sources[split][0]
    name = source.name(i)
    try:
      decode(source[i], name)
    except BadImage as e:
      return name, str(e)
    return None


BAD_IMAGES_HELP = ("data.bad_images='stop' (this run's setting) stops at the first such file; "
                   "'skip' takes the next good file of the split in its place and lists each "
                   "skipped file in the workdir's bad_files.txt; data.check_files=True (or python "
                   '-m experiments.check_data) reads every file once before training and names them all')

_WORKER: Decoder | None = None  # a worker process's decoder


def _start_worker(decoder: Decoder, parent: int) -> None:
  global _WORKER
  _WORKER = decoder
  # A Ctrl-C or a scheduler's SIGTERM reaches the whole process group: the trainer
  # saves and stops; its workers end when it does (however it ends: a prompt stop skips
  # the pool's own shutdown), not with a traceback each.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)

  def end_with_parent():  # parent: the pid that started it (it may be gone already)
    while os.getppid() == parent:
      time.sleep(0.5)
    os._exit(0)
  threading.Thread(target=end_with_parent, daemon=True).start()


def _run_jobs(kind: str, jobs):
  assert _WORKER is not None
  return [getattr(_WORKER, kind)(*job) for job in jobs]


def _lean_popen(process_obj):
  main = sys.modules['__main__']
  saved = {k: main.__dict__[k] for k in ('__spec__', '__file__') if k in main.__dict__}
  main.__spec__ = None
  main.__dict__.pop('__file__', None)
  try:
    return multiprocessing.context.SpawnProcess._Popen(process_obj)
  finally:
    main.__dict__.update(saved)


class _LeanProcess(multiprocessing.context.SpawnProcess):
  """multiprocessing's spawn, without the parent's __main__ run again in the worker: it
  needs this module alone, and experiments.main would bring JAX into every decoder
  (seconds and hundreds of MB each), a user's script without a __main__ guard would run
  again. The main module is hidden while a worker starts."""
  _Popen = staticmethod(_lean_popen)


class _LeanSpawn(multiprocessing.context.SpawnContext):
  Process = _LeanProcess


class Workers:
  """The decoding workers of one dataset, shared by its splits and kept for the process's
  life: `threads` threads in this process (simplejpeg and Pillow release the GIL while
  decoding), or `processes` worker processes (started by spawn: never a fork of a process
  that runs JAX), each given the decoder once. Started on first use."""

  CHUNK = 4  # images per task sent to a process (a task costs ~0.1 ms of pickling)

  def __init__(self, decoder: Decoder, threads: int = 0, processes: int = 0):
    self.decoder, self.threads, self.processes = decoder, threads, processes
    self._ex: Any = None
    self._lock = threading.Lock()

  @property
  def count(self) -> int:
    """How many decode at once."""
    return decoders(self.threads, self.processes)

  @property
  def chunk(self) -> int:
    return self.CHUNK if self.processes else 1  # threads share the work image by image

  def submit(self, jobs, kind: str = 'example', into=None):
    """A future of [decoder.<kind>(*job) for job in jobs]. into: for examples on threads,
    the images are written there (a view of the batch's buffer) and returned as None."""
    with self._lock:
      if self._ex is None:
        if self.processes:
          # A run stopped at once (a signal: os._exit) leaves the pool's semaphores to
          # multiprocessing's resource tracker, which removes them and would warn of each
          # on the user's console: its warnings off, for the tracker this pool starts.
          opts = list(sys.warnoptions)
          sys.warnoptions.append('ignore::UserWarning:multiprocessing.resource_tracker')
          try:
            self._ex = futures.ProcessPoolExecutor(self.processes, mp_context=_LeanSpawn(),
                                                   initializer=_start_worker, initargs=(self.decoder, os.getpid()))
          finally:
            sys.warnoptions[:] = opts
        else:
          self._ex = futures.ThreadPoolExecutor(self.threads or usable_cpus(),
                                                thread_name_prefix='ffjax-decode')
        weakref.finalize(self, self._ex.shutdown, wait=False, cancel_futures=True)
    if self.processes:
      return self._ex.submit(_run_jobs, kind, jobs) if into is None else self._into(jobs, kind, into)
    fn = getattr(self.decoder, kind)
    if into is None:
      return self._ex.submit(lambda: [fn(*job) for job in jobs])

    def write():
      out = []
      for m, job in enumerate(jobs):
        img, label, skipped = fn(*job)
        into[m] = img
        out.append((None, label, skipped))
      return out
    return self._ex.submit(write)

  def _into(self, jobs, kind: str, into):
    """A process's images copied into `into` the moment they come back (the arrays then
    dropped: one copy of each image, as on threads)."""
    inner, out = self._ex.submit(_run_jobs, kind, jobs), futures.Future()  # type: ignore[var-annotated]
    out.inner = inner  # type: ignore[attr-defined]  # cancelled with it

    def done(f):
      del out.inner  # out -> inner -> done -> out: a cycle that held every batch's images
      if not out.set_running_or_notify_cancel():
        return  # abandoned
      try:
        got = f.result()
      except BaseException as e:  # a DataError ('stop'), a worker lost
        out.set_exception(e)
        return
      for m, g in enumerate(got):
        into[m] = g[0]
      out.set_result([(None, g[1], g[2]) for g in got])
    inner.add_done_callback(done)
    return out

  def skip(self, files) -> None:
    """Files a check found bad: skipped without decoding (before the workers start)."""
    assert self._ex is None, 'the workers have started'
    self.decoder = dataclasses.replace(self.decoder, known_bad=frozenset(files))


def ahead(workers: Workers, batches, window: int, image_shape: tuple):
  """Iterator of (x_u8 B x H x W x C, y_B, files skipped) for each list of jobs in
  `batches` (an iterator, possibly endless: the next epoch's first batches are decoding
  while this one's last are consumed). Each batch is decoded into its own buffer, handed
  out as it is; at most `window` images (at least one batch) are decoding or decoded and
  not yet handed out, shared among the workers image by image (a few at a time for
  processes, whose images are copied in as they come back)."""
  pending: collections.deque = collections.deque()  # (buffer, futures) per batch, in order
  held, nxt = 0, next(batches, None)
  try:
    while pending or nxt is not None:
      while nxt is not None and (not pending or held + len(nxt) <= window):
        c, x = workers.chunk, np.empty((len(nxt),) + tuple(image_shape), np.uint8)
        pending.append((x, [workers.submit(nxt[k:k + c], into=x[k:k + c]) for k in range(0, len(nxt), c)]))
        held += len(nxt)
        nxt = next(batches, None)
      x, fs = pending.popleft()
      got = [ex for f in fs for ex in f.result()]
      held -= len(got)
      yield x, np.asarray([g[1] for g in got], np.int32), [name for g in got for name in g[2]]
  finally:  # a stopped or abandoned iterator leaves nothing decoding
    for _, fs in pending:
      for f in fs:
        getattr(f, 'inner', f).cancel()
        f.cancel()


def check_dataset(workers: Workers, say=print) -> tuple[int, list]:
  """Every file of every split read and decoded once on the workers, a progress line
  every few seconds: (files read, [(file, why)] of those that cannot be decoded), in
  split and index order."""
  jobs = [(k, i) for k, (src, _) in workers.decoder.sources.items() for i in range(len(src))]
  depth = 4 * (workers.processes or workers.threads or usable_cpus())  # chunks in flight
  pending: collections.deque = collections.deque()
  bad: list = []
  done, t0, shown = 0, time.time(), time.time()

  def take():
    nonlocal done, shown
    got = pending.popleft().result()
    done += len(got)
    bad.extend(g for g in got if g is not None)
    if time.time() - shown > 5 or done == len(jobs):
      rate = done / max(time.time() - t0, 1e-9)
      say(f'checking files: {done}/{len(jobs)} ({100 * done // max(len(jobs), 1)}%), '
          f'{rate:.0f} files/s, {len(bad)} bad')
      shown = time.time()

  for k in range(0, len(jobs), 64):
    pending.append(workers.submit(jobs[k:k + 64], 'check'))
    if len(pending) > depth:
      take()
  while pending:
    take()
  return len(jobs), bad


# ----------------------------------------------------------------------------- splits

AHEAD = 4  # batches decoded ahead at most: enough that the workers never wait on the step
# What one decoder holds while it works, in crops' sizes: the image decoded at up to twice
# the crop's side (libjpeg's DCT scaling), its crop, the resized copy; and what a process's
# decoding adds whatever their number (the decoders' and the allocator's buffers). Measured,
# docs/RESULTS.md 28: ~2.5 MB a thread at 224 px; 7-11 MiB for the threads together.
WORKSPACE = 16
SLACK_MB = 12


def budget_mb(batch: int, size: int, decoders: int) -> int:
  """The least data.prefetch_mb the pipeline can keep to: two batches decoding ahead, the
  batch handed out, each decoder's space and the slack."""
  image = size * size * 3
  return -(-(3 * batch * image + decoders * WORKSPACE * image) // 2**20) + SLACK_MB


@dataclasses.dataclass
class StreamSplit:
  """A split whose images stay on disk (data.Split's interface). train: random-resized
  crops and flips (seeded per example); else center crops."""
  workers: Workers
  key: str        # the decoder's split: 'train', 'val' or 'test'
  y: np.ndarray
  name: str
  size: int
  train: bool
  prefetch_mb: int = 0       # MiB the pipeline holds at most (0: what AHEAD batches need)
  bad_files: list = dataclasses.field(default_factory=list)
  streamed: ClassVar[bool] = True

  def __len__(self):
    return len(self.y)

  @property
  def image_shape(self):
    return (self.size, self.size, 3)

  @property
  def source(self) -> Source:
    return self.workers.decoder.sources[self.key][0]

  @property
  def x(self):
    raise TypeError(f'{self.name}: a streamed split has no image array (read it by batches)')

  def subset(self, n: int, name: str) -> 'StreamSplit':
    """The first n examples, evaluated (center crops): the calibration images."""
    return dataclasses.replace(self, y=self.y[:n], name=name, train=False, bad_files=[])

  def example(self, i: int, seed: int = 0, epoch: int = 0):
    """(image, label) of example i, decoded here."""
    img, label, skipped = self.workers.decoder.example(self.key, i, seed, epoch, self.train)
    self._note(skipped)
    return img, label

  def _note(self, skipped) -> None:
    for name in skipped:
      if name not in self.bad_files:
        self.bad_files.append(name)

  def window(self, b: int) -> int:
    """Images decoded ahead: AHEAD batches, fewer where data.prefetch_mb (0: as AHEAD batches
    need) would not also hold the batch handed out, the decoders' space and the slack;
    never under two batches (a setting that cannot hold two is refused at start:
    budget_mb)."""
    if not self.prefetch_mb:
      return AHEAD * b
    image = self.size * self.size * 3
    room = ((int(self.prefetch_mb) - SLACK_MB) << 20) - self.workers.count * WORKSPACE * image
    return max(2 * b, min(AHEAD * b, room // image - b))

  def _read(self, jobs_per_batch, b: int):
    for x, y, skipped in ahead(self.workers, jobs_per_batch, self.window(b), self.image_shape):
      self._note(skipped)
      yield x, y

  def batches(self, indices_per_batch, seed: int = 0, epoch: int = 0):
    """Iterator of (x_u8 B x S x S x 3, y_B) for each array of example indices (the
    evaluation's batches, in file order), decoded ahead."""
    rows = [np.asarray(ix) for ix in indices_per_batch]
    jobs = ([(self.key, int(j), seed, epoch, self.train) for j in ix] for ix in rows)
    return self._read(jobs, len(rows[0]) if rows else 1)

  def stream(self, seed: int, start: int, batch_size: int, rows: tuple[int, int] | None = None):
    """Training batches start, start + 1, ... across epochs, without end: batch s is rows
    lo..hi of batch s % steps_per_epoch of the order of (seed, s // steps_per_epoch)
    (data.epoch_order_host), so it is the same whatever the workers or the step a run
    resumed at."""
    from ffjax.data.order import epoch_order_host
    lo, hi = rows or (0, batch_size)
    spe = len(self) // batch_size

    def jobs():
      s = start
      while True:
        epoch, i = divmod(s, spe)
        order = epoch_order_host(seed, epoch, len(self))
        for i in range(i, spe):
          yield [(self.key, int(j), seed, epoch, self.train)
                 for j in order[i * batch_size + lo:i * batch_size + hi]]
        s = (epoch + 1) * spe
    return self._read(jobs(), hi - lo)


def rows(batch_size: int, process_index: int, process_count: int) -> tuple[int, int]:
  """The rows of a global batch this process reads (its devices' share)."""
  per = batch_size // process_count
  return process_index * per, (process_index + 1) * per


class Subset:
  """Examples `index` of a source, renumbered 0..len-1."""

  def __init__(self, source, index):
    self.source, self.index = source, np.asarray(index)

  def __len__(self):
    return len(self.index)

  def name(self, i: int) -> str:
    return self.source.name(int(self.index[i]))

  def __getitem__(self, i: int) -> bytes:
    return self.source[int(self.index[i])]


def check_budget(cfg, batch: int) -> None:
  """data.prefetch_mb holds what the pipeline needs at least for batches of `batch`."""
  least = budget_mb(batch, int(cfg.image_size), decoders(int(cfg.workers), int(cfg.get('processes', 0))))
  need(not cfg.get('prefetch_mb') or cfg.prefetch_mb >= least, 'data.prefetch_mb', cfg.get('prefetch_mb'),
       f'less than the pipeline needs for batches of {batch} at {cfg.image_size} px with '
       f'{decoders(int(cfg.workers), int(cfg.get("processes", 0)))} decoders (two ahead, the one '
       f'handed out, their space): at least {least}, or 0 (what four batches ahead need)')


def check_streamed(cfg) -> None:
  """The settings every streamed source has."""
  need(cfg.image_size > 0, 'data.image_size', cfg.image_size, 'streamed images need a size (e.g. 224)')
  need(cfg.bad_images in ('stop', 'skip'), 'data.bad_images', cfg.bad_images, "must be 'stop' or 'skip'")
  need(cfg.workers >= 0, 'data.workers', cfg.workers, 'must be >= 0 (0: one per core)')
  need(cfg.get('processes', 0) >= 0, 'data.processes', cfg.get('processes'),
       'must be >= 0 (0: decoding threads in this process)')
  need(cfg.get('prefetch_mb', 0) >= 0, 'data.prefetch_mb', cfg.get('prefetch_mb'),
       'must be >= 0 (MiB the pipeline holds; 0: what four batches ahead need)')
  if cfg.name == 'folder':
    need(cfg.num_classes > 0, 'data.num_classes', cfg.num_classes,
         "data.name='folder' needs the number of class folders")


class _Streamed:
  """A source read from disk a batch at a time."""
  to_device = False
  streamed = staticmethod(lambda cfg: True)
  shape = staticmethod(named_shape)

  @staticmethod
  def check(cfg) -> None:
    check_name(cfg, STREAMED)
    check_streamed(cfg)

  @staticmethod
  def load(cfg):
    return load(cfg, named_shape(cfg)[0])


@registry.source('folder')
class FolderTree(_Streamed):
  """An image-folder tree: dir/train/<class>/*, dir/val/<class>/*."""


@registry.source('array_record')
class PackedShards(_Streamed):
  """The ArrayRecord shards experiments.pack writes."""


def load(cfg, num_classes: int | None = None):
  """config.data -> data.Dataset of StreamSplits (source 'folder' or 'array_record').
  Held out for validation (data.num_val > 0): a fixed random subset of the training
  files (the files are sorted by class, so not the last ones); 'test' is the tree's val."""
  root: Any = None if cfg.source == 'tfds' else data_dir(cfg.dir)  # tfds: its own data directory
  if cfg.source == 'tfds':
    name, _, test_split = (cfg.tfds_name or ':'.join(STREAMED_TFDS[cfg.name])).partition(':')
    where = cfg.dir or os.environ.get('TFDS_DATA_DIR')
    tfds_tr, tfds_te = TfdsSource(name, 'train', where), TfdsSource(name, test_split or 'validation', where)
    classes, y, vy = tfds_tr.classes, tfds_tr.labels(), tfds_te.labels()
    tr_src: Source = tfds_tr
    te_src: Source = tfds_te
  elif cfg.source == 'folder':
    files, y, classes = scan_folder(root, 'train')
    tr_src = FolderSource(files)
    vfiles, vy, _ = scan_folder(root, 'val', classes)
    te_src = FolderSource(vfiles)
  else:
    meta = root / 'classes.json'
    if not meta.is_file():
      raise DataError(f'{meta}: not found (experiments.pack writes it beside the shards)')
    classes = json.loads(meta.read_text())
    shards = {s: sorted(root.glob(f'{s}-*.array_record')) for s in ('train', 'val')}
    for s, found in shards.items():
      if not found:
        raise DataError(f'{root}: no {s}-*.array_record shards (python -m experiments.pack)')
    tr_src, te_src = (ArrayRecordSource(shards[s], root / f'{s}-labels.npy') for s in ('train', 'val'))
    y, vy = tr_src.labels(), te_src.labels()
  if num_classes is not None and len(classes) != num_classes:
    raise DataError(f'{root or cfg.tfds_name or cfg.name}: {len(classes)} classes, but '
                    f'data.name={cfg.name!r} has {num_classes}')
  n_val = int(cfg.num_val)
  if n_val >= len(y):
    raise DataError(f'data.num_val={n_val} leaves no training data ({len(y)} examples)')
  order = np.random.default_rng(0).permutation(len(y))
  # data.train_limit: a random subset (the same every run), not the first files: those
  # are sorted by class, and the first 1,000 of a 100-class tree hold 20 classes.
  train_ix = order[n_val:][:cfg.train_limit] if cfg.train_limit else order[n_val:]
  held_ix, train_ix = np.sort(order[:n_val]), np.sort(train_ix)
  held_ix = held_ix[:cfg.eval_limit] if cfg.eval_limit else held_ix
  if cfg.eval_limit:
    te_src, vy = Subset(te_src, np.arange(min(cfg.eval_limit, len(vy)))), vy[:cfg.eval_limit]
  sources = {'train': (Subset(tr_src, train_ix), y[train_ix]), 'test': (te_src, vy)}
  if n_val:
    sources['val'] = (Subset(tr_src, held_ix), y[held_ix])
  size = int(cfg.image_size)
  workers = Workers(Decoder(sources, size, cfg.bad_images), threads=int(cfg.workers),
                    processes=int(cfg.get('processes', 0)))
  split = {k: StreamSplit(workers, k, sources[k][1], k, size, train=k == 'train',
                          prefetch_mb=int(cfg.get('prefetch_mb', 0))) for k in sources}
  return Dataset(cfg.name, len(classes), split['train'], split.get('val'), split['test'])


CHECK_FILE = 'data_check.json'  # in a workdir: data.check_files's (or check_data's) pass


def write_check(path: Path, n: int, bad) -> None:
  """A check's result, written whole then renamed."""
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f'.{path.name}.{os.getpid()}')
  tmp.write_text(json.dumps({'files': n, 'bad': [list(b) for b in bad]}, indent=1))
  os.replace(tmp, path)


def read_check(path: Path, workers: Workers):
  """[(file, why)] of a check kept at path, if it was made of these splits (as many files),
  else None."""
  n = sum(len(src) for src, _ in workers.decoder.sources.values())
  try:
    got = json.loads(path.read_text())
    return [tuple(b) for b in got['bad']] if got['files'] == n else None
  except (OSError, ValueError, KeyError, TypeError):
    return None


def prepare_run(dataset, cfg, workdir: Path, resuming: bool, say=print) -> None:
  """A run's streamed dataset before training: the files this run's earlier processes
  could not decode (workdir/bad_files.txt: the records count them across resumes), and
  data.check_files's pass over every file (its result kept in workdir/data_check.json, so
  a resume does not read them all again). A bad file found by the check stops the run
  here, all of them named, under bad_images='stop'; under 'skip' they are skipped
  without decoding."""
  listed = workdir / 'bad_files.txt'
  if resuming and listed.is_file():
    dataset.bad_before = [f for f in listed.read_text().splitlines() if f]
  if not cfg.get('check_files'):
    return
  kept = workdir / CHECK_FILE
  bad = read_check(kept, dataset.train.workers)
  if bad is not None:
    say(f'files checked before ({kept}): {len(bad)} bad')
  else:
    n, bad = check_dataset(dataset.train.workers, say)
    write_check(kept, n, bad)
  if bad and cfg.bad_images != 'skip':
    shown = '; '.join(f'{why}' for _, why in bad[:3])
    raise DataError(f'data.check_files: {len(bad)} files cannot be decoded ({shown}'
                    f'{"; ..." if len(bad) > 3 else ""}; all in {kept}). data.bad_images=skip '
                    'trains without them (each replaced by the next good file of its split)')
  dataset.train.workers.skip(f for f, _ in bad)
  dataset.bad_before = list(dict.fromkeys(dataset.bad_before + [f for f, _ in bad]))
