"""`archspec data`: work on data sets themselves."""

from __future__ import annotations

from pathlib import Path

import click

from .common import RUN_ERRORS, Failure, bar_progress, fail, needs_tensorflow, progressbar

# What decodes the images of each source that is not a folder of image files (`data check` has none to read).
DECODED_ELSEWHERE = {
    "digits": "scikit-learn's arrays, decoded already",
    "cifar10": "keras.datasets' arrays, decoded already",
    "cifar100": "keras.datasets' arrays, decoded already",
    "npz": "arrays, decoded already",
    "tfds": "decoded by TensorFlow Datasets",
    "tfrecord": "decoded by TensorFlow as the shards are read",
    "synthetic": "random arrays",
}


@click.group()
def data() -> None:
    """Prepare data sets for training."""


@data.command("pack")
@click.argument("source")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new or empty folder for the shards.")
@click.option("--shard-size", type=click.IntRange(min=1), default=1024, show_default=True, help="Images per shard.")
@click.option("--validation-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Held out into val-* shards where SOURCE has no fixed validation set.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seeds that split.")
def pack_command(source: str, out: Path, shard_size: int, validation_split: float, seed: int) -> None:
    """Write SOURCE (folder:PATH, npz:PATH, digits, cifar10, ...) as TFRecord shards in OUT.

    The shards hold TensorFlow's standard image-classification examples (image/encoded,
    image/class/label), as TFDS and the Model Garden write them: train-NNNNN-of-NNNNN.tfrecord
    and val-... . Image files are copied as they are, in-memory images encoded as PNG. Shards
    are written in parallel; each appears under its name only when whole.

    \b
    Example:
      archspec data pack folder:/data/imagenet --out /data/imagenet-tfrecords
      archspec train resnet50 --data 'tfrecord:/data/imagenet-tfrecords/train-*,/data/imagenet-tfrecords/val-*'
    """
    from ..train.data import open_data
    from ..train.sources.pack import check_out, pack

    needs_tensorflow("data pack")
    try:
        check_out(out)
        opened = open_data(source, validation_split=validation_split, seed=seed, synthetic_classes=2)
        click.echo(opened.describe())
        with progressbar(length=len(opened.train) + len(opened.val), label="packing") as bar:
            shards = pack(opened, out, shard_size, progress=bar.update)
    except RUN_ERRORS as error:
        raise fail(error) from error
    train = sum(p.name.startswith("train-") for p in shards)
    click.echo(f"{train} training and {len(shards) - train} validation shards in {out}: train with "
               f"--data 'tfrecord:{out}/train-*,{out}/val-*'")


@data.command("check")
@click.argument("source")
def check_command(source: str) -> None:
    """List every image file of SOURCE (folder:PATH) that cannot be used, and why.

    Each file is decoded whole, in parallel: one that is not an image, is truncated, is in a
    format archspec does not read (it reads PNG, JPEG, GIF and BMP) or cannot be read is printed
    as `FILE: what is wrong`, and the command exits 1; it exits 0 when every image decodes.
    train and evaluate run the same check before their first step, and refuse such a folder
    unless given --skip-broken. Other sources hold no image files of their own to check: the
    command says so in a line and exits 0.

    \b
    Example:
      archspec data check folder:photos/
    """
    from ..train.data import open_data, source_kind
    from ..train.sources.check import image_problems

    kind, _ = source_kind(source)
    if kind in DECODED_ELSEWHERE:  # said before opening it: a tfds name or an archive may need a download
        click.echo(f"{source}: nothing to check: its images are {DECODED_ELSEWHERE[kind]}; data check decodes "
                   f"the image files of a folder:PATH source")
        return
    try:
        opened = open_data(source, validation_split=0.1, seed=0, synthetic_classes=2)
        files = [*opened.train.files, *opened.val.files]
        found = image_problems(files, bar_progress)
    except RUN_ERRORS as error:
        raise fail(error) from error
    for path, problem in found:
        click.echo(f"{path}: {problem}")
    if found:
        raise Failure(f"{len(found)} of the {len(files)} images of {source} cannot be used (train and evaluate "
                      f"leave them out with --skip-broken)")
    click.echo(f"all {len(files)} images of {source} decode whole")
