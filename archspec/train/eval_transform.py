"""The evaluation transform of ImageNet classifiers: resize the shorter side, crop the centre.

One function, shared by ``evaluate``/``predict`` and every training run's validation view (``data.evaluation_view``).
Published weights record theirs (torchvision's V1: resize 256, crop 224, bilinear; V2: 232/224; timm's
``crop_pct``: 224 / 0.95 with bicubic); without a record the shorter side goes to size / 0.875.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

DEFAULT_CROP_FRACTION = 0.875


def resize_and_crop(image: tf.Tensor, size: int | tuple[int, int], resize: int | None = None,
                    interpolation: str = "bilinear") -> tf.Tensor:
    """``image`` (H x W x C, 0..255) with its shorter side resized to ``resize`` (default: the crop's
    shorter side / 0.875), then its centre ``size`` (a side, or height and width), as float32 0..255.
    Antialiased, as PIL resizes for torchvision."""
    import tensorflow as tf

    height, width = (size, size) if isinstance(size, int) else size
    resize = resize or int(min(height, width) / DEFAULT_CROP_FRACTION)
    shape = tf.shape(image)[:2]
    short = tf.minimum(shape[0], shape[1])
    new = shape * resize // short  # the shorter side becomes exactly ``resize``, the longer keeps the aspect
    resized = tf.image.resize(tf.cast(image, tf.float32), new, method=interpolation, antialias=True)
    top, left = (new[0] - height + 1) // 2, (new[1] - width + 1) // 2
    cropped = resized[top:top + height, left:left + width]
    return tf.clip_by_value(tf.ensure_shape(cropped, (height, width, image.shape[-1])), 0.0, 255.0)
