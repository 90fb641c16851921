"""A classifier with published weights, used: top-k classes of image files, and top-1/top-5 accuracy
on a data source, each image fed through the evaluation transform recorded with the weights."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ..spec.errors import RunError
from ..spec.source_schema import EvalTransform
from .data import Data
from .eval_transform import resize_and_crop


@dataclass(frozen=True)
class Transform:
    """The evaluation transform for a model of input ``size``: the record's, scaled to that size."""

    size: int
    resize: int | None = None  # None: size / 0.875
    interpolation: str = "bilinear"

    @classmethod
    def of(cls, size: int, record: EvalTransform | None) -> Transform:
        if record is None:
            return cls(size)
        return cls(size, round(record.resize * size / record.crop), record.interpolation)

    def describe(self) -> str:
        resize = self.resize or f"{int(self.size / 0.875)} (size / 0.875; the weights record none)"
        return f"shorter side resized to {resize} ({self.interpolation}), centre {self.size}x{self.size} crop"

    def apply(self, image):
        return resize_and_crop(image, self.size, self.resize, self.interpolation)


def read_image(path: Path, transform: Transform, channels: int):
    """One image file, decoded and transformed, as float32 0..255."""
    import tensorflow as tf

    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=channels, expand_animations=False)
    except (tf.errors.OpError, ValueError) as err:
        message = getattr(err, "message", str(err)).splitlines()[0]
        raise RunError(f"cannot read image '{path}': {message}") from None
    return transform.apply(image)


def predict_files(model: keras.Model, files: list[Path], transform: Transform) -> np.ndarray:
    """Class probabilities, one row per file."""
    import tensorflow as tf

    channels = model.input_shape[-1]
    batch = tf.stack([read_image(path, transform, channels) for path in files])
    return np.asarray(model.predict(np.asarray(batch), verbose=0))


@dataclass(frozen=True)
class Accuracy:
    images: int
    top1: float
    top5: float


def evaluate(model: keras.Model, data: Data, transform: Transform, batch_size: int,
             progress: Callable[[Iterator, int], Iterator] = lambda batches, _: batches) -> Accuracy:
    """Top-1 and top-5 accuracy over every image of ``data`` (both sides of its split)."""
    classes = model.output_shape[-1]
    if data.num_classes > classes:
        raise RunError(f"{data.source} has labels up to {data.num_classes - 1}, the model {classes} classes")
    hits1 = hits5 = seen = 0
    dataset = _images(data, transform, model.input_shape[-1]).batch(batch_size)
    total = -(-(len(data.train) + len(data.val)) // batch_size)
    for images, labels in progress(iter(dataset), total):
        probabilities = keras.ops.convert_to_numpy(model(np.asarray(images), training=False))
        top = np.argsort(-probabilities, axis=1)[:, :5]
        labels = labels.numpy()
        hits1 += int((top[:, 0] == labels).sum())
        hits5 += int((top == labels[:, None]).any(axis=1).sum())
        seen += len(labels)
    return Accuracy(seen, hits1 / seen, hits5 / seen)


def _images(data: Data, transform: Transform, channels: int):
    """(image, label) pairs of both sides of the split, transformed; in-memory images are taken as 0..255."""
    import tensorflow as tf

    labels = np.concatenate([data.train.labels, data.val.labels])
    if data.train.files:
        files = list(data.train.files + data.val.files)

        def decode(path, label):
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            return transform.apply(image), label

        return tf.data.Dataset.from_tensor_slices((files, labels)).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if data.train.images is None:
        raise RunError(f"{data.source} holds no images to evaluate on")
    images = np.concatenate([data.train.images, data.val.images])
    if images.ndim == 3:
        images = images[..., None]

    def fit(image, label):
        if image.shape[-1] != channels:
            image = tf.image.grayscale_to_rgb(image) if channels == 3 else tf.image.rgb_to_grayscale(image)
        return transform.apply(image), label

    return tf.data.Dataset.from_tensor_slices((images, labels)).map(fit)
