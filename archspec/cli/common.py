"""What every command shares: how failures print, the common options, spec resizing."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..graph import load
from ..keras.quiet import debugging
from ..spec.errors import RunError, SpecError

T = TypeVar("T")
EPILOG = "Specs are YAML files (see specs/resnext50.yaml) or zoo names (see `archspec zoo list`)."


TF_NODE_NAMES = re.compile(r"\s*\{\{(function_)?node [^}]*\}\}")  # TensorFlow's internals, never for the user


class Failure(click.ClickException):
    """An expected failure: printed as one paragraph, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {TF_NODE_NAMES.sub('', self.message)}", err=True)


def fail(error: Exception) -> Failure:
    """``error`` as one paragraph, or raised as it is (its traceback shown) when debugging."""
    if debugging():
        raise error
    return Failure(str(error))


def progressbar(iterable: Iterable[T] | None = None, *, length: int | None = None,
                label: str) -> click.progressbar[T]:
    """click's progress bar on stderr where stderr is a terminal, and nothing at all where it is piped or
    redirected (click would still write the bare label there): stderr is for people at a terminal."""
    stderr = click.get_text_stream("stderr")
    return click.progressbar(iterable, length=length, label=label, file=stderr, hidden=not stderr.isatty())


def warn(message: str) -> None:
    """Something wrong that does not stop the command, said on stderr (stdout keeps the result)."""
    click.echo(message, err=True)


@contextlib.contextmanager
def bar_progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A library ``Progress`` (train.sources.check) drawn as ``progressbar``."""
    with progressbar(length=total, label=label) as bar:
        yield bar.update


skip_broken_option = click.option("--skip-broken", is_flag=True,
                                  help="A folder source: leave out image files that do not decode whole (not an "
                                       "image, truncated, another format), saying how many, instead of refusing "
                                       "the data set; `archspec data check` lists them.")


def resized(spec: str, input_size: int | None, num_classes: int | None, memory_efficient: bool = False) -> dict[str, Any]:
    """--input-size, --num-classes and --memory-efficient as overrides of the spec named ``spec``."""
    if input_size is None and num_classes is None and not memory_efficient:
        return {}
    return load.resized(load.load_spec(spec), input_size, num_classes, memory_efficient)


WEIGHTS_HELP = ("A torchvision/timm .pth or .safetensors file (read without PyTorch), keras.applications' .h5, a .h5 or "
                ".keras model; or the entry's published weights: imagenet (keras_* entries), torchvision, timm, "
                "torchvision:TAG, hf://timm/NAME (see `zoo show`).")

ema_option = click.option("--ema", is_flag=True,
                          help="Use a checkpoint's EMA weights (timm's state_dict_ema or model_ema) instead of its "
                               "plain ones.")

input_size_option = click.option("--input-size", type=click.IntRange(min=1),
                           help="Square input size instead of the spec's (training data is resized to it).")
num_classes_option = click.option("--num-classes", type=click.IntRange(min=1), help="Classifier size instead of the spec's.")


def cannot_write(path: Path, error: OSError) -> OSError:
    """The OS's reason, about the file asked for rather than the temporary one beside it."""
    return OSError(f"cannot write '{path}': {error.strerror or error}")



RUN_ERRORS = (SpecError, RunError, OSError)


data_option = click.option("--data", help="digits (scikit-learn's 8x8 digits; the default), cifar10, cifar100 "
                                    "(downloaded once into the Keras cache), folder:PATH (a subfolder of images per "
                                    "class, or train/ and val/ holding them), npz:PATH (arrays x and y, optionally "
                                    "x_val and y_val as a fixed validation set), tfrecord:GLOB[,VAL_GLOB], "
                                    "tfds:NAME[:SPLIT[,VAL_SPLIT]] (a prepared TensorFlow Datasets builder, with "
                                    "the archspec[tfds] extra) or synthetic[:N].")


def experiment_options(name: str, sized: bool = True) -> Callable:
    """The options every experiment shares: its data, seed, input size (where ``sized``) and output folder."""
    options = [
        data_option,
        click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True),
        click.option("--input-size", type=click.IntRange(min=1),
                     help="Square input size [default: the data's own, 8 for digits]."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path(f"runs/{name}"),
                     show_default=True),
    ]
    if not sized:
        del options[2]

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply

def needs_tensorflow(purpose: str) -> None:
    """Import TensorFlow quietly for ``purpose`` (its data pipeline, SavedModel), or fail in one line without it."""
    from ..keras.quiet import import_tensorflow

    try:
        import_tensorflow(purpose)
    except RunError as error:
        raise fail(error) from error
