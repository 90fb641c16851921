"""What every data source produces (the training and validation sides, as arrays or files), and
the one place that decides the pixel scale the pipeline feeds: ``pixels`` for arrays, ``decode``
for encoded images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Records:
    """TFRecord shards, their record counts, and which of their records belong to one side."""

    shards: tuple[str, ...]
    counts: tuple[int, ...]
    keep: np.ndarray | None = None  # one flag per record of all the shards in order; None: every record

    def __len__(self) -> int:
        return int(self.keep.sum()) if self.keep is not None else sum(self.counts)


@dataclass(frozen=True)
class Split:
    """One side of the data: labels, and the images in memory (N x H x W x C) or as files; or
    TFRecord shards (``records``), whose labels are read with the images."""

    labels: np.ndarray
    images: np.ndarray | None = None
    files: tuple[str, ...] = ()
    records: Records | None = None

    def __len__(self) -> int:
        return len(self.records) if self.records is not None else len(self.labels)


@dataclass(frozen=True)
class Data:
    source: str
    kind: str  # digits, folder, npz, synthetic, cifar10, cifar100, tfrecord
    num_classes: int
    shape: tuple[int, int, int] | None  # of in-memory images (files differ; they decode to the spec's)
    train: Split
    val: Split
    mirror_safe: bool = True  # whether a horizontal flip keeps the class

    def describe(self) -> str:
        return (f"data {self.source}: {len(self.train)} training and {len(self.val)} validation images, "
                f"{self.num_classes} classes")


def pixels(x: np.ndarray) -> np.ndarray:
    """In-memory images as the pipeline takes them: 8-bit ones scaled to [0, 1], float ones as they are."""
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def eight_bit(images: np.ndarray) -> np.ndarray:
    """Images made by ``pixels`` back as 8-bit values (to encode them as PNG)."""
    return np.clip(np.round(images * 255), 0, 255).astype(np.uint8)


def decode(contents: "tf.Tensor", channels: int) -> "tf.Tensor":
    """Encoded image bytes (PNG, JPEG, GIF, BMP) as the pipeline takes them: float32 in [0, 1], like ``pixels``."""
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
    return tf.image.convert_image_dtype(image, tf.float32)
