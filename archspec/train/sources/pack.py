"""`archspec data pack`: a data source written as TFRecord shards of TensorFlow's standard
image-classification examples (``image/encoded``, ``image/class/label``), readable back with
``tfrecord:DIR/train-*,DIR/val-*``.

Image files are copied byte for byte (no re-encoding); in-memory images (npz, digits, cifar)
are encoded as PNG from 8 bits. Shards are written in parallel threads (TensorFlow's writer and
PNG encoder release the GIL), each to a temporary name renamed into place when whole, so an
interrupted pack leaves no shard that looks finished.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ...spec.errors import RunError, reason
from .base import Data, Split, eight_bit
from .tfrecord import IMAGE, LABEL, write_classes


@dataclass(frozen=True)
class Shard:
    path: Path
    split: Split
    indices: range


def plan_shards(data: Data, out: Path, shard_size: int) -> list[Shard]:
    """The shards of each side of ``data``: ``train-00000-of-00012.tfrecord`` ..., ``val-...``."""
    shards = []
    for name, split in (("train", data.train), ("val", data.val)):
        if split.records is not None:
            raise RunError(f"data {data.source} is streamed already (TFRecord shards or a tfds data set): "
                           f"train on it as it is")
        count = math.ceil(len(split) / shard_size)
        shards += [Shard(out / f"{name}-{i:05d}-of-{count:05d}.tfrecord", split,
                         range(i * shard_size, min(len(split), (i + 1) * shard_size))) for i in range(count)]
    return shards


def check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunError(f"--out '{out}' is a file, not a folder")
    if out.is_dir() and any(out.glob("*.tfrecord")):
        raise RunError(f"--out '{out}' already holds .tfrecord shards: choose a new or empty folder")


def pack(data: Data, out: Path, shard_size: int, progress: Callable[[int], None] = lambda n: None) -> list[Path]:
    """Write ``data``'s sides as shards into ``out`` (a new or empty folder); ``progress`` gets each
    finished shard's image count. Returns the shards written."""
    check_out(out)
    shards = plan_shards(data, out, shard_size)
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {pool.submit(_write, shard): shard for shard in shards}
        for future in as_completed(futures):
            future.result()
            progress(len(futures[future].indices))
    write_classes(out, data.num_classes, data.classes)
    return [s.path for s in shards]


def _write(shard: Shard) -> None:
    import tensorflow as tf

    partial = shard.path.with_name(shard.path.name + ".partial")
    try:
        with tf.io.TFRecordWriter(str(partial)) as writer:
            for encoded, label in _examples(shard):
                features = {IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                            LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
        partial.rename(shard.path)
    except (OSError, tf.errors.OpError) as err:
        partial.unlink(missing_ok=True)
        raise RunError(f"cannot write {shard.path}: {getattr(err, 'strerror', None) or reason(err)}") from None


def _examples(shard: Shard) -> Iterator[tuple[bytes, int]]:
    """(encoded image, label) of each image of the shard."""
    import tensorflow as tf

    split = shard.split
    for i in shard.indices:
        if split.files:
            try:
                encoded = Path(split.files[i]).read_bytes()
            except OSError as err:
                raise RunError(f"cannot read image '{split.files[i]}': {err.strerror}") from None
        else:
            encoded = tf.io.encode_png(eight_bit(split.images[i])).numpy()
        yield encoded, split.labels[i]
