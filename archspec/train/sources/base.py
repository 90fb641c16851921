"""What every data source produces (the training and validation sides, as arrays or files), and
the one place that decides the pixel scale the pipeline feeds: ``pipeline_scale`` for arrays,
``decode`` for encoded images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ...spec.errors import RunError

if TYPE_CHECKING:
    import tensorflow as tf

Window = Callable[["tf.Tensor"], tuple["tf.Tensor", "tf.Tensor"]]  # image shape -> begin, size (as tf.slice takes)
WHITE = 255.0  # a full-scale pixel: models take pixel values and normalise them inside (the spec's preprocess)
ACCURATE_DCT = "INTEGER_ACCURATE"  # libjpeg's ISLOW, PIL's default
SHUFFLE_BUFFER = 10_000  # records of a stream shuffled at once when training


class Stream(Protocol):
    """Records read as a stream in one fixed order, each label read with its image, not indexable:
    TFRecord shards (``tfrecord.Records``) or a tfds split (``tfds.TfdsSplit``). A side's records are
    the whole stream, or those ``keep`` flags (a seeded hold-out)."""

    keep: np.ndarray | None

    def __len__(self) -> int: ...

    def dataset(self, channels: int | None, classes: int, shuffle_seed: int | None) -> "tf.data.Dataset":
        """(image, label) pairs: images decoded on the pipeline's scale, or still encoded with ``channels``
        None (training decodes only the window it crops); shuffled by ``shuffle_seed`` (one per epoch)
        when training, in the stream's fixed order when None; ``classes`` is the head's."""
        ...


@dataclass(frozen=True)
class Split:
    """One side of the data: labels, and the images in memory (N x H x W x C) or as files; or a
    stream of records (TFRecord shards, a tfds split), whose labels are read with the images."""

    labels: np.ndarray
    images: np.ndarray | None = None
    files: tuple[str, ...] = ()
    records: Stream | None = None

    def __len__(self) -> int:
        return len(self.records) if self.records is not None else len(self.labels)


@dataclass(frozen=True)
class Data:
    source: str
    kind: str  # digits, folder, npz, synthetic, cifar10, cifar100, tfrecord, tfds
    num_classes: int
    shape: tuple[int, int, int] | None  # of in-memory images (files differ; they decode to the spec's)
    train: Split
    val: Split
    mirror_safe: bool = True  # whether a horizontal flip keeps the class
    reading: str = ""  # how in-memory values were read (pipeline_scale), said in describe()
    classes: tuple[str, ...] = ()  # the name of each label, where the source names them (folders, tfds, records)
    given_val: bool = False  # the validation side is the source's own (val/, x_val, a test split), not held out

    def evaluated(self) -> list[Split]:
        """What ``evaluate`` measures: the source's own validation side where it has one, else every image."""
        return [self.val] if self.given_val else [self.train, self.val]

    def describe(self) -> str:
        return (f"data {self.source}: {len(self.train)} training and {len(self.val)} validation images, "
                f"{self.num_classes} classes{f', values read as {self.reading}' if self.reading else ''}")


def streamed(records: Stream) -> Split:
    """A side read from a stream: its labels come with the images."""
    return Split(np.zeros(0, np.int32), records=records)


def hold_out(source: str, total: int, validation_split: float, seed: int) -> np.ndarray:
    """Which of a stream's ``total`` records a seeded ``validation_split`` holds out (at least one),
    by their place in the stream's fixed order."""
    val = max(1, round(total * validation_split))
    if total - val < 1:
        raise RunError(f"data {source} has {total} records: too few to split into training and validation")
    held_out = np.zeros(total, bool)
    held_out[np.random.default_rng(seed).permutation(total)[:val]] = True
    return held_out


def kept(records: "tf.data.Dataset", keep: np.ndarray | None) -> "tf.data.Dataset":
    """The records of a stream, read in its fixed order, that ``keep`` flags (all of them where None)."""
    import tensorflow as tf

    if keep is None:
        return records
    flags = tf.constant(keep)
    return records.enumerate().filter(lambda i, _: flags[i]).map(lambda _, record: record)


def pipeline_scale(images: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """``images`` as float32 on the pipeline's scale (0 to ``WHITE``), and how their values were read.

    One rule, so that no source trains silently on images of the wrong brightness: integers
    are pixel values (0 to 255); floats from 0 to 1 are fractions of full scale; floats up to
    255 are pixel values; anything else is refused with the range found.
    """
    low, high = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if images.dtype.kind == "f" and 0 <= low and high <= 1:
        return images.astype(np.float32) * np.float32(WHITE), "fractions of full scale (0 to 1)"
    if 0 <= low and high <= 255:
        return images.astype(np.float32) * np.float32(WHITE / 255), "pixel values (0 to 255)"
    raise RunError(f"{what} holds values from {low:g} to {high:g}, which are neither pixel values (0 to 255) nor "
                   f"fractions of full scale (floats from 0 to 1): rescale the images into one of these first, "
                   f"e.g. (x - x.min()) / (x.max() - x.min())")


def eight_bit(images: np.ndarray) -> np.ndarray:
    """Images on the pipeline's scale back as 8-bit values (to encode them as PNG)."""
    return np.clip(np.round(images * (255 / WHITE)), 0, 255).astype(np.uint8)


def decode(contents: "tf.Tensor", channels: int, window: Window | None = None) -> "tf.Tensor":
    """Encoded image bytes (PNG, JPEG, GIF, BMP) as the pipeline takes them: float32 pixel values on the
    pipeline's scale, as ``pipeline_scale`` gives arrays.

    JPEGs decode with libjpeg's accurate integer DCT, as PIL (and so torchvision and timm) decodes them;
    TensorFlow's default fast DCT is up to 7 levels off it in two thirds of the pixels.

    ``window`` crops the image: a JPEG then decodes only that window (rows below it are not read,
    pixels outside it are not transformed), any other format decodes whole and is sliced; the
    same pixels either way, up to the JPEG decoder's chroma upsampling along the window's edges. A
    JPEG damaged below the window decodes: the first window that reaches the damage (or a full
    decode) stops the run, and ``sources.images`` names the file.
    """
    import tensorflow as tf

    def whole() -> tf.Tensor:
        image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
        return image if window is None else tf.slice(image, *window(tf.shape(image)))

    def jpeg() -> tf.Tensor:
        if window is None:
            return tf.io.decode_jpeg(contents, channels=channels, dct_method=ACCURATE_DCT)
        begin, size = window(tf.image.extract_jpeg_shape(contents))
        return tf.image.decode_and_crop_jpeg(contents, tf.concat([begin[:2], size[:2]], 0), channels=channels,
                                             dct_method=ACCURATE_DCT)

    image = tf.cond(tf.io.is_jpeg(contents), jpeg, whole)
    return tf.cast(image, tf.float32) * (WHITE / 255)
