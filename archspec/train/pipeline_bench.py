"""How fast the input pipeline alone feeds a run: `archspec bench SPEC --data SRC`.

The training pipeline (read, decode, augment, batch) is iterated with no model behind it and
timed in images per second, beside tf.data's bare decode of the same files (read and decode,
nothing else, in parallel) as the ceiling it could reach, so a user sees whether the data or
the model bounds a run: the model's training img/s comes from ``archspec.train.bench``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..spec.schema import ModelSpec
from .data import Data, pipelines
from .sources.base import decode

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class PipelineSpeed:
    source: str
    batch_size: int
    input_shape: tuple[int, int, int]
    pipeline_img_s: float
    bare_decode_img_s: float | None  # None for in-memory data, which has nothing to decode

    @property
    def ratio(self) -> float | None:
        return self.pipeline_img_s / self.bare_decode_img_s if self.bare_decode_img_s else None


def measure_pipeline(data: Data, spec: ModelSpec, images: int) -> PipelineSpeed:
    """Images per second of ``spec``'s training pipeline over ``data``, and of a bare decode of its files."""
    t = spec.train
    train, _ = pipelines(data, spec, t)
    batches = max(2, images // t.batch_size)
    pipeline = _rate(train.repeat(), batches + 1, t.batch_size)
    bare = _bare_decode(data, spec.input_shape[2])
    return PipelineSpeed(data.source, t.batch_size, spec.input_shape, pipeline,
                         _rate(bare.repeat(), images + 1, 1) if bare is not None else None)


def _bare_decode(data: Data, channels: int) -> "tf.data.Dataset | None":
    """tf.data reading and decoding the training files (or records) in parallel, nothing else."""
    import tensorflow as tf

    from .sources.tfrecord import IMAGE, Records

    if isinstance(data.train.records, Records):
        records = tf.data.TFRecordDataset(list(data.train.records.shards), num_parallel_reads=tf.data.AUTOTUNE)
        image = tf.io.FixedLenFeature([], tf.string)
        return records.map(lambda r: decode(tf.io.parse_single_example(r, {IMAGE: image})[IMAGE], channels),
                           num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    if data.train.records is not None:  # another stream (a tfds split): its own reading and decoding
        return data.train.records.dataset(channels, data.num_classes, None).map(lambda image, _: image)
    if data.train.files:
        files = tf.data.Dataset.from_tensor_slices(list(data.train.files))
        return files.map(lambda path: decode(tf.io.read_file(path), channels),
                         num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return None


def _rate(dataset: "tf.data.Dataset", elements: int, per_element: int) -> float:
    """Images per second over ``elements`` - 1 elements, after one to warm up."""
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(elements - 1):
        next(iterator)
    return (elements - 1) * per_element / (time.perf_counter() - start)
