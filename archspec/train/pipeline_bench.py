"""How fast the input pipeline alone feeds a run: `archspec bench SPEC --data SRC`.

The training pipeline (read, decode, augment, batch) is iterated with no model behind it and
timed in images per second, beside tf.data's bare decode of the same files (read and decode,
nothing else, in parallel) as the ceiling it could reach, so a user sees whether the data or
the model bounds a run: the model's training img/s comes from ``archspec.train.bench``.

The ceiling decodes what the pipeline decodes: where training takes random-resized crops, a JPEG
decodes only its crop window, so the ceiling is the bare decode of windows drawn the same way
(comparing with whole-image decodes would flatter the pipeline); the whole-image decode is
measured beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..spec.schema import ModelSpec
from .data import Data, augment_mode, pipelines, resized_crop_window
from .sources.base import decode

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class PipelineSpeed:
    source: str
    batch_size: int
    input_shape: tuple[int, int, int]
    pipeline_img_s: float
    bare_decode_img_s: float | None  # what the pipeline decodes, nothing else; None for in-memory data
    whole_decode_img_s: float | None  # every image decoded whole, for comparison

    @property
    def ratio(self) -> float | None:
        """The pipeline's speed over the bare decode of what it decodes (aim: 0.8 or more)."""
        return self.pipeline_img_s / self.bare_decode_img_s if self.bare_decode_img_s else None


def measure_pipeline(data: Data, spec: ModelSpec, images: int) -> PipelineSpeed:
    """Images per second of ``spec``'s training pipeline over ``data``, of a bare decode of what it decodes
    (crop windows where it takes random-resized crops), and of a bare decode of whole images."""
    t = spec.train
    train, _ = pipelines(data, spec, t)
    batches = max(2, images // t.batch_size)
    pipeline = _rate(train.repeat(), batches + 1, t.batch_size)
    channels = spec.input_shape[2]
    whole = _bare_decode(data, channels, windowed=False)
    whole_rate = _rate(whole.repeat(), images + 1, 1) if whole is not None else None
    windowed = _bare_decode(data, channels, windowed=augment_mode(t, spec.input_shape) == "resized_crop")
    bare_rate = _rate(windowed.repeat(), images + 1, 1) if windowed is not None else None
    return PipelineSpeed(data.source, t.batch_size, spec.input_shape, pipeline, bare_rate, whole_rate)


def _bare_decode(data: Data, channels: int, windowed: bool) -> "tf.data.Dataset | None":
    """tf.data reading and decoding the training files (or records) in parallel, nothing else; ``windowed``:
    only random-resized-crop windows of them, drawn as training draws them."""
    import tensorflow as tf

    from .sources.tfrecord import IMAGE, Records

    if isinstance(data.train.records, Records):
        records = tf.data.TFRecordDataset(list(data.train.records.shards), num_parallel_reads=tf.data.AUTOTUNE)
        image = tf.io.FixedLenFeature([], tf.string)
        encoded = records.map(lambda r: tf.io.parse_single_example(r, {IMAGE: image})[IMAGE],
                              num_parallel_calls=tf.data.AUTOTUNE)
    elif data.train.records is not None:  # another stream (a tfds split), read encoded
        encoded = data.train.records.dataset(None, data.num_classes, None).map(lambda image, _: image)
    elif data.train.files:
        encoded = tf.data.Dataset.from_tensor_slices(list(data.train.files)).map(tf.io.read_file)
    else:
        return None
    key = tf.constant([0, 0], tf.int64)
    keyed = tf.data.Dataset.zip(encoded, tf.data.Dataset.range(len(data.train)))
    return keyed.map(lambda contents, i: decode(contents, channels, resized_crop_window(
        tf.random.experimental.stateless_fold_in(key, i)) if windowed else None),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _rate(dataset: "tf.data.Dataset", elements: int, per_element: int) -> float:
    """Images per second over ``elements`` - 1 elements, after one to warm up."""
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(elements - 1):
        next(iterator)
    return (elements - 1) * per_element / (time.perf_counter() - start)
