"""`archspec predict` and `archspec evaluate`: a classifier with weights, on images and on a data set."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from ..graph.load import load_spec
from ..keras.quiet import import_keras, tensorflow_installed, tensorflow_missing
from ..spec.errors import RunError
from .common import (
    RUN_ERRORS,
    WEIGHTS_HELP,
    bar_progress,
    ema_option,
    fail,
    progressbar,
    skip_broken_option,
    warn,
)

MODEL_HELP = ("MODEL is a spec (a zoo name or a YAML file) with --weights, or a trained model: a .keras file or an "
              "`archspec train` run folder (its best epoch's model, and the class names of its data).")


@dataclass(frozen=True)
class Classifier:
    """A model ready to use, what to call it, the view its inputs get and the names of its outputs."""

    name: str
    model: Any  # keras.Model
    transform: Any  # train.inference.Transform
    names: tuple[str, ...]


def _options(command):
    """The options predict and evaluate share: the weights and the evaluation view."""
    for option in reversed([
        click.option("--weights", metavar="FILE|SOURCE", help=f"With a spec as MODEL: {WEIGHTS_HELP}"),
        ema_option,
        click.option("--resize", type=click.IntRange(1, 4096),
                     help="Resize the shorter side to this many pixels before the centre crop [default: the view "
                          "recorded with the weights, else the input size / 0.875]."),
        click.option("--crop", type=click.IntRange(1, 4096),
                     help="Side of the centre crop [default: the model's input size; a model built for any size "
                          "needs it]."),
        click.option("--interpolation", type=click.Choice(["bilinear", "bicubic"]),
                     help="Resampling of the resize [default: the weights' record, else bilinear]."),
    ]):
        command = option(command)
    return command


def _classifier(model: str, weights: str | None, ema: bool, resize: int | None, crop: int | None,
                interpolation: str | None) -> Classifier:
    """The model with its weights, the evaluation view recorded with those weights (or set by hand) and
    its class names: ImageNet's for 1,000 outputs, a run's own where its data named them."""
    from ..spec.zoo import imagenet_classes

    trained = _trained(Path(model))
    if trained is not None and (weights or ema):
        raise RunError(f"{model} is a trained model and holds its own weights: leave out --weights and --ema")
    if trained is None and not weights:
        raise RunError(f"{model} is a spec: pass its weights with --weights FILE|SOURCE (or give a trained "
                       f".keras file or run folder as the model)")
    spec = None if trained else load_spec(model)
    if weights:
        from ..keras.weights.sources import check_named_or_file

        check_named_or_file(weights)  # a typo costs no TensorFlow start-up
    import_keras()
    from ..train.inference import Transform

    record = None
    if trained is not None:
        from ..keras.build import load_model

        path, names = trained
        keras_model = load_model(path, compile=False)
        name = str(path)
    else:
        from ..keras.build import build_model
        from ..keras.weights.sources import record_for

        keras_model = build_model(spec, weights=weights, ema=ema)
        record = record_for(spec, weights)
        name, names = spec.name, ()
    outputs = keras_model.output_shape[-1]
    if not names and outputs == len(imagenet_classes()):
        names = imagenet_classes()
    size = keras_model.input_shape[1]
    if size is not None and crop not in (None, size):
        raise RunError(f"{name} takes {size}x{size} images: --crop must be {size}, or left out")
    if size is None and crop is None:
        raise RunError(f"{name} takes images of any size: pass --crop N, the side of the centre crop it is fed")
    transform = Transform.of(crop or size, record.eval if record else None, resize=resize,
                             interpolation=interpolation)
    if record is None and spec is not None and spec.source and not (resize or interpolation):
        views = "; ".join(f"{w.name}: --resize {w.eval.resize} --interpolation {w.eval.interpolation}"
                          for w in spec.source.weights if w.eval)
        if views:
            transform = replace(transform, origin=f"the default: {weights} is none of the weights {spec.name} records "
                                                  f"by name or SHA-256; for theirs pass {views}")
    return Classifier(name, keras_model, transform, tuple(names))


def _trained(path: Path) -> tuple[Path, tuple[str, ...]] | None:
    """A .keras file or a run folder as (the model file, the run's class names); None for a spec."""
    from ..train.run_folder import RunFolder

    if path.is_dir():
        if not (path / "run.json").is_file():
            raise RunError(f"{path} is a folder but not an `archspec train` run folder (it has no run.json)")
        folder = RunFolder(path)
        return folder.model_file(), folder.classes()
    if path.suffix == ".keras":
        if not path.is_file():
            raise RunError(f"model file '{path}' does not exist")
        folder = RunFolder(path.parent)
        return path, folder.classes() if (path.parent / "run.json").is_file() else ()
    return None


@click.command(epilog=MODEL_HELP)
@click.argument("model", metavar="MODEL")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_options
@click.option("--top", type=click.IntRange(1, 1000), default=5, show_default=True, help="Classes to print per image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image: file, classes, probabilities.")
def predict(model: str, images: tuple[Path, ...], weights: str | None, ema: bool, resize: int | None,
            crop: int | None, interpolation: str | None, top: int, as_json: bool) -> None:
    """The most likely classes of each image (PNG, JPEG, GIF, BMP) by MODEL.

    Each image goes through the evaluation view recorded with the weights (torchvision's V1: resize to
    256, crop 224, bilinear), computed as torchvision and timm compute it on PIL images; weights without
    a record get the shorter side resized to size / 0.875 and a centre crop, and the view used is said.
    1,000-class models print ImageNet's class names, a trained run its data's.

    \b
    Examples:
      archspec predict resnet50 --weights resnet50-0676ba61.pth cat.jpg dog.png
      archspec predict se_resnet50 --weights model.safetensors --resize 235 --interpolation bicubic cat.jpg
      archspec predict runs/my_net photo.jpg --top 3
    """
    try:
        classifier = _classifier(model, weights, ema, resize, crop, interpolation)
        from ..train.inference import predict_files

        probabilities = predict_files(classifier.model, list(images), classifier.transform)
    except RUN_ERRORS as error:
        raise fail(error) from error
    names = classifier.names if len(classifier.names) == probabilities.shape[1] else None
    if not as_json:
        click.echo(f"view: {classifier.transform.describe()}")
    for path, row in zip(images, probabilities):
        best = row.argsort()[::-1][:top]
        if as_json:
            click.echo(json.dumps({"file": str(path), "classes": [int(i) for i in best],
                                   "names": [names[i] for i in best] if names else None,
                                   "probabilities": [round(float(row[i]), 6) for i in best]}))
            continue
        click.echo(f"{path}:")
        for i in best:
            click.echo(f"  {row[i]:7.2%}  {f'{names[i]} ({i})' if names else f'class {i}'}")


@click.command(epilog=MODEL_HELP)
@click.argument("model", metavar="MODEL")
@_options
@click.option("--data", required=True,
              help="folder:PATH (a subfolder per class, named by ImageNet synset, by the model's class names or by "
                   "output index; an ImageNet layout's val/), npz:PATH, cifar10, cifar100, tfrecord:GLOB[,VAL_GLOB] "
                   "or tfds:NAME[:SPLIT[,VAL_SPLIT]]: its own validation side where it has one, else every image.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: images, top1, top5, transform.")
@skip_broken_option
def evaluate(model: str, weights: str | None, ema: bool, resize: int | None, crop: int | None,
             interpolation: str | None, data: str, batch_size: int, as_json: bool, skip_broken: bool) -> None:
    """Top-1 and top-5 accuracy of MODEL on DATA.

    Images go through the evaluation view recorded with the weights (torchvision's V1 weights: resize
    256, crop 224, bilinear; V2: 232/224; timm's a1: 235/224, bicubic), scaled to the model's input
    size and computed as torchvision and timm compute it; weights without a record get the shorter
    side resized to size / 0.875 and a centre crop. Class folders named by ImageNet synset
    (n01440764) or class name are matched to the model's outputs; data whose classes cannot be matched
    is refused. A folder's images are all checked first: one that is no image or is truncated
    is named and the data refused, or left out with --skip-broken.

    \b
    Examples:
      archspec evaluate resnet50 --weights torchvision:IMAGENET1K_V2 --data folder:imagenet
      archspec evaluate runs/my_net --data folder:photos/val
    """
    if not tensorflow_installed():  # said before the model is built; imported only once used
        raise fail(tensorflow_missing("evaluate (it reads data sets through TensorFlow's pipeline)"))
    try:
        classifier = _classifier(model, weights, ema, resize, crop, interpolation)
        from ..train.data import open_data
        from ..train.inference import evaluate as run
        from ..train.sources.check import checked_images

        outputs = classifier.model.output_shape[-1]
        source = open_data(data, validation_split=0.5, seed=0, synthetic_classes=outputs)
        source = checked_images(source, skip_broken, warn, bar_progress)

        def progress(batches, total):
            with progressbar(batches, length=total, label="evaluating") as bar:
                yield from bar

        accuracy = run(classifier.model, source, classifier.transform, batch_size, classifier.names, progress)
    except RUN_ERRORS as error:
        raise fail(error) from error
    if as_json:
        click.echo(json.dumps({"images": accuracy.images, "top1": accuracy.top1, "top5": accuracy.top5,
                               "transform": classifier.transform.describe()}))
    else:
        click.echo(f"{classifier.name} on {data}: top-1 {accuracy.top1:.2%}, top-5 {accuracy.top5:.2%} "
                   f"({accuracy.images:,} images; {classifier.transform.describe()})")
