"""``tfds:NAME[:SPLIT[,VAL_SPLIT]]``: a data set of TensorFlow Datasets (the optional ``tfds`` extra,
``pip install 'archspec[tfds]'``), streamed as TFRecord shards are.

NAME is a tfds builder, optionally with a config (``imagenette/320px-v2``). SPLIT, by default
``train``, is any tfds split expression (``train[:90%]``, ``train+validation``). Validation is
VAL_SPLIT where given; else the builder's ``validation`` split, else its ``test`` split (as
``cifar10`` validates on its test images), each only where SPLIT does not read it; else a seeded
``validation_split`` of SPLIT's examples, as for the other sources. Image and label are the
builder's ``supervised_keys`` (else its features ``image`` and ``label``): an 8-bit Image and a
ClassLabel, whose ``num_classes`` are the data's classes. Images stay encoded until the
pipeline's ``decode``, so they reach it on the scale and with the channels of every file source.

archspec never downloads: some data sets take hours or a manual download, offline retries take
minutes (204 s for mnist) before they fail, and the workers of a cluster would race to write one
folder. Data is read from TFDS_DATA_DIR (by default ``~/tensorflow_datasets``), where ``tfds build
NAME`` prepares it. Every check (tfds installed, the name, the image and label, the data prepared,
the splits) runs before anything is built.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ...spec.errors import RunError, reason
from .base import SHUFFLE_BUFFER, Data, decode, hold_out, kept, streamed

if TYPE_CHECKING:
    import tensorflow as tf

INSTALL = "pip install 'archspec[tfds]'"
CATALOG = "https://www.tensorflow.org/datasets/catalog/overview"


@dataclass(frozen=True)
class TfdsSplit:
    """One side of a tfds data set: a split expression of a prepared builder, and which of its
    examples the side keeps (a ``Stream``)."""

    builder: Any = field(repr=False, compare=False)  # tfds.core.DatasetBuilder
    split: str
    count: int  # examples the split expression reads
    image: str
    label: str
    keep: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.keep.sum()) if self.keep is not None else self.count

    def dataset(self, channels: int | None, classes: int, shuffle_seed: int | None) -> "tf.data.Dataset":
        """(image, label) pairs; ``classes`` needs no check, a ClassLabel bounds the labels.

        A cluster's workers all read the same seeded stream and keep their share of each batch
        (``cluster.shard``'s DATA policy): splitting tfds's files between workers (FILE, or
        ``ReadConfig.input_context``) needs at least as many files as workers, where mnist and
        cifar10 have one per split, and would make each epoch's order depend on the worker count.
        """
        import tensorflow as tf

        files_seed = shuffle_seed if self.keep is None else None  # a kept share is read in the split's fixed order
        ds = kept(_read(self.builder, self.split, self.image, files_seed), self.keep)
        if shuffle_seed is not None:
            ds = ds.shuffle(SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
        def pair(example: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
            image = example[self.image]
            return (image if channels is None else decode(image, channels)), tf.cast(example[self.label], tf.int32)

        return ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE)


def open_tfds(source: str, arg: str, *, validation_split: float, seed: int) -> Data:
    """The builder and splits ``arg`` names (``NAME[:SPLIT[,VAL_SPLIT]]``), checked."""
    name, _, splits = arg.partition(":")
    train_split, _, val_split = splits.partition(",")
    tfds = _import(source)
    builder = _builder(tfds, source, name.strip())
    image, label = _supervised(tfds, source, builder)
    train = _side(source, builder, train_split.strip() or "train", image, label)
    val_split = val_split.strip() or _validation(builder, train.split)
    if val_split:
        val = _side(source, builder, val_split, image, label)
    else:
        held_out = hold_out(source, train.count, validation_split, seed)
        train, val = replace(train, keep=~held_out), replace(train, keep=held_out)
    labels = builder.info.features[label]
    return Data(source, "tfds", labels.num_classes, None, streamed(train), streamed(val),
                classes=tuple(labels.names or ()), given_val=bool(val_split))


def _import(source: str) -> Any:
    from ...keras.quiet import import_tensorflow

    import_tensorflow()
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise RunError(f"data {source} needs tensorflow-datasets, which is not installed ({err}): "
                       f"{INSTALL}") from None
    return tfds


def _builder(tfds: Any, source: str, name: str) -> Any:
    """The builder (with its config, where ``name`` gives one), reading TFDS_DATA_DIR as it is now
    (tfds itself reads it once, when imported)."""
    base, _, config = name.partition("/")
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        raise RunError(f"data {source}: tfds has no data set '{base}'{_close(base, known)}; its catalog lists "
                       f"them: {CATALOG}")
    try:
        return tfds.builder(name, data_dir=os.environ.get("TFDS_DATA_DIR") or None)
    except ValueError as err:  # tfds's word for an unknown config
        configs = [c.name for c in tfds.builder_cls(base).BUILDER_CONFIGS]
        if config and config not in configs:
            found = (_close(config, configs) or f" (its configs: {', '.join(configs[:10])}"
                     f"{', ...' if len(configs) > 10 else ''})") if configs else " (it has no configs: use the name alone)"
            raise RunError(f"data {source}: tfds data set '{base}' has no config '{config}'{found}") from None
        raise RunError(f"data {source}: tfds cannot make builder '{name}': {reason(err)}") from None


def _close(word: str, names: list[str]) -> str:
    """', did you mean ...?' with the names nearest ``word``, or nothing."""
    near = difflib.get_close_matches(word, names, n=5)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def _supervised(tfds: Any, source: str, builder: Any) -> tuple[str, str]:
    """The names of the builder's image and class-label features, checked to be an 8-bit Image and a ClassLabel."""
    keys = builder.info.supervised_keys
    pair = keys if isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) for k in keys) else None
    image, label = pair or ("image", "label")
    features = builder.info.features
    found = {key: features[key] for key in (image, label) if key in features}
    if not (isinstance(found.get(image), tfds.features.Image) and found[image].np_dtype == np.uint8
            and isinstance(found.get(label), tfds.features.ClassLabel)):
        has = ", ".join(f"{key} ({type(feature).__name__})" for key, feature in features.items())
        named = f"supervised keys {image}, {label}" if pair else "no supervised keys"
        raise RunError(f"data {source}: archspec trains image classifiers, on an 8-bit Image and a ClassLabel (the "
                       f"builder's supervised keys, or features image and label); {builder.name} has {named} and "
                       f"features {has}")
    return image, label


def _read(builder: Any, split: str, image: str, shuffle_seed: int | None) -> "tf.data.Dataset":
    """The split's examples, images left encoded; its files shuffled by ``shuffle_seed``, else in a fixed order."""
    import tensorflow_datasets as tfds

    # No autocache: each epoch is a new dataset, so tfds's in-memory cache would be filled once an epoch, never reused
    config = tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False)
    return builder.as_dataset(split=split, shuffle_files=shuffle_seed is not None, read_config=config,
                              decoders={image: tfds.decode.SkipDecoding()})


def _side(source: str, builder: Any, split: str, image: str, label: str) -> TfdsSplit:
    """A split expression, checked by opening it: the data prepared, the split known, and not empty."""
    try:
        count = int(_read(builder, split, image, None).cardinality())
    except AssertionError:  # tfds's word for data not prepared (no download_and_prepare)
        root = builder.data_dir_root
        raise RunError(f"data {source}: tfds data set '{builder.name}' is not prepared in {root}, and archspec does "
                       f"not download data sets (some take hours or a manual download). Prepare it with `tfds build "
                       f"{_name(builder)} --data_dir {root}` (on a machine with internet access, then copy the "
                       f"folder here), or set TFDS_DATA_DIR to a folder where it is prepared") from None
    except (ValueError, KeyError) as err:
        splits = ", ".join(f"{name} ({info.num_examples})" for name, info in builder.info.splits.items())
        raise RunError(f"data {source}: tfds data set '{builder.name}' cannot read split '{split}' ({reason(err)}); "
                       f"its splits are {splits}, which tfds slices and joins as train[:90%], train[10%:], "
                       f"train+test") from None
    if count < 1:
        raise RunError(f"data {source}: split '{split}' of tfds data set '{builder.name}' holds no examples")
    return TfdsSplit(builder, split, count, image, label)


def _name(builder: Any) -> str:
    config = builder.builder_config
    return f"{builder.name}/{config.name}" if config else builder.name


def _validation(builder: Any, train_split: str) -> str:
    """The builder's validation split, else its test split, of those the training split does not read;
    '' where there is none."""
    read = {part.split("[")[0].split("(")[0].strip() for part in train_split.split("+")}
    return next((name for name in ("validation", "test") if name in builder.info.splits and name not in read), "")
