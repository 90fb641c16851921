"""A classifier with published weights, used: top-k classes of image files, and top-1/top-5 accuracy
on a data source, each image fed through the evaluation transform recorded with the weights."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ..keras.quiet import import_tensorflow, tensorflow_installed
from ..spec.errors import RunError, reason
from ..spec.source_schema import EvalTransform
from ..spec.zoo import imagenet_synsets
from .data import SMALL_INPUT, Data, evaluation_view
from .eval_transform import default_resize, pillow_view, resize_and_crop
from .sources.base import Split, decode
from .sources.check import FORMATS, Progress, image_problem, no_progress
from .sources.images import unreadable_image


@dataclass(frozen=True)
class Transform:
    """The evaluation view for a model of input ``size``: the weights' recorded one scaled to that size, any
    part of it set by hand, or the training runs' validation view (``data.evaluation_view``)."""

    size: int
    resize: int | None = None  # None: the validation view (size / 0.875, or the whole image at 64 pixels or less)
    interpolation: str = "bilinear"
    origin: str = "the default: the weights record no view; set one with --resize and --interpolation"

    @classmethod
    def of(cls, size: int, record: EvalTransform | None, *, resize: int | None = None,
           interpolation: str | None = None) -> Transform:
        """The view for ``size`` from the weights' ``record`` (if any), with ``resize`` and ``interpolation``
        given by hand taking precedence."""
        if record is not None:
            origin = "recorded with the weights"
            resize = resize or round(record.resize * size / record.crop)
            interpolation = interpolation or record.interpolation
        else:
            origin = cls.origin
        if resize or interpolation:
            origin = "as given" if record is None else f"{origin}, changed as given"
            resize = resize or default_resize(size)
        return cls(size, resize, interpolation or "bilinear", origin)

    def describe(self) -> str:
        if self.resize is None and self.size <= SMALL_INPUT:
            return f"whole image resized to {self.size}x{self.size} ({self.origin})"
        resize = self.resize or default_resize(self.size)
        return (f"shorter side resized to {resize} ({self.interpolation}), centre {self.size}x{self.size} crop "
                f"({self.origin})")

    def apply(self, image):
        if self.resize is None:
            return evaluation_view(image, (self.size, self.size, image.shape[-1]))
        return resize_and_crop(image, self.size, self.resize, self.interpolation)


def read_image(path: Path, transform: Transform, channels: int) -> np.ndarray:
    """One image file, decoded and transformed, as float32 0..255: through TensorFlow's ops as the training
    runs' validation view, or by Pillow where TensorFlow is not installed (the same pixels); a file that is no
    image, truncated or in another format is refused in archspec's words first (``sources.check``)."""
    problem = image_problem(str(path))
    if problem:
        raise RunError(f"cannot read image '{path}': {problem}")
    if not tensorflow_installed():
        resize = transform.resize or (None if transform.size <= SMALL_INPUT else default_resize(transform.size))
        try:
            return pillow_view(str(path), transform.size, resize, transform.interpolation, channels)
        except (OSError, ValueError) as err:
            raise RunError(f"cannot read image '{path}': {reason(err)}") from None
    import_tensorflow()
    import tensorflow as tf

    try:
        image = decode(tf.io.read_file(str(path)), channels)
    except (tf.errors.OpError, ValueError) as err:
        raise RunError(f"cannot read image '{path}': {reason(err)}") from None
    return transform.apply(image).numpy()


def calibration_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, in any layout (class folders or none), in a fixed shuffled order, so
    that the first few hundred sample every class; RunError where none of them is an image archspec reads."""
    if not folder.is_dir():
        raise RunError(f"--calibration '{folder}' is not a folder")
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    files = [files[i] for i in np.random.default_rng(0).permutation(len(files))]
    if not any(image_problem(str(path)) is None for path in files):
        raise RunError(f"--calibration '{folder}' holds no readable images ({len(files)} files; archspec reads "
                       f"{', '.join(FORMATS)})")
    return files


def calibration_images(files: Sequence[Path], transform: Transform, channels: int, count: int,
                       progress: Progress = no_progress) -> np.ndarray:
    """Up to ``count`` of ``files`` read as the model's inputs (float32 0..255, the evaluation view
    ``transform``), files that are no readable image passed over."""
    images = []
    with progress(min(count, len(files)), "reading calibration images") as advance:
        for path in files:
            if len(images) == count:
                break
            try:
                images.append(read_image(path, transform, channels))
            except RunError:
                continue
            advance(1)
    return np.stack(images)


def predict_files(model: keras.Model, files: list[Path], transform: Transform) -> np.ndarray:
    """Class probabilities, one row per file."""
    channels = model.input_shape[-1]
    batch = np.stack([read_image(path, transform, channels) for path in files])
    probabilities = keras.ops.convert_to_numpy(model.predict(batch, verbose=0))
    if not np.isfinite(probabilities).all():
        raise overflow_error(model, f"for '{files[int(np.argmin(np.isfinite(probabilities).all(axis=1)))]}'")
    return probabilities


def overflow_error(model: keras.Model, where: str) -> RunError:
    """Outputs that are not numbers, in archspec's words: why a faithful initialisation can overflow and what helps.

    At its source's initialisation a deep residual network adds every branch at full scale, and its batch norms
    start at unit statistics, so in inference mode activations grow with depth (resnet101's last map reaches 1e6;
    cifar_resnet1202's passes float32's range); training's batch statistics and learned scales keep them in range."""
    half = "float16" in {layer.dtype_policy.compute_dtype for layer in model.layers}
    return RunError(
        f"the model's outputs overflow to inf or NaN {where} in inference mode. A deep network as its source "
        f"initialises it adds every residual branch at full scale, so before training its activations can grow "
        f"past the {'float16 range (65,504) of mixed_float16' if half else 'float range'}. Train it first, or "
        f"initialise it with `defaults: {{zero_init_last_norm: true}}` so each block whose branch ends in a norm "
        f"starts as the identity"
        + ("; or use float32 or mixed_bfloat16" if half else ""))


@dataclass(frozen=True)
class Accuracy:
    images: int
    top1: float
    top5: float


SYNSET = re.compile(r"n\d{8}")


def label_mapping(data: Data, outputs: int, names: Sequence[str] = ()) -> np.ndarray | None:
    """Each of ``data``'s labels as the index of the model output it means, or None where they are the
    same; RunError where they cannot be matched.

    Named classes (class folders, tfds labels, a ``data pack`` record) match by ImageNet synset
    (``n01440764``, a 1,000-class model), by the model's own class ``names``, or as output indices
    (folders ``0``, ``1``, ...). Unnamed labels are output indices when the class counts agree."""
    classes = data.classes
    if classes and all(SYNSET.fullmatch(c) for c in classes):
        synsets = imagenet_synsets()
        if outputs != len(synsets):
            raise RunError(f"{data.source} names its classes by ImageNet synset ({classes[0]}, ...), but the model "
                           f"has {outputs} outputs, not ImageNet-1k's {len(synsets)}")
        return _matched(data, classes, synsets, "ImageNet-1k synsets")
    if classes and names and set(classes) <= set(names):
        return _matched(data, classes, names, "the model's class names")
    if classes and all(c.isdigit() and int(c) < outputs for c in classes):
        return np.array([int(c) for c in classes], np.int32)
    if data.num_classes == outputs and not (classes and names):
        return None
    what = f"classes {_some(classes)}" if classes else f"labels 0..{data.num_classes - 1}"
    ways = ("name its class folders by ImageNet synset (n01440764) or by output index (0, 1, ...)"
            if outputs == len(imagenet_synsets()) else "name its class folders by output index (0, 1, ...)")
    if names:
        ways += f" or by the model's class names ({_some(names)})"
    raise RunError(f"{data.source} has {data.num_classes} {what}, which cannot be matched with the model's "
                   f"{outputs} outputs: {ways}")


def _matched(data: Data, classes: Sequence[str], names: Sequence[str], what: str) -> np.ndarray:
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise RunError(f"{data.source} has classes that are not among {what}: {_some(unknown)}")
    return np.array([names.index(c) for c in classes], np.int32)


def _some(names: Sequence[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def evaluate(model: keras.Model, data: Data, transform: Transform, batch_size: int, names: Sequence[str] = (),
             progress: Callable[[Iterator, int], Iterator] = lambda batches, _: batches) -> Accuracy:
    """Top-1 and top-5 accuracy over the source's own validation side (ImageNet's ``val/``, a test split), or
    over every image of a source that has none, its labels matched to the model's outputs (``label_mapping``)."""
    outputs = model.output_shape[-1]
    mapping = label_mapping(data, outputs, names)
    hits1 = hits5 = seen = 0
    splits = data.evaluated()
    dataset = _images(data, splits, transform, model.input_shape[-1]).batch(batch_size)
    total = -(-sum(len(split) for split in splits) // batch_size)
    import tensorflow as tf

    try:
        for images, labels in progress(iter(dataset), total):
            probabilities = keras.ops.convert_to_numpy(model(np.asarray(images), training=False))
            if not np.isfinite(probabilities).all():
                raise overflow_error(model, f"on {data.source} after {seen:,} images")
            top = np.argsort(-probabilities, axis=1)[:, :5]
            labels = np.asarray(labels) if mapping is None else mapping[np.asarray(labels)]
            hits1 += int((top[:, 0] == labels).sum())
            hits5 += int((top == labels[:, None]).any(axis=1).sum())
            seen += len(labels)
    except tf.errors.OpError as err:  # an image that does not decode, met in the pipeline
        files = [f for split in splits for f in split.files]
        found = unreadable_image(files, model.input_shape[-1])
        what = f"image '{found[0]}' cannot be read ({found[1]})" if found else f"{data.source}: {reason(err)}"
        raise RunError(f"{what}; evaluation stopped after {seen:,} images") from None
    if not seen:
        raise RunError(f"{data.source} holds no images to evaluate on")
    return Accuracy(seen, hits1 / seen, hits5 / seen)


def _images(data: Data, splits: list[Split], transform: Transform, channels: int):
    """(image, label) pairs of ``splits``, transformed; in-memory images are taken as 0..255."""
    import tensorflow as tf

    parts = []
    for split in splits:
        if split.records is not None:  # a stream: its labels come with its images
            pairs = split.records.dataset(channels, data.num_classes, None)
            parts.append(pairs.map(lambda image, label: (transform.apply(image), label)))
        elif split.files:
            pairs = tf.data.Dataset.from_tensor_slices((list(split.files), split.labels))
            parts.append(pairs.map(lambda path, label: (transform.apply(decode(tf.io.read_file(path), channels)),
                                                        label), num_parallel_calls=tf.data.AUTOTUNE))
        elif split.images is None:
            raise RunError(f"{data.source} holds no images to evaluate on")
        else:
            images = split.images if split.images.ndim == 4 else split.images[..., None]

            def fit(image, label):
                if image.shape[-1] != channels:
                    image = tf.image.grayscale_to_rgb(image) if channels == 3 else tf.image.rgb_to_grayscale(image)
                return transform.apply(image), label

            parts.append(tf.data.Dataset.from_tensor_slices((images, split.labels)).map(fit))
    dataset = parts[0]
    for part in parts[1:]:
        dataset = dataset.concatenate(part)
    return dataset
