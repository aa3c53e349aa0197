"""Streamed image data (ffjax/data/stream.py): decoding speed, what a GPU needs, the loop
against its step, and memory / start-up against the dataset's size.

  python -m benchmarks.stream decode            # images/s per core, per decoder and crop size
  python -m benchmarks.stream feed              # cores per H200 for ASGE's ImageNet step
  python -m benchmarks.stream loop              # loop vs step images/s, streamed source
  python -m benchmarks.stream scale --sizes=1000,10000,100000   # start-up and memory vs size
  python -m benchmarks.stream scale --sizes=10000 --packed      # + array_record start-up
  python -m benchmarks.stream tree --make --tree=/tmp/tree --images=3000   # an ImageNet-like tree
  python -m benchmarks.stream --tree=DIR                        # threads vs processes, 64/128/224
  python -m benchmarks.stream tree --tree=DIR --sleep_ms=300 --prefetch_mb=16  # a slow consumer

decode: ImageNet-like JPEGs made here (500 x 375, quality 90, photo-like), one thread:
  decode, random-resized crop to S and flip (ffjax's training transform), images/s;
  Pillow and simplejpeg decoding the whole image, and ffjax's path (simplejpeg at a
  reduced DCT scale when the crop allows); S = 64, 112, 128, 224.
feed: XLA's FLOP count of the ASGE ImageNet step (configs/asge_imagenet.py, compiled
  here, not run) at the H200's measured rates (114 TFLOP/s float32, 164 bf16:
  docs/REPRODUCTION.md) gives the images/s a GPU would consume; divided by one core's
  decode-and-crop rate, the cores it needs.
loop: the trainer's host loop on a streamed tree against the same step fed from
  memory (the tiny ImageNet config, 64 x 64 crops), images/s of each.
scale: trees of N small JPEGs; seconds to index and open the dataset, and the
  process's resident memory after indexing and after reading 20 batches.
tree: the training stream of an existing image-folder tree (DIR/train/<class>/*), as the
  trainer reads it (StreamSplit.stream: across epochs, one pipeline), with threads and
  with worker processes, at each crop size: images/s in the middle of an epoch and across
  an epoch's end (4 batches either side, every end read), CPU ms per image (this process and its
  workers), peak RSS (this process, and its workers'). --sleep_ms: a consumer that
  sleeps per batch (slower than decoding): the RSS growth against data.prefetch_mb.
  --make: first write DIR as photo-like 500 x 375 JPEGs (~100 KB, ImageNet's typical).
One JSON line per measurement, with the machine and date.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from ffjax.data import stream

MACHINE = f'{platform.node()} ({os.cpu_count()} cpus)'


def _emit(**kw):
  print(json.dumps(dict(kw, machine=MACHINE, date=time.strftime('%Y-%m-%d'))), flush=True)


def photo_jpeg(rng, h=375, w=500, quality=90) -> bytes:
  """A photo-like picture: smooth colour fields plus texture (what JPEG expects)."""
  from PIL import Image
  yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
  base = np.stack([np.sin(6 * xx + c) * np.cos(5 * yy - c) for c in range(3)], -1)
  img = np.clip(127 + 90 * base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
  buf = io.BytesIO()
  Image.fromarray(img).save(buf, format='JPEG', quality=quality)
  return buf.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
  from PIL import Image
  with Image.open(io.BytesIO(data)) as im:
    return np.asarray(im.convert('RGB'))


def bench_decode(n: int):
  """Decode + random-resized crop + flip, one thread: Pillow and simplejpeg decoding the
  whole image, and ffjax's path (simplejpeg at a reduced DCT scale where the crop allows)."""
  rng = np.random.default_rng(0)
  jpegs = [photo_jpeg(rng) for _ in range(16)]
  full = lambda dec: (lambda d, r, s: stream.cut(dec(d), stream.random_box(375, 500, r), s))
  ways = {'pillow': full(pil_decode), 'simplejpeg': full(lambda d: stream.decode(d)),
          'ffjax (simplejpeg, DCT-scaled)': lambda d, r, s: stream.decode_for(
              d, '', lambda h, w: stream.random_box(h, w, r), s)}
  for name, way in ways.items():
    for size in (64, 112, 128, 224):
      t0 = time.perf_counter()
      for i in range(n):
        crop = way(jpegs[i % len(jpegs)], np.random.default_rng(i), size)
        crop = crop[:, ::-1] if i % 2 else crop
      dt = time.perf_counter() - t0
      _emit(bench='stream_decode', way=name, size=size, images=n,
            images_per_sec_per_core=round(n / dt, 1))


def step_flops_per_image(arg: str) -> float:
  """XLA's FLOP count of one training step of configs/asge_imagenet.py:ARG, per image."""
  from benchmarks import throughput
  from ffjax import assembly, loop, parallel
  from experiments import cli
  c = cli.load_config_module(str(Path(__file__).resolve().parents[1] / 'configs' /
                                 'asge_imagenet.py')).get_config(arg)
  s = c.data.image_size
  parts = assembly.build(c, (s, s, 3), 1000, c.train.batch_size * 10)
  mesh = parallel.make_mesh()
  state = assembly.init_state(parts, mesh)
  step = loop.HostLoop(parts.step, mesh, None, c.train.batch_size, 1)._step
  b = c.train.batch_size
  x, y = parallel.put_batch(mesh, np.zeros((b, s, s, 3), np.uint8), np.zeros(b, np.int32))
  return throughput.step_flops(step, state, x, y) / b


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('what', nargs='?', choices=('decode', 'feed', 'loop', 'scale', 'tree'),
                  help="what to measure ('tree' when --tree is given)")
  ap.add_argument('--tree', default='', help='tree: the image-folder tree (DIR/train/<class>/*)')
  ap.add_argument('--make', action='store_true', help='tree: write an ImageNet-like tree there first')
  ap.add_argument('--images', type=int, default=3000, help='tree --make: training images')
  ap.add_argument('--tree_sizes', default='64,128,224', help='tree: crop sizes')
  ap.add_argument('--ways', default='threads,processes', help='tree: threads and/or processes')
  ap.add_argument('--workers', type=int, default=0, help='tree: threads or processes (0: one per core)')
  ap.add_argument('--batch', type=int, default=64, help='tree: batch size')
  ap.add_argument('--epochs', type=float, default=2.5, help='tree: epochs read')
  ap.add_argument('--sleep_ms', type=float, default=0., help='tree: consumer sleep per batch')
  ap.add_argument('--prefetch_mb', type=int, default=0, help='tree: data.prefetch_mb (0: four batches ahead)')
  ap.add_argument('--n', type=int, default=400, help='decode: images per measurement')
  ap.add_argument('--sizes', default='1000,10000', help='scale: tree sizes')
  ap.add_argument('--packed', action='store_true',
                  help='scale: also pack each tree and time the array_record start-up')
  ap.add_argument('--per_core', type=float, default=0.,
                  help='feed: decode-and-crop images/s of one core at 224 (0: measure it)')
  a = ap.parse_args()
  a.what = a.what or ('tree' if a.tree else None)
  if a.what is None:
    ap.error('what to measure: decode, feed, loop, scale, or tree (--tree=DIR)')
  if a.what == 'decode':
    bench_decode(a.n)
  elif a.what == 'feed':
    per_core = a.per_core
    if not per_core:
      rng = np.random.default_rng(0)
      jp = [photo_jpeg(rng) for _ in range(8)]
      t0 = time.perf_counter()
      for i in range(200):
        r = np.random.default_rng(i)
        stream.decode_for(jp[i % 8], '', lambda h, w: stream.random_box(h, w, r), 224)
      per_core = 200 / (time.perf_counter() - t0)
    for arg, dtype, tflops in (('', 'float32', 114.), ('bf16', 'bfloat16', 164.)):
      f = step_flops_per_image(arg)
      ips = tflops * 1e12 / f
      _emit(bench='stream_feed', config=f'configs/asge_imagenet.py:{arg}', dtype=dtype,
            gflop_per_image=round(f / 1e9, 2), h200_images_per_sec=round(ips),
            decode_per_core_224=round(per_core, 1), cores_needed=round(ips / per_core, 1))
  elif a.what == 'loop':
    bench_loop()
  elif a.what == 'tree':
    if not a.tree:
      ap.error('tree needs --tree=DIR')
    if a.make:
      make_photo_tree(Path(a.tree), a.images)
    for size in map(int, a.tree_sizes.split(',')):
      for way in a.ways.split(','):
        bench_tree(Path(a.tree), size, way, a)
  else:
    for n in map(int, a.sizes.split(',')):
      bench_scale(n, a.packed)


def _tree(root: Path, n: int, classes: int = 10, size: int = 48):
  rng = np.random.default_rng(0)
  from PIL import Image
  pics = []
  for c in range(classes):
    buf = io.BytesIO()
    img = np.clip(rng.normal(128, 40, (size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(buf, format='JPEG', quality=85)
    pics.append(buf.getvalue())
  for split, m in (('train', n), ('val', max(classes, n // 50))):
    for c in range(classes):
      (root / split / f'c{c:04d}').mkdir(parents=True, exist_ok=True)
    for i in range(m):
      (root / split / f'c{i % classes:04d}' / f'{i:08d}.JPEG').write_bytes(pics[i % classes])


def _rss_mib() -> float:
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_scale(n: int, packed: bool = False):
  import ml_collections
  from ffjax import data
  with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    _tree(Path(d), n)
    made = time.perf_counter() - t0
    cfg = ml_collections.ConfigDict(dict(
        dir=d, source='folder', name='folder', num_classes=10, image_size=64, bad_images='stop',
        workers=0, num_val=0, train_limit=0, eval_limit=0))
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    ds = data.load(cfg)
    startup = time.perf_counter() - t0
    rss1 = _rss_mib()
    order = data.epoch_order_host(0, 0, len(ds.train))
    it = ds.train.batches([order[i * 64:(i + 1) * 64] for i in range(20)])
    for _ in it:
      pass
    rss2 = _rss_mib()
    _emit(bench='stream_scale', images=n, tree_written_s=round(made, 1), startup_s=round(startup, 2),
          rss_before_MiB=round(rss0), rss_indexed_MiB=round(rss1), rss_after_20_batches_MiB=round(rss2))
    if packed:  # the same tree as ArrayRecord shards: start-up with pack's label files and without
      from experiments import pack
      out = Path(d) / 'packed'
      out.mkdir()
      classes = None
      for split in ('train', 'val'):
        _, _, classes = pack.pack_split(Path(d), out, split, classes, 1024, 0, 90)
      (out / 'classes.json').write_text(json.dumps(classes))
      cfg.source, cfg.dir = 'array_record', str(out)
      times = {}
      for labels in ('labels_file', 'records'):
        if labels == 'records':
          for f in out.glob('*-labels.npy'):
            f.unlink()
        t0 = time.perf_counter()
        data.load(cfg)
        times[labels] = round(time.perf_counter() - t0, 2)
      _emit(bench='stream_scale_packed', images=n, startup_s_with_labels_file=times['labels_file'],
            startup_s_reading_records=times['records'])


def make_photo_tree(root: Path, n: int, classes: int = 20):
  """root/{train,val}/<class>/*.JPEG: n (and n // 10) photo-like 500 x 375 JPEGs, each its own."""
  rng = np.random.default_rng(0)
  for split, m in (('train', n), ('val', max(classes, n // 10))):
    for i in range(m):
      d = root / split / f'n{i % classes:08d}'
      d.mkdir(parents=True, exist_ok=True)
      (d / f'{split}_{i:07d}.JPEG').write_bytes(photo_jpeg(rng))


def _status_kib(pid, key: str) -> int:
  try:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
      if line.startswith(key + ':'):
        return int(line.split()[1])
  except OSError:
    pass
  return 0


def _cpu_s(pid) -> float:
  try:
    f = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')  # utime + stime
  except OSError:
    return 0.


def bench_tree(root: Path, size: int, way: str, a):
  """The trainer's stream of root's training split: rates mid-epoch and across an epoch's
  end, CPU per image, peak RSS (see the module's doc)."""
  import ml_collections
  from ffjax import data
  n_work = a.workers or stream.usable_cpus()
  classes = len([p for p in (root / 'train').iterdir() if p.is_dir()])
  cfg = ml_collections.ConfigDict(dict(
      dir=str(root), source='folder', name='folder', num_classes=classes, image_size=size,
      bad_images='stop', workers=n_work if way == 'threads' else 0,
      processes=n_work if way == 'processes' else 0, prefetch_mb=a.prefetch_mb, num_val=0,
      train_limit=0, eval_limit=0))
  stream.check_budget(cfg, a.batch)  # as the trainer refuses a setting it cannot keep to
  ds = data.load(cfg)
  b, spe = a.batch, len(ds.train) // a.batch
  steps = int(a.epochs * spe)
  data.epoch_order_host(0, 0, len(ds.train))  # compiled before the clock starts
  import simplejpeg  # noqa: F401  (imported by the first decode: not the pipeline's memory)
  from PIL import Image  # noqa: F401
  try:
    Path('/proc/self/clear_refs').write_text('5')  # the peak RSS counts from here
  except OSError:
    pass
  rss0 = _status_kib('self', 'VmRSS')
  it = ds.train.stream(0, 0, b)
  next(it)  # the workers started, their first batch decoded
  pids = list(getattr(ds.train.workers._ex, '_processes', {}) or {})
  cpu0 = _cpu_s('self') + sum(_cpu_s(p) for p in pids)
  t0 = time.perf_counter()
  at = [t0]
  peak_w = 0
  for s in range(1, steps):
    next(it)
    at.append(time.perf_counter())
    if a.sleep_ms:
      time.sleep(a.sleep_ms / 1e3)
    if s % 8 == 0:
      peak_w = max(peak_w, sum(_status_kib(p, 'VmRSS') for p in pids))
  cpu = _cpu_s('self') + sum(_cpu_s(p) for p in pids) - cpu0
  wall = at[-1] - t0
  at = np.asarray(at)  # at[s]: when batch s arrived (s >= 1 measured from batch 0's arrival)

  # 8-batch windows: those across an epoch's end (4 batches either side), and the middles
  # of epochs (the same length, away from both ends), each kind's rate over all of them.
  ends = [e * spe for e in range(1, steps // spe + 1) if e * spe + 4 < steps]
  mids = [e * spe + spe // 2 for e in range(steps // spe + 1) if spe >= 16 and e * spe + spe // 2 + 4 < steps]
  both = lambda at_: (8 * b * len(at_) / sum(at[c + 4] - at[c - 4] for c in at_)) if at_ else float('nan')
  mid, edge = both(mids), both(ends)
  held = ds.train.window(b) * size * size * 3 / 2**20
  least = stream.budget_mb(b, size, n_work)
  _emit(bench='stream_tree', tree=str(root), images=len(ds.train), size=size, way=way,
        workers=n_work, batch=b, batches=steps, sleep_ms=a.sleep_ms, prefetch_mb=a.prefetch_mb,
        images_per_sec=round(b * (steps - 1) / wall, 1), mid_epoch_images_per_sec=round(mid, 1),
        epoch_end_images_per_sec=round(edge, 1), epoch_end_over_mid=round(edge / mid, 3),
        cpu_ms_per_image=round(1e3 * cpu / (b * (steps - 1)), 2),
        rss_start_MiB=round(rss0 / 1024), rss_growth_peak_MiB=round((_status_kib('self', 'VmHWM') - rss0) / 1024),
        held_ahead_MiB=round(held, 1), least_prefetch_mb=least, workers_rss_MiB=round(peak_w / 1024))
  it.close()


def bench_loop():
  import jax
  from ffjax import assembly, data, loop, parallel
  from experiments import cli
  with tempfile.TemporaryDirectory() as d:
    _tree(Path(d), 2000, classes=10, size=96)
    c = cli.load_config_module(str(Path(__file__).resolve().parents[1] / 'configs' /
                                   'asge_imagenet.py')).get_config('tiny,dataset=folder,classes=10,size=64')
    c.data.dir, c.train.batch_size = d, 64
    ds = data.load(c.data)
    parts = assembly.build(c, ds.image_shape, ds.num_classes, len(ds.train))
    mesh = parallel.make_mesh()
    spe = len(ds.train) // 64
    hl = loop.HostLoop(parts.step, mesh, ds.train, 64, spe)
    state = assembly.init_state(parts, mesh)
    x, y = next(ds.train.batches([np.arange(64)]))
    xs, ys = parallel.put_batch(mesh, x, y)
    for _ in range(3):
      state, m = hl._step(state, xs, ys)
    jax.block_until_ready(m)
    t0 = time.perf_counter()
    for _ in range(20):
      state, m = hl._step(state, xs, ys)
    jax.block_until_ready(m)
    step_ips = 20 * 64 / (time.perf_counter() - t0)
    state, ms = hl.run(state, 0, 2, (0,))  # warm the iterator
    jax.block_until_ready(ms)
    t0 = time.perf_counter()
    state, ms = hl.run(state, 2, 20, (0,))
    jax.block_until_ready(ms)
    loop_ips = 20 * 64 / (time.perf_counter() - t0)
    _emit(bench='stream_loop', config='configs/asge_imagenet.py:tiny,size=64', batch=64,
          step_images_per_sec=round(step_ips, 1), loop_images_per_sec=round(loop_ips, 1),
          loop_fraction_of_step=round(loop_ips / step_ips, 3), jax=jax.__version__)


if __name__ == '__main__':
  main()
