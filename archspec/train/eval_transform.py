"""The evaluation transform of ImageNet classifiers: resize the shorter side, crop the centre, as
torchvision's and timm's own pipelines compute it on PIL images.

One function, shared by ``evaluate``/``predict`` and every training run's validation view (``data.evaluation_view``).
Published weights record theirs (torchvision's V1: resize 256, crop 224, bilinear; V2: 232/224; timm's
``crop_pct``: 224 / 0.95 with bicubic); without a record the shorter side goes to size / 0.875.

To the pixel means PIL's arithmetic: the longer side becomes ``int(resize * long / short)``; the image is
resampled along its width, rounded to whole levels, then along its height (PIL's two passes, each
antialiased and each stored as 8 bits); the crop's offset is ``round((new - size) / 2)`` with halves to even.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

DEFAULT_CROP_FRACTION = 0.875
INTERPOLATIONS = ("bilinear", "bicubic")


def default_resize(size: int) -> int:
    """The shorter side an unrecorded view resizes to: the crop / 0.875 (256 at 224), truncated as timm's
    ``floor(size / crop_pct)``."""
    return int(size / DEFAULT_CROP_FRACTION)


def resize_and_crop(image: tf.Tensor, size: int | tuple[int, int], resize: int | None = None,
                    interpolation: str = "bilinear") -> tf.Tensor:
    """``image`` (H x W x C, 0..255) with its shorter side resized to ``resize`` (default: the crop's
    shorter side / 0.875), then its centre ``size`` (a side, or height and width), as float32 whole levels."""
    import tensorflow as tf

    height, width = (size, size) if isinstance(size, int) else size
    resize = resize or default_resize(min(height, width))
    shape = tf.shape(image)[:2]
    short, long = tf.reduce_min(shape), tf.reduce_max(shape)
    # torchvision: the shorter side becomes ``resize``, the longer int(resize * long / short), in floats
    longer = tf.cast(tf.cast(resize * long, tf.float64) / tf.cast(short, tf.float64), tf.int32)
    new = tf.where(shape[0] <= shape[1], tf.stack([resize, longer]), tf.stack([longer, resize]))
    pixels = tf.cast(image, tf.float32)
    for along in (tf.stack([shape[0], new[1]]), new):  # PIL's passes: the width, then the height
        pixels = tf.image.resize(pixels, along, method=interpolation, antialias=True)
        pixels = tf.round(tf.clip_by_value(pixels, 0.0, 255.0))
    top, left = _centre(new[0], height), _centre(new[1], width)
    cropped = pixels[top:top + height, left:left + width]
    return tf.ensure_shape(cropped, (height, width, image.shape[-1]))


def _centre(side: tf.Tensor, crop: int) -> tf.Tensor:
    """torchvision's ``int(round((side - crop) / 2))``: Python's round, halves to even, as ``tf.round``'s."""
    import tensorflow as tf

    return tf.cast(tf.round(tf.cast(side - crop, tf.float64) / 2), tf.int32)


def pillow_view(path: str, size: int, resize: int | None, interpolation: str, channels: int) -> np.ndarray:
    """The view of one image file computed by Pillow itself, where TensorFlow is not installed
    (``predict`` on JAX or torch): with ``resize``, torchvision's resize and centre crop, which run
    on Pillow; without, the whole image resized to ``size`` as ``tf.image.resize`` does (bilinear,
    half-pixel centres, no antialiasing). float32 whole levels, H x W x ``channels``."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if resize is None:
            pixels = _bilinear(np.asarray(image, np.float32), size, size)
        else:
            width, height = image.size
            short, long = min(width, height), max(width, height)
            longer = int(resize * long / short)
            new = (resize, longer) if width <= height else (longer, resize)
            resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}[interpolation]
            resized = image.resize(new, resample)
            left, top = round((new[0] - size) / 2), round((new[1] - size) / 2)
            pixels = np.asarray(resized.crop((left, top, left + size, top + size)), np.float32)
    return pixels.reshape(size, size, channels)


def _bilinear(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """``tf.image.resize(pixels, (height, width))``'s bilinear interpolation with half-pixel centres."""
    def taps(out: int, into: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at = np.clip((np.arange(out) + 0.5) * (into / out) - 0.5, 0, into - 1)
        low = np.floor(at).astype(int)
        return low, np.minimum(low + 1, into - 1), (at - low).astype(np.float32)

    pixels = pixels.reshape(*pixels.shape[:2], -1)
    top, bottom, dy = taps(height, pixels.shape[0])
    left, right, dx = taps(width, pixels.shape[1])
    rows = pixels[top] * (1 - dy)[:, None, None] + pixels[bottom] * dy[:, None, None]
    return rows[:, left] * (1 - dx)[None, :, None] + rows[:, right] * dx[None, :, None]
