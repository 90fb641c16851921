"""Training data: where it comes from, checked up front, then fed as tf.data pipelines.

``open_data`` reads and checks a source without TensorFlow (paths, classes, shapes,
labels) and splits it, so a bad source fails before a model is built or a file is
written. ``pipelines`` then makes the shuffled, augmented, batched and prefetched
datasets at the spec's input size. Images are float32 from 0 (black) to ``WHITE``; every
source reaches that scale through ``pipeline_scale`` (files decode to pixel values).

Sources: ``digits`` (scikit-learn's 1797 8x8 grey digits, shipped with it), ``folder:PATH``
(one subfolder per class, PNG/JPEG/GIF/BMP files), ``npz:PATH`` (arrays ``x``: N x H x W
[x C] and ``y``: N integer labels, and optionally ``x_val`` and ``y_val``: a fixed validation
set, used instead of a random ``validation_split``, e.g. to evaluate several runs on the very
same images), ``synthetic[:N]`` (N random images a batch at a time, to measure throughput).
A bare path is a folder or, ending in .npz, an npz file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")  # what tf.io.decode_image reads
SYNTHETIC_IMAGES = 1024
SOURCES = "digits, folder:PATH, npz:PATH or synthetic[:N]"
WHITE = 255.0  # a full-scale pixel: models take pixel values and normalise them inside (the spec's preprocess)


@dataclass(frozen=True)
class Split:
    """One side of the data: labels, and the images in memory (N x H x W x C) or as files."""

    labels: np.ndarray
    images: np.ndarray | None = None
    files: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Data:
    source: str
    kind: str  # digits, folder, npz or synthetic
    num_classes: int
    shape: tuple[int, int, int] | None  # of in-memory images (files differ; they decode to the spec's)
    train: Split
    val: Split
    mirror_safe: bool = True  # whether a horizontal flip keeps the class
    reading: str = ""  # how in-memory values were read (pipeline_scale), said in describe()

    def describe(self) -> str:
        return (f"data {self.source}: {len(self.train)} training and {len(self.val)} validation images, "
                f"{self.num_classes} classes{f', values read as {self.reading}' if self.reading else ''}")


def open_data(source: str, *, validation_split: float, seed: int, synthetic_classes: int) -> Data:
    """Read and check ``source``, split it by ``seed``; ``synthetic_classes`` labels synthetic data."""
    kind, _, arg = source.partition(":")
    if kind == "digits" and not arg:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, _ = pipeline_scale(digits.images[..., None] / 16.0, "scikit-learn's digits")
        return _split(source, "digits", images, digits.target, validation_split, seed, mirror_safe=False)
    if kind == "synthetic":
        count = _count(arg, source) if arg else SYNTHETIC_IMAGES
        val = max(1, round(count * validation_split))
        return Data(source, "synthetic", synthetic_classes, None,
                    Split(np.zeros(count - val, np.int32)), Split(np.zeros(val, np.int32)))
    if kind in ("folder", "npz") and arg:
        path = Path(arg)
    elif not arg:  # a bare path
        path = Path(source)
        kind = "npz" if path.suffix == ".npz" else "folder" if path.is_dir() else ""
    else:
        kind = ""
    if kind == "folder":
        files, labels = _folder(path)
        return _split(source, "folder", None, labels, validation_split, seed, files=files)
    if kind == "npz":
        images, labels, val, reading = _npz(path)
        if val is None:
            return _split(source, "npz", images, labels, validation_split, seed, reading=reading)
        return Data(source, "npz", int(labels.max()) + 1, images.shape[1:], Split(labels, images), val,
                    reading=reading)
    raise RunError(f"unknown data source '{source}': use {SOURCES} (a bare path must be a folder or end "
                   f"in .npz, and exist)")


def _count(arg: str, source: str) -> int:
    if not arg.isdigit() or int(arg) < 2:
        raise RunError(f"'{source}': synthetic:N needs a whole number of images N of at least 2")
    return int(arg)


def _folder(root: Path) -> tuple[list[str], np.ndarray]:
    """Image files and labels from one subfolder per class (sorted names are the labels 0, 1, ...)."""
    if not root.exists():
        raise RunError(f"data folder '{root}' does not exist")
    if not root.is_dir():
        raise RunError(f"data folder '{root}' is not a folder")
    try:
        classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as err:
        raise RunError(f"cannot read data folder '{root}': {err.strerror}") from None
    if len(classes) < 2:
        raise RunError(f"data folder '{root}' needs one subfolder of images per class, at least two; "
                       f"it has {len(classes)}")
    files, labels = [], []
    for label, folder in enumerate(classes):
        try:
            images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        except OSError as err:
            raise RunError(f"cannot read class folder '{folder}': {err.strerror}") from None
        if not images:
            raise RunError(f"class folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)} files)")
        for image in images:
            _check_image(image)
        files += [str(p) for p in images]
        labels += [label] * len(images)
    return files, np.array(labels, np.int32)


def _check_image(path: Path) -> None:
    """Readable, and a format TensorFlow decodes: found now rather than in the middle of an epoch."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as err:
        raise RunError(f"cannot read image '{path}': {err.strerror}") from None
    if not any(head.startswith(m) for m in MAGIC):
        raise RunError(f"'{path}' is not a PNG, JPEG, GIF or BMP image (by its first bytes)")


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray, Split | None, str]:
    """Arrays ``x`` and ``y``, and the fixed validation set ``x_val``, ``y_val`` when the file has one."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if not {"x", "y"} <= set(f.files):
                raise RunError(f"npz file '{path}' holds arrays {', '.join(f.files) or 'none'}; it needs x "
                               f"(images, N x H x W or N x H x W x C) and y (N integer labels)")
            if ("x_val" in f.files) != ("y_val" in f.files):
                given, missing = ("x_val", "y_val") if "x_val" in f.files else ("y_val", "x_val")
                raise RunError(f"npz file '{path}' holds {given} but no {missing}: a fixed validation set needs "
                               f"both (images and their labels), or neither for a random split")
            arrays = {name: f[name] for name in ("x", "y", "x_val", "y_val") if name in f.files}
    except FileNotFoundError:
        raise RunError(f"npz file '{path}' does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise RunError(f"cannot read '{path}' as an npz file of arrays x and y: {err}") from None
    images, labels, reading = _npz_pair(path, arrays["x"], arrays["y"], "x", "y")
    if not len(labels):
        raise RunError(f"npz file '{path}': x holds no images")
    if "x_val" not in arrays:
        return images, labels, None, reading
    x, x_val = arrays["x"], arrays["x_val"]
    val_images, val_labels, val_reading = _npz_pair(path, x_val, arrays["y_val"], "x_val", "y_val")
    if not len(val_labels) or val_images.shape[1:] != images.shape[1:]:
        raise RunError(f"npz file '{path}': x_val must be at least one image like those of x ({x.dtype}, "
                       f"{' x '.join(map(str, images.shape[1:]))} each), got {x_val.dtype} {x_val.shape}")
    if val_reading != reading:
        raise RunError(f"npz file '{path}': x holds {reading} but x_val {val_reading}: store both on one "
                       f"scale, or the net would validate on images of another brightness")
    unseen = np.setdiff1d(val_labels, labels)
    if len(unseen):
        raise RunError(f"npz file '{path}': y_val holds labels no image of y has ({', '.join(map(str, unseen[:5]))}"
                       f"{', ...' if len(unseen) > 5 else ''}): a validation image must be of a class the net "
                       f"trains on")
    return images, labels, Split(val_labels, val_images), reading


def _npz_pair(path: Path, x: np.ndarray, y: np.ndarray, x_name: str,
              y_name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Checked images (at the pipeline's scale), labels, and how the images' values were read."""
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    x = x[..., None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.dtype.kind not in "uif":
        raise RunError(f"npz file '{path}': {x_name} must be numeric images of shape N x H x W or N x H x W x C "
                       f"with C 1 or 3, got {x.dtype} {x.shape}")
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise RunError(f"npz file '{path}': {y_name} must be {len(x)} integer labels (one per image in {x_name}), "
                       f"got {y.dtype} {y.shape}")
    if len(y) and y.min() < 0:
        raise RunError(f"npz file '{path}': labels must be 0 or more, found {y.min()} in {y_name}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise RunError(f"npz file '{path}': {x_name} holds NaN or infinite values")
    images, reading = pipeline_scale(x, f"npz file '{path}': {x_name}")
    return images, y.astype(np.int32), reading


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


def _split(source: str, kind: str, images: np.ndarray | None, labels: np.ndarray, validation_split: float,
           seed: int, files: list[str] | None = None, mirror_safe: bool = True, reading: str = "") -> Data:
    """A seeded random split; the validation side gets ``validation_split`` of the images, at least one."""
    val = max(1, round(len(labels) * validation_split))
    if len(labels) - val < 1:
        raise RunError(f"data {source} has {len(labels)} images: too few to split into training and validation")
    order = np.random.default_rng(seed).permutation(len(labels))
    sides = []
    for index in (order[val:], order[:val]):
        sides.append(Split(labels[index], images[index] if images is not None else None,
                           tuple(files[i] for i in index) if files else ()))
    shape = tuple(images.shape[1:]) if images is not None else None
    return Data(source, kind, int(labels.max()) + 1, shape, sides[0], sides[1], mirror_safe, reading)


def check_fits(data: Data, spec: ModelSpec, batch_size: int) -> None:
    """The data suits the network: one class per output, images it can take, a batch's worth."""
    if data.num_classes != spec.num_classes:
        labels = "subfolders" if data.kind == "folder" else f"labels 0..{data.num_classes - 1}"
        raise RunError(f"{spec.name}'s head has {spec.num_classes} classes but data {data.source} has "
                       f"{data.num_classes} ({labels}): pass --num-classes {data.num_classes} (or set "
                       f"num_classes in the spec)")
    channels = spec.input_shape[2]
    if channels not in (1, 3) and data.kind != "synthetic":
        raise RunError(f"{spec.name} takes {channels}-channel images; data {data.source} gives grey or RGB "
                       f"images (1 or 3 channels)")
    if len(data.train) < batch_size:
        raise RunError(f"batch size {batch_size} is larger than the {len(data.train)} training images of "
                       f"{data.source}: pass a smaller --batch-size")


# ---- TensorFlow pipelines -----------------------------------------------------------------


def pipelines(data: Data, spec: ModelSpec, t: TrainSpec,
              first_epoch: int = 0) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
    """(training, validation) datasets of (image batch, one-hot label batch) at the spec's input shape.

    The training side holds epochs ``first_epoch + 1`` to ``t.epochs``, ``steps_per_epoch(data, t)``
    batches each, back to back (fit it with that ``steps_per_epoch``). Each epoch's order and each
    image's augmentation are functions of (seed, epoch, position in the epoch) alone, so a resumed
    or extended run sees exactly the batches the uninterrupted run saw.
    """
    import tensorflow as tf

    shape = spec.input_shape
    if data.kind == "synthetic":
        return _synthetic(data, shape, spec.num_classes, t, first_epoch)

    def one_hot(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return x, tf.one_hot(y, spec.num_classes)

    train = _training_epochs(data, shape, t, first_epoch).map(one_hot, num_parallel_calls=tf.data.AUTOTUNE)
    val = _images(data.val, shape).map(lambda x, y: (_resize(x, shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    val = val.map(one_hot).batch(t.batch_size)
    return (train.batch(t.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE),
            val.prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(data: Data, t: TrainSpec) -> int:
    """Full batches per epoch: the remainder of each epoch's shuffled order is left out."""
    return len(data.train) // t.batch_size


def _training_epochs(data: Data, shape: tuple[int, int, int], t: TrainSpec, first_epoch: int) -> "tf.data.Dataset":
    """Augmented (image, label) pairs of epochs ``first_epoch`` (0-based) to ``t.epochs - 1`` in a row.

    Epoch e's key is the seed folded with e; it draws the epoch's permutation and, folded with
    an image's position, that image's crop and flip. Nothing depends on how many epochs this
    process has already run (tf.data's reshuffling would), so a resumed run continues the order.
    """
    import tensorflow as tf

    split, used = data.train, steps_per_epoch(data, t) * t.batch_size
    image_at = _image_reader(split, shape)
    labels = tf.constant(split.labels)
    augment = _augmenter(t, shape, data.mirror_safe)
    run_key = tf.constant([t.seed, 0], tf.int64)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        order_key, augment_key = tf.unstack(tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(run_key, epoch), 2))
        draws = tf.random.stateless_uniform([len(split)], order_key, minval=None, maxval=None, dtype=tf.int64)
        order = tf.argsort(draws, stable=True)[:used]
        return tf.data.Dataset.from_tensor_slices((order, tf.range(used))).map(
            lambda index, position: (index, tf.random.experimental.stateless_fold_in(augment_key, position)))

    epochs = tf.data.Dataset.range(first_epoch, t.epochs).flat_map(one_epoch)
    return epochs.map(lambda index, key: (augment(image_at(index), key), tf.gather(labels, index)),
                      num_parallel_calls=tf.data.AUTOTUNE)


def _image_reader(split: Split, shape: tuple[int, int, int]) -> Callable[["tf.Tensor"], "tf.Tensor"]:
    """index -> image (float32, at the spec's channels; in-memory ones already at its size)."""
    import tensorflow as tf

    if split.files:
        paths = tf.constant(split.files)
        return lambda index: _decode(tf.gather(paths, index), shape[2])
    images = _fit(tf.constant(split.images), shape)
    return lambda index: tf.gather(images, index)


def _images(split: Split, shape: tuple[int, int, int]) -> "tf.data.Dataset":
    """(image, label) pairs in the split's order; in-memory images already fitted to the spec's shape."""
    import tensorflow as tf

    if split.files:
        ds = tf.data.Dataset.from_tensor_slices((list(split.files), split.labels))
        return ds.map(lambda path, label: (_decode(path, shape[2]), label), num_parallel_calls=tf.data.AUTOTUNE)
    return tf.data.Dataset.from_tensor_slices((_fit(tf.constant(split.images), shape), split.labels))


def _decode(path: "tf.Tensor", channels: int) -> "tf.Tensor":
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    return tf.cast(image, tf.float32) * (WHITE / 255)


def _fit(images: "tf.Tensor", shape: tuple[int, int, int]) -> "tf.Tensor":
    """A batch of in-memory images at the spec's channels and size."""
    import tensorflow as tf

    if images.shape[-1] != shape[2]:
        images = tf.image.grayscale_to_rgb(images) if shape[2] == 3 else tf.image.rgb_to_grayscale(images)
    return _resize(images, shape)


def _resize(image: "tf.Tensor", shape: tuple[int, int, int]) -> "tf.Tensor":
    """One image or a batch of them at the spec's height and width."""
    import tensorflow as tf

    if tuple(image.shape[-3:-1]) == shape[:2]:
        return image
    return tf.image.resize(image, shape[:2])


def _augmenter(t: TrainSpec, shape: tuple[int, int, int], mirror_safe: bool):
    """(image of any size, seed pair) -> augmented image at ``shape``: stateless, so the seed decides."""
    import tensorflow as tf

    h, w, c = shape
    mode = t.augment if t.augment != "auto" else ("pad_crop" if max(h, w) <= 64 else "resized_crop")
    pad = t.pad or max(1, max(h, w) // 8)
    flip = mirror_safe if t.flip is None else t.flip

    def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if mode == "pad_crop":
            padded = tf.pad(_resize(image, shape), [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(padded, (h, w, c), crop_seed)
        elif mode == "resized_crop":
            begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
                tf.shape(image), tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), crop_seed,
                area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3), max_attempts=10)
            image = tf.image.resize(tf.slice(image, begin, size), (h, w))
        else:
            image = _resize(image, shape)
        return tf.image.stateless_random_flip_left_right(image, flip_seed) if flip else image

    return augment


def _synthetic(data: Data, shape: tuple[int, int, int], classes: int, t: TrainSpec,
               first_epoch: int) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
    """One random batch, repeated: the input pipeline costs nothing, so the model's speed shows."""
    import tensorflow as tf

    x = tf.random.stateless_uniform((t.batch_size, *shape), seed=(t.seed, 0)) * WHITE
    y = tf.one_hot(tf.random.stateless_uniform((t.batch_size,), (t.seed, 1), 0, classes, tf.int32), classes)
    batch = tf.data.Dataset.from_tensors((x, y))
    val_batches = max(1, -(-len(data.val) // t.batch_size))
    return batch.repeat(steps_per_epoch(data, t) * (t.epochs - first_epoch)), batch.repeat(val_batches)
