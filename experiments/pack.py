"""Packs an image-folder tree into ArrayRecord shards, for fast sequential reads.

  python -m experiments.pack --src=/data/imagenet --out=/data/imagenet_packed
  python -m experiments.pack --src=/data/imagenette2 --out=/data/inette --max_side=320

Reads SRC/train/<class>/* and SRC/val/<class>/* (the classes of train, sorted), decodes
every file once (so a bad one is found here, not in a training run), and writes
OUT/{train,val}-NNNNN-of-MMMMM.array_record (records: the label as 4 little-endian
bytes, then a JPEG), OUT/{train,val}-labels.npy (every record's label in order: a run
starts without reading the shards) and OUT/classes.json; a run reads them with
data.source=array_record.
JPEGs pass through as they are unless --max_side shrinks them; anything else (a CMYK
JPEG, a PNG named .JPEG) is re-encoded as an RGB JPEG. A file that cannot be decoded is
left out, counted and listed in OUT/skipped.txt. One line per split at the end.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from absl import flags

from experiments import cli

flags.DEFINE_string('src', None, 'The image-folder tree (train/<class>/*, val/<class>/*).')
flags.DEFINE_string('out', None, 'Where the shards go (created).')
flags.DEFINE_integer('shard_size', 10000, 'Records per shard.')
flags.DEFINE_integer('max_side', 0, 'Shrink images whose longer side exceeds this (0: keep).')
flags.DEFINE_integer('quality', 95, 'JPEG quality of re-encoded images.')


def encode(img, quality: int) -> bytes:
  import simplejpeg
  return simplejpeg.encode_jpeg(img, quality=quality, colorspace='RGB')


def pack_split(src: Path, out: Path, split: str, classes, shard_size: int, max_side: int,
               quality: int):
  """(written, skipped files) of one split."""
  import numpy as np
  from array_record.python import array_record_module as arm
  from ffjax.data import stream
  files, labels, classes = stream.scan_folder(src, split, classes)
  n_shards = max(1, -(-len(files) // shard_size))
  skipped, written, writer, kept = [], 0, None, []
  for i, (f, y) in enumerate(zip(files, labels)):
    if i % shard_size == 0:
      if writer is not None:
        writer.close()
      writer = arm.ArrayRecordWriter(
          str(out / f'{split}-{i // shard_size:05d}-of-{n_shards:05d}.array_record'), 'group_size:1')
    raw = Path(f).read_bytes()
    try:
      img = stream.decode(raw, f)
    except stream.BadImage as e:
      skipped.append(f'{f}\t{e}')
      continue
    is_rgb_jpeg = raw[:2] == b'\xff\xd8' and not _is_cmyk(raw)
    if max_side and max(img.shape[:2]) > max_side:
      s = max_side / max(img.shape[:2])
      img = stream._resize(img, max(1, round(img.shape[0] * s)), max(1, round(img.shape[1] * s)))
      raw = encode(np.ascontiguousarray(img), quality)
    elif not is_rgb_jpeg:
      raw = encode(np.ascontiguousarray(img), quality)
    writer.write(int(y).to_bytes(4, 'little') + raw)
    kept.append(y)
    written += 1
  if writer is not None:
    writer.close()
  # Every record's label in record order, so that a run starts without reading the shards
  # (ImageNet: 1.28 million reads); the records keep theirs, which a run checks it against.
  np.save(out / f'{split}-labels.npy', np.asarray(kept, np.int32))
  return written, skipped, classes


def _is_cmyk(raw: bytes) -> bool:
  import simplejpeg
  try:
    return simplejpeg.decode_jpeg_header(raw)[2] in ('CMYK', 'YCCK')
  except ValueError:
    return False


def main(argv):
  if len(argv) > 1:
    cli.die(f'unexpected argument {argv[1]!r} (see --help)')
  f = flags.FLAGS
  if not f.src or not f.out:
    cli.die('--src=DIR and --out=DIR are required (see --help)')
  from ffjax.data import DataError
  src, out = Path(f.src), Path(f.out)
  if out.exists() and any(out.glob('*.array_record')):
    cli.die(f'--out={out} already holds shards: use an empty folder')
  out.mkdir(parents=True, exist_ok=True)
  classes, all_skipped = None, []
  try:
    for split in ('train', 'val'):
      t0 = time.time()
      n, skipped, classes = pack_split(src, out, split, classes, f.shard_size, f.max_side, f.quality)
      all_skipped += skipped
      print(f'{split}: {n} images in {max(1, -(-n // f.shard_size))} shards, {len(skipped)} '
            f'skipped, {time.time() - t0:.0f} s', flush=True)
  except DataError as e:
    cli.die(str(e))
  (out / 'classes.json').write_text(json.dumps(classes))
  if all_skipped:
    (out / 'skipped.txt').write_text('\n'.join(all_skipped) + '\n')
    print(f'skipped files (cannot be decoded): {out / "skipped.txt"}', file=sys.stderr)


if __name__ == '__main__':
  cli.run(main)
