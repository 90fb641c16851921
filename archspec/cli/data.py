"""`archspec data`: work on data sets themselves."""

from __future__ import annotations

from pathlib import Path

import click

from .common import RUN_ERRORS, fail, needs_tensorflow, progressbar


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
