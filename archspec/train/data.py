"""Training data: where it comes from, checked up front, then fed as tf.data pipelines.

``open_data`` reads and checks a source without TensorFlow (paths, classes, shapes,
labels) and splits it, so a bad source fails before a model is built or a file is
written. ``pipelines`` then makes the shuffled, augmented, batched and prefetched
datasets at the spec's input size. Images are float32 from 0 (black) to ``WHITE``; every
source reaches that scale through ``pipeline_scale`` (files decode to pixel values).

Sources: ``digits`` (scikit-learn's 1797 8x8 grey digits, shipped with it), ``cifar10`` and
``cifar100`` (keras.datasets' archives, fetched once: ``sources/cifar.py``), ``folder:PATH``
(one subfolder per class, PNG/JPEG/GIF/BMP files), ``npz:PATH`` (arrays ``x``: N x H x W
[x C] and ``y``: N integer labels, and optionally ``x_val`` and ``y_val``: a fixed validation
set, used instead of a random ``validation_split``, e.g. to evaluate several runs on the very
same images), ``tfrecord:GLOB[,VAL_GLOB]`` (``sources/tfrecord.py``), ``tfds:NAME[:SPLIT[,VAL_SPLIT]]`` (a
TensorFlow Datasets builder, ``sources/tfds.py``), ``synthetic[:N]`` (N random images a batch at a time, to measure throughput).
A bare path is a folder or, ending in .npz, an npz file.
"""

from __future__ import annotations

import difflib
import functools
import os
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from .eval_transform import resize_and_crop
from .sources.base import WHITE, Data, Split, Window, decode, pipeline_scale
from .sources.cifar import ARCHIVES, open_cifar
from .sources.tfds import open_tfds
from .sources.tfrecord import open_tfrecord

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
SYNTHETIC_IMAGES = 1024
SMALL_INPUT = 64  # up to this side: evaluated resized whole, trained on padded crops; above: centre and resized crops
SOURCE_KINDS = ("digits", "cifar10", "cifar100", "folder", "npz", "tfrecord", "tfds", "synthetic")
SOURCES = ("digits, cifar10, cifar100, folder:PATH, npz:PATH, tfrecord:GLOB[,VAL_GLOB], tfds:NAME[:SPLIT[,VAL_SPLIT]] "
           "or synthetic[:N]")


def source_kind(source: str) -> tuple[str, str]:
    """The kind of ``source`` (one of SOURCE_KINDS, or "" for none) and what follows it, from its text
    alone: nothing is opened, so a command can tell what a source is before reading it."""
    kind, _, arg = source.partition(":")
    if (kind == "digits" or kind in ARCHIVES) and not arg or kind == "synthetic":
        return kind, arg
    if kind in ("folder", "npz", "tfrecord", "tfds") and arg:
        return kind, arg
    if not arg:  # a bare path
        path = Path(source)
        return "npz" if path.suffix == ".npz" else "folder" if path.is_dir() else "", source
    return "", arg


def open_data(source: str, *, validation_split: float, seed: int, synthetic_classes: int) -> Data:
    """Read and check ``source``, split it by ``seed``; ``synthetic_classes`` labels synthetic data."""
    kind, arg = source_kind(source)
    if kind == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, _ = pipeline_scale(digits.images[..., None] / 16.0, "scikit-learn's digits")
        return _split(source, "digits", images, digits.target, validation_split, seed, mirror_safe=False)
    if kind in ARCHIVES:
        return open_cifar(kind)
    if kind == "tfrecord":
        return open_tfrecord(source, arg, validation_split=validation_split, seed=seed)
    if kind == "tfds":
        return open_tfds(source, arg, validation_split=validation_split, seed=seed)
    if kind == "synthetic":
        count = _count(arg, source) if arg else SYNTHETIC_IMAGES
        val = max(1, round(count * validation_split))
        return Data(source, "synthetic", synthetic_classes, None,
                    Split(np.zeros(count - val, np.int32)), Split(np.zeros(val, np.int32)))
    path = Path(arg)
    if kind == "folder" and (path / "train").is_dir() and (path / "val").is_dir():  # ImageNet's layout
        files, labels, classes = _folder(path / "train")
        val_files, val_labels, _ = _folder(path / "val", classes)
        return Data(source, "folder", len(classes), None, Split(labels, files=tuple(files)),
                    Split(val_labels, files=tuple(val_files)), classes=tuple(classes), given_val=True)
    if kind == "folder":
        files, labels, classes = _folder(path)
        return replace(_split(source, "folder", None, labels, validation_split, seed, files=files),
                       num_classes=len(classes), classes=tuple(classes))
    if kind == "npz":
        images, labels, val, reading = _npz(path)
        if val is None:
            return _split(source, "npz", images, labels, validation_split, seed, reading=reading)
        return Data(source, "npz", int(labels.max()) + 1, images.shape[1:], Split(labels, images), val,
                    reading=reading, given_val=True)
    close = difflib.get_close_matches(source.partition(":")[0], SOURCE_KINDS, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}{source[len(source.partition(':')[0]):]}'? " if close else ""
    raise RunError(f"unknown data source '{source}': {hint}use {SOURCES} (a bare path must be a folder or end "
                   f"in .npz, and exist)")


def _count(arg: str, source: str) -> int:
    if not arg.isdigit() or int(arg) < 2:
        raise RunError(f"'{source}': synthetic:N needs a whole number of images N of at least 2")
    return int(arg)


def _folder(root: Path, classes: list[str] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """Image files and labels from one subfolder per class: the label of a subfolder is its name's place
    in ``classes`` (default: its own sorted subfolders, 0, 1, ...). Files are listed, not opened, so a
    folder of a million images starts at once; one that is no image stops the epoch that meets it
    (``sources.images.unreadable_image``)."""
    if not root.exists():
        raise RunError(f"data folder '{root}' does not exist")
    if not root.is_dir():
        raise RunError(f"data folder '{root}' is not a folder")
    try:
        found = sorted(p.name for p in os.scandir(root) if p.is_dir() and not p.name.startswith("."))
    except OSError as err:
        raise RunError(f"cannot read data folder '{root}': {err.strerror}") from None
    if classes is None and not found:
        raise RunError(f"data folder '{root}' needs one subfolder of images per class; it has none")
    unknown = sorted(set(found) - set(classes or found))
    if unknown or not found:
        raise RunError(f"validation folder '{root}' needs one subfolder of images per class, named as the "
                       f"training classes; " + (f"'{unknown[0]}' is not one of them" if unknown else "it has none"))
    classes = classes or found
    files, labels = [], []
    for name in found:
        folder = root / name
        try:
            images = sorted(f.path for f in os.scandir(folder)
                            if f.name.lower().endswith(IMAGE_SUFFIXES) and f.is_file())
        except OSError as err:
            raise RunError(f"cannot read class folder '{folder}': {err.strerror}") from None
        if not images:
            raise RunError(f"class folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)} files)")
        files += images
        labels += [classes.index(name)] * len(images)
    return files, np.array(labels, np.int32), classes


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
    if spec.any_size:
        raise RunError(f"{spec.name} takes images of any size, but training feeds batches of one size: pass "
                       f"--input-size N (the spec's input_shape stays [null, null, C] for other uses)")
    if data.num_classes < 2:
        raise RunError(f"data {data.source} has one class: training needs two or more (one subfolder of images "
                       f"per class)")
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


def pipelines(data: Data, spec: ModelSpec, t: TrainSpec, first_epoch: int = 0,
              even: int = 1) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
    """(training, validation) datasets of (image batch, one-hot label batch) at the spec's input shape.

    The training side holds epochs ``first_epoch + 1`` to ``t.epochs``, ``steps_per_epoch(data, t)``
    batches each, back to back (fit it with that ``steps_per_epoch``). Each epoch's order and each
    image's augmentation are functions of (seed, epoch, position in the epoch) alone, so a resumed
    or extended run sees exactly the batches the uninterrupted run saw. The validation side keeps a
    multiple of ``even`` images (``validation_images``), for devices that split every batch evenly.
    """
    import tensorflow as tf

    shape = spec.input_shape
    if data.kind == "synthetic":
        return _synthetic(data, shape, spec.num_classes, t, first_epoch)

    def one_hot(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return x, tf.one_hot(y, spec.num_classes)

    train = _training_epochs(data, shape, t, first_epoch, spec.num_classes)
    train = train.batch(t.batch_size, drop_remainder=True).map(one_hot)  # one op per batch, not per image
    if data.val.records is not None:  # fit learns a stream's length only when told (else it warns "ran out of data")
        val = data.val.records.dataset(shape[2], spec.num_classes, None).apply(
            tf.data.experimental.assert_cardinality(len(data.val)))
    else:
        val = _images(data.val, shape)
    val = val.take(validation_images(data, even))
    val = val.map(lambda x, y: (evaluation_view(x, shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    val = val.batch(t.batch_size).map(one_hot)
    return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)


def validation_images(data: Data, even: int = 1) -> int:
    """The validation images a run evaluates: all but the remainder that does not split ``even`` ways."""
    return len(data.val) - len(data.val) % even


def steps_per_epoch(data: Data, t: TrainSpec) -> int:
    """Full batches per epoch: the remainder of each epoch's shuffled order is left out."""
    return len(data.train) // t.batch_size


def _training_epochs(data: Data, shape: tuple[int, int, int], t: TrainSpec, first_epoch: int,
                     classes: int) -> "tf.data.Dataset":
    """Augmented (image, label) pairs of epochs ``first_epoch`` (0-based) to ``t.epochs - 1`` in a row.

    Epoch e's key is the seed folded with e; it draws the epoch's permutation and, folded with
    an image's position, that image's crop and flip. Nothing depends on how many epochs this
    process has already run (tf.data's reshuffling would), so a resumed run continues the order.
    Streamed records (TFRecord shards, tfds splits) are not indexable: each epoch reads them shuffled
    by a seed drawn from its key, so their order too is a function of (seed, epoch).
    """
    import tensorflow as tf

    split, used = data.train, steps_per_epoch(data, t) * t.batch_size
    augment = _augmenter(t, shape, data.mirror_safe)
    run_key = tf.constant([t.seed, 0], tf.int64)

    def keys(epoch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.unstack(tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(run_key, epoch), 2))

    def augmented(pairs: tf.data.Dataset, augment_key: tf.Tensor) -> tf.data.Dataset:
        """Decoded (where encoded) and augmented in parallel; a parallel map keeps its input's order."""
        keyed = tf.data.Dataset.zip(pairs, tf.data.Dataset.range(used))
        return keyed.map(lambda xy, position: (
            augment(xy[0], tf.random.experimental.stateless_fold_in(augment_key, position)), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE)

    if split.records is not None:  # tf.data shuffles only by a Python seed: one dataset per epoch, in a row
        def records_epoch(epoch: int) -> tf.data.Dataset:
            seed = int(np.random.SeedSequence([t.seed, epoch]).generate_state(1)[0])
            pairs = split.records.dataset(None, classes, seed).take(used)  # encoded: augment decodes its crop
            return augmented(pairs, keys(tf.constant(epoch, tf.int64))[1])

        return functools.reduce(tf.data.Dataset.concatenate, map(records_epoch, range(first_epoch, t.epochs)))

    image_at = _image_reader(split, shape)
    labels = tf.constant(split.labels)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        order_key, augment_key = keys(epoch)
        draws = tf.random.stateless_uniform([len(split)], order_key, minval=None, maxval=None, dtype=tf.int64)
        order = tf.argsort(draws, stable=True)[:used]
        pairs = tf.data.Dataset.from_tensor_slices(order).map(
            lambda index: (image_at(index), tf.gather(labels, index)), num_parallel_calls=tf.data.AUTOTUNE)
        return augmented(pairs, augment_key)

    return tf.data.Dataset.range(first_epoch, t.epochs).flat_map(one_epoch)


def _image_reader(split: Split, shape: tuple[int, int, int]) -> Callable[["tf.Tensor"], "tf.Tensor"]:
    """index -> a file's encoded bytes (the augmenter decodes them), or an in-memory image, float32 at the
    spec's channels and size."""
    import tensorflow as tf

    if split.files:
        paths = tf.constant(split.files)
        return lambda index: tf.io.read_file(tf.gather(paths, index))
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

    return decode(tf.io.read_file(path), channels)


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


def evaluation_view(image: "tf.Tensor", shape: tuple[int, int, int]) -> "tf.Tensor":
    """The image a net is evaluated on. Large inputs (over 64 pixels) take the standard view: the shorter
    side resized to size / 0.875 (256 at 224), then the centre crop (``eval_transform``, which
    ``evaluate`` shares); small ones are resized whole."""
    h, w, _ = shape
    return _resize(image, shape) if max(h, w) <= SMALL_INPUT else resize_and_crop(image, (h, w))


def _shorter_side(image: "tf.Tensor", side: "tf.Tensor") -> "tf.Tensor":
    """``image`` resized, its aspect kept, so that its shorter side is ``side`` pixels."""
    import tensorflow as tf

    size = tf.cast(tf.shape(image)[:2], tf.float32)
    scaled = tf.cast(tf.round(size * side / tf.reduce_min(size)), tf.int32)
    return tf.image.resize(image, scaled)


def _augmenter(t: TrainSpec, shape: tuple[int, int, int],
               mirror_safe: bool) -> Callable[["tf.Tensor", "tf.Tensor"], "tf.Tensor"]:
    """(image of any size, seed pair) -> augmented image at ``shape``: stateless, so the seed decides.
    The image may be encoded bytes (a string tensor: files, records), decoded here so that a
    random-resized crop of a JPEG decodes only its window."""
    import tensorflow as tf

    h, w, c = shape
    mode = augment_mode(t, shape)
    pad = t.pad or max(1, max(h, w) // 8)
    flip = mirror_safe if t.flip is None else t.flip

    def pixels(image: tf.Tensor, window: Window | None = None) -> tf.Tensor:
        """The image, cropped to ``window``: the one place an encoded image is decoded for training."""
        if image.dtype == tf.string:
            return decode(image, c, window)
        return image if window is None else tf.slice(image, *window(tf.shape(image)))

    def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if mode == "scale":  # He et al. 2015: the shorter side to a random 256..480 at 224, then a crop
            crop_seed, scale_seed = tf.unstack(tf.random.experimental.stateless_split(crop_seed, 2))
            side = tf.random.stateless_uniform([], scale_seed, min(h, w) * 256 / 224, min(h, w) * 480 / 224)
            image = tf.image.stateless_random_crop(_shorter_side(pixels(image), side), (h, w, c), crop_seed)
        elif mode == "pad_crop":
            padded = tf.pad(_resize(pixels(image), shape), [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(padded, (h, w, c), crop_seed)
        elif mode == "resized_crop":
            image = tf.image.resize(pixels(image, resized_crop_window(crop_seed)), (h, w))
        else:
            image = _resize(pixels(image), shape)
        return tf.image.stateless_random_flip_left_right(image, flip_seed) if flip else image

    return augment


def augment_mode(t: TrainSpec, shape: tuple[int, int, int]) -> str:
    """The recipe's augmentation; ``auto``: pad-and-crop up to 64 pixels (CIFAR), random-resized crops above."""
    return t.augment if t.augment != "auto" else ("pad_crop" if max(shape[:2]) <= SMALL_INPUT else "resized_crop")


def resized_crop_window(seed: "tf.Tensor") -> Window:
    """Inception's random-resized crop (Szegedy et al. 2015): a box of 8% to all of the image's area and
    aspect 3/4 to 4/3, drawn by ``seed`` in at most 10 attempts, else the whole image."""
    import tensorflow as tf

    def window(image_shape: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            image_shape, tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed,
            area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3), max_attempts=10)
        return begin, size

    return window


def _synthetic(data: Data, shape: tuple[int, int, int], classes: int, t: TrainSpec,
               first_epoch: int) -> tuple["tf.data.Dataset", "tf.data.Dataset"]:
    """One random batch, repeated: the input pipeline costs nothing, so the model's speed shows."""
    import tensorflow as tf

    x = tf.random.stateless_uniform((t.batch_size, *shape), seed=(t.seed, 0)) * WHITE
    y = tf.one_hot(tf.random.stateless_uniform((t.batch_size,), (t.seed, 1), 0, classes, tf.int32), classes)
    batch = tf.data.Dataset.from_tensors((x, y))
    val_batches = max(1, -(-len(data.val) // t.batch_size))
    return batch.repeat(steps_per_epoch(data, t) * (t.epochs - first_epoch)), batch.repeat(val_batches)
