"""TFRecord shards of TensorFlow's standard image-classification examples, the layout TFDS and
the TF Model Garden write: ``image/encoded`` (JPEG or PNG bytes) and ``image/class/label``
(int64, from 0).

``tfrecord:GLOB`` reads the shards GLOB matches; ``tfrecord:GLOB,VAL_GLOB`` takes the second as
the fixed validation set; with one glob a seeded ``validation_split`` of the records is held
out. At start-up every shard's record framing is walked (a seek per record, no decoding), so a
truncated shard is named before anything is built, and the first record is checked for the two
features. The classes are those ``data pack`` recorded beside the shards (``classes.json``), or else
counted from every record's label at start-up; labels are checked against the head's classes again as
records are read.
"""

from __future__ import annotations

import glob
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...spec.errors import RunError
from ...utils.atomic import write_text
from .base import SHUFFLE_BUFFER, Data, decode, hold_out, kept, streamed

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE, LABEL = "image/encoded", "image/class/label"
CLASSES_FILE = "classes.json"  # beside the shards: their class count and names (``data pack`` writes it)
INTERLEAVE = 8  # shards read at once; when training, in a shuffled order


@dataclass(frozen=True)
class Records:
    """TFRecord shards, their record counts, and which of their records belong to one side (a ``Stream``)."""

    shards: tuple[str, ...]
    counts: tuple[int, ...]
    keep: np.ndarray | None = None  # one flag per record of all the shards in order; None: every record

    def __len__(self) -> int:
        return int(self.keep.sum()) if self.keep is not None else sum(self.counts)

    def dataset(self, channels: int, classes: int, shuffle_seed: int | None) -> "tf.data.Dataset":
        return records_dataset(self, channels, classes, shuffle_seed)


def open_tfrecord(source: str, globs: str, *, validation_split: float, seed: int) -> Data:
    """The shards of ``globs`` (training, and optionally ``,VALIDATION``), checked, and their classes: those
    ``data pack`` recorded beside them (``classes.json``), else counted from the labels of every record."""
    train_glob, _, val_glob = globs.partition(",")
    train = _shards(source, train_glob)
    val = _shards(source, val_glob) if val_glob else None
    count, names = _classes(train, val)
    if val is not None:
        return Data(source, "tfrecord", count, None, streamed(train), streamed(val), classes=names, given_val=True)
    held_out = hold_out(source, len(train), validation_split, seed)
    return Data(source, "tfrecord", count, None, streamed(Records(train.shards, train.counts, ~held_out)),
                streamed(Records(train.shards, train.counts, held_out)), classes=names)


def write_classes(folder: Path, count: int, names: tuple[str, ...]) -> None:
    """The record ``open_tfrecord`` reads instead of counting labels: the class count and names, if any."""
    write_text(folder / CLASSES_FILE, json.dumps({"num_classes": count, "classes": list(names) or None}) + "\n")


def _classes(train: Records, val: Records | None) -> tuple[int, tuple[str, ...]]:
    record = Path(train.shards[0]).parent / CLASSES_FILE
    if record.is_file():
        try:
            written = json.loads(record.read_text(encoding="utf-8"))
            count, names = int(written["num_classes"]), tuple(written.get("classes") or ())
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise RunError(f"cannot read the class record '{record}' ({err}): it should hold "
                           f'{{"num_classes": N, "classes": [names] or null}}, as `archspec data pack` writes it; '
                           f"delete it to count the classes from the labels") from None
        if count < 1 or (names and len(names) != count):
            raise RunError(f"the class record '{record}' says {count} classes and names {len(names)}")
        return count, names
    return _label_count(train.shards + (val.shards if val else ())), ()


def _label_count(shards: tuple[str, ...]) -> int:
    """One more than the largest label of any record (reading every record; ``data pack`` writes a record
    that spares this)."""
    from ...keras.quiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    label = {LABEL: tf.io.FixedLenFeature([], tf.int64)}
    records = tf.data.TFRecordDataset(list(shards), num_parallel_reads=tf.data.AUTOTUNE)
    labels = records.map(lambda r: tf.io.parse_single_example(r, label)[LABEL], num_parallel_calls=tf.data.AUTOTUNE)
    return int(labels.reduce(tf.constant(-1, tf.int64), tf.maximum)) + 1


def _shards(source: str, pattern: str) -> Records:
    shards = sorted(glob.glob(os.path.expanduser(pattern.strip())))
    if not shards:
        raise RunError(f"data {source}: no file matches '{pattern.strip()}'")
    counts = tuple(count_records(path) for path in shards)
    if not sum(counts):
        raise RunError(f"data {source}: the shards of '{pattern.strip()}' hold no records")
    _check_example(next(path for path, n in zip(shards, counts) if n))
    return Records(tuple(shards), counts)


def count_records(path: str) -> int:
    """Records in a TFRecord file, by walking its framing (length, CRC, data, CRC); a truncated
    or foreign file is a RunError naming it."""
    try:
        size = os.path.getsize(path)
        count, offset = 0, 0
        with open(path, "rb") as f:
            while offset < size:
                header = f.read(12)
                if len(header) < 12:
                    raise RunError(f"TFRecord shard '{path}' is truncated (it ends inside record {count + 1})")
                offset += 12 + struct.unpack("<Q", header[:8])[0] + 4
                if offset > size:
                    raise RunError(f"TFRecord shard '{path}' is truncated or not a TFRecord file (record "
                                   f"{count + 1} would end at byte {offset:,} of {size:,})")
                f.seek(offset)
                count += 1
    except OSError as err:
        raise RunError(f"cannot read TFRecord shard '{path}': {err.strerror or err}") from None
    return count


def _first_record(path: str) -> bytes:
    with open(path, "rb") as f:
        length = struct.unpack("<Q", f.read(12)[:8])[0]
        return f.read(length)


def _check_example(path: str) -> None:
    """The shard's first record is a tf.train.Example with an image and an integer label."""
    from google.protobuf.message import DecodeError

    from ...keras.quiet import import_tensorflow

    import_tensorflow()
    from tensorflow.core.example import example_pb2

    try:
        features = example_pb2.Example.FromString(_first_record(path)).features.feature
    except DecodeError:
        raise RunError(f"TFRecord shard '{path}' does not hold tf.train.Example records") from None
    missing = [name for name, ok in ((IMAGE, IMAGE in features and features[IMAGE].bytes_list.value),
                                     (LABEL, LABEL in features and features[LABEL].int64_list.value)) if not ok]
    if missing:
        raise RunError(f"TFRecord shard '{path}' lacks {' and '.join(missing)}: archspec reads TensorFlow's "
                       f"image-classification examples, '{IMAGE}' (JPEG or PNG bytes) and '{LABEL}' (int64 from "
                       f"0); its first record has {', '.join(sorted(features)) or 'no features'}")


def records_dataset(records: Records, channels: int | None, classes: int,
                    shuffle_seed: int | None) -> "tf.data.Dataset":
    """(image, label) pairs from the shards; shards and records shuffled each epoch when training.
    With ``channels`` None the images stay encoded (JPEG or PNG bytes): training decodes only the
    window it crops (``decode``)."""
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(list(records.shards))
    if records.keep is None:  # whole shards: read several at once, in a shuffled order when training
        if shuffle_seed is not None:
            files = files.shuffle(len(records.shards), seed=shuffle_seed, reshuffle_each_iteration=True)
        ds = files.interleave(tf.data.TFRecordDataset, cycle_length=min(INTERLEAVE, len(records.shards)),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:  # in order, so that each record's place says which side it is on
        ds = kept(files.flat_map(tf.data.TFRecordDataset), records.keep)
    if shuffle_seed is not None:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)

    def parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        example = tf.io.parse_single_example(record, {IMAGE: tf.io.FixedLenFeature([], tf.string),
                                                      LABEL: tf.io.FixedLenFeature([], tf.int64)})
        label = tf.cast(example[LABEL], tf.int32)
        tf.debugging.assert_less(label, classes, message=f"a record has an {LABEL} beyond the {classes} classes of "
                                                         f"the head (labels run from 0): pass --num-classes")
        tf.debugging.assert_non_negative(label, message=f"a record has a negative {LABEL}")
        return (example[IMAGE] if channels is None else decode(example[IMAGE], channels)), label

    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
