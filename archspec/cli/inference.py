"""`archspec predict` and `archspec evaluate`: a classifier with weights, on images and on a data set."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..graph.load import load_spec
from ..keras.quiet import import_keras
from .common import RUN_ERRORS, WEIGHTS_HELP, fail

weights_option = click.option("--weights", required=True, metavar="FILE|SOURCE", help=WEIGHTS_HELP)


def _classifier(spec_name: str, weights: str):
    """The built model with its weights, and the evaluation transform recorded with those weights."""
    spec = load_spec(spec_name)
    import_keras()
    from ..keras.build import build_model
    from ..keras.weights.sources import record_for
    from ..train.inference import Transform

    model = build_model(spec, weights=weights)
    record = record_for(spec, weights)
    return spec, model, Transform.of(spec.input_shape[0], record.eval if record else None)


@click.command()
@click.argument("spec")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@weights_option
@click.option("--top", type=click.IntRange(1, 1000), default=5, show_default=True, help="Classes to print per image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image: file, classes, probabilities.")
def predict(spec: str, images: tuple[Path, ...], weights: str, top: int, as_json: bool) -> None:
    """The most likely classes of each image (PNG, JPEG, GIF, BMP) by SPEC with WEIGHTS.

    Each image goes through the evaluation transform recorded with the weights (torchvision's V1:
    resize to 256, crop 224), or the shorter side to size / 0.875 and a centre crop; 1,000-class
    models print ImageNet's class names.

    \b
    Examples:
      archspec predict resnet50 --weights resnet50-0676ba61.pth cat.jpg dog.png
      archspec predict keras_resnet50 --weights imagenet photo.jpg --top 3
    """
    from ..spec.zoo import imagenet_classes

    try:
        loaded, model, transform = _classifier(spec, weights)
        from ..train.inference import predict_files

        probabilities = predict_files(model, list(images), transform)
    except RUN_ERRORS as error:
        raise fail(error) from error
    names = imagenet_classes() if probabilities.shape[1] == len(imagenet_classes()) else None
    for path, row in zip(images, probabilities):
        best = row.argsort()[::-1][:top]
        labels = [f"{names[i]} ({i})" if names else f"class {i}" for i in best]
        if as_json:
            click.echo(json.dumps({"file": str(path), "classes": [int(i) for i in best],
                                   "names": [names[i] for i in best] if names else None,
                                   "probabilities": [round(float(row[i]), 6) for i in best]}))
            continue
        click.echo(f"{path}:")
        for i, label in zip(best, labels):
            click.echo(f"  {row[i]:7.2%}  {label}")


@click.command()
@click.argument("spec")
@weights_option
@click.option("--data", required=True, help="folder:PATH (a subfolder per class, sorted names are the class "
                                            "indices: ImageNet's validation set by synset) or npz:PATH (x, y).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: images, top1, top5, transform.")
def evaluate(spec: str, weights: str, data: str, batch_size: int, as_json: bool) -> None:
    """Top-1 and top-5 accuracy of SPEC with WEIGHTS on every image of DATA.

    Images go through the evaluation transform recorded with the weights (torchvision's V1 weights:
    resize 256, crop 224, bilinear; V2: 232/224; timm's a1: 224 / 0.95, bicubic), scaled to the
    spec's input size; weights without a record get the shorter side resized to size / 0.875 and a
    centre crop.

    \b
    Example:
      archspec evaluate resnet50 --weights torchvision:IMAGENET1K_V2 --data folder:imagenet/val
    """
    try:
        loaded, model, transform = _classifier(spec, weights)
        from ..train.data import open_data
        from ..train.inference import evaluate as run

        source = open_data(data, validation_split=0.5, seed=0, synthetic_classes=loaded.num_classes)

        def progress(batches, total):
            stderr = click.get_text_stream("stderr")
            with click.progressbar(batches, length=total, label="evaluating", file=stderr) as bar:
                yield from bar

        accuracy = run(model, source, transform, batch_size, progress)
    except RUN_ERRORS as error:
        raise fail(error) from error
    if as_json:
        click.echo(json.dumps({"images": accuracy.images, "top1": accuracy.top1, "top5": accuracy.top5,
                               "transform": transform.describe()}))
    else:
        click.echo(f"{loaded.name} on {data}: top-1 {accuracy.top1:.2%}, top-5 {accuracy.top5:.2%} "
                   f"({accuracy.images:,} images; {transform.describe()})")
