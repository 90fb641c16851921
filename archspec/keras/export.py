"""`archspec export`: a spec or a trained checkpoint as a .keras file, a SavedModel or ONNX (or LiteRT, in
``litert``, which uses the SavedModel), then checked: the exported model is loaded back and must give the Keras model's outputs; or its weights
as the file timm or torchvision loads (``weights_export``).

A ``.keras`` source is loaded safely (``archspec.keras.model_io``); a spec or zoo name is built with fresh
weights. SavedModel and ONNX are inference graphs in float32 (a model trained in mixed
precision is converted first); ONNX needs the ``onnx`` extra (tf2onnx), its check onnxruntime.

Formats by Keras backend: ``.keras`` on every one; SavedModel and ONNX on TensorFlow and on JAX
(Keras converts a JAX model through jax2tf, so both need TensorFlow installed); LiteRT on TensorFlow only
(jax2tf's graph holds XLA calls LiteRT's built-in operations do not have). On torch only
``.keras``: Keras cannot write a SavedModel from torch, and its torch ONNX path is untested here. The
timm and torchvision files on every backend.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np

from ..graph.load import load_spec
from ..graph.plan import REFERENCE_SIZE
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..utils.atomic import check_writable, replacing
from .build import build_model
from .model_io import custom_layers, load_model, save_model
from .outside import outputs_without_archspec
from .quiet import import_tensorflow
from .weights.writers import DType
from .weights_export import PTH_SUFFIXES, Exported, Library, check_hub, export_weights

Format = Literal["keras", "savedmodel", "onnx", "litert", "timm", "torchvision"]
SUFFIX: dict[str, str] = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "litert": ".tflite",
                          "timm": ".safetensors", "torchvision": ".safetensors"}
WEIGHT_FORMATS = ("timm", "torchvision")  # the weights alone, as the PyTorch side loads them
TOLERANCE = 1e-4  # largest output difference accepted, relative to outputs larger than 1 (logits, feature maps)
ONNX_HINT = "pip install 'archspec[onnx]' (tf2onnx and onnxruntime)"
FORMATS: dict[str, tuple[str, ...]] = {"tensorflow": ("keras", "savedmodel", "onnx", "litert", *WEIGHT_FORMATS),
                                       "jax": ("keras", "savedmodel", "onnx", *WEIGHT_FORMATS),
                                       "torch": ("keras", *WEIGHT_FORMATS)}


def load_source(source: str, overrides: dict[str, Any] | None = None,
                weights: str | None = None) -> tuple[keras.Model, ModelSpec | None]:
    """A checkpoint (``.keras``, loaded by ``model_io``'s safe loader) or a spec file or zoo name (built, with
    fresh weights or ``weights``), and the spec where there is one."""
    if source.endswith(".keras"):
        if overrides or weights:
            raise RunError("--input-size, --num-classes and --weights change a spec; a checkpoint keeps its own")
        return load_model(source), None
    spec = load_spec(source)
    spec = load_spec(spec, overrides=overrides) if overrides else spec
    return build_model(spec, weights=weights), spec


def default_path(model: keras.Model, fmt: Format) -> Path:
    return Path(f"{model.name}{SUFFIX[fmt]}")


def check_format(fmt: Format) -> None:
    """Fail before loading anything when Keras's backend cannot write the format or its converter is missing."""
    backend = keras.backend.backend()
    if fmt not in FORMATS.get(backend, ("keras",)):
        able = ", ".join(b for b, formats in FORMATS.items() if fmt in formats)
        raise RunError(f"--format {fmt} is not supported on Keras's {backend} backend (it writes "
                       f"{', '.join(FORMATS.get(backend, ('keras',)))}): export with KERAS_BACKEND set to one of "
                       f"{able}; a .keras file from any backend loads on every other")
    if fmt != "keras":
        import_tensorflow(f"--format {fmt}")
    if fmt == "onnx" and importlib.util.find_spec("tf2onnx") is None:
        raise RunError(f"ONNX export needs tf2onnx: {ONNX_HINT}")


def export(model: keras.Model, fmt: Format, out: Path) -> None:
    """Write ``model`` to ``out`` in ``fmt``, atomically (a SavedModel folder replaces the old one whole)."""
    if fmt == "keras":
        save_model(model, out)
        return
    model = float32(model)
    if fmt == "onnx":
        _normalization_as_graph_constants(model)
    model.predict_on_batch(np.zeros((1, *example_shape(model)), np.float32))  # export needs a traced call
    with replacing(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras's tf2onnx shim probes np.object
        model.export(str(tmp), format="tf_saved_model" if fmt == "savedmodel" else "onnx", verbose=False)


def _normalization_as_graph_constants(model: keras.Model) -> None:
    """A ``Normalization`` layer (a portable file's ``preprocess``) keeps its mean and variance as tensors, which
    the traced function captures and tf2onnx writes as inputs the ONNX graph then asks for; as numpy arrays they
    become constants in the graph. The values stay the same."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.mean is not None:
            layer.mean, layer.variance = (keras.ops.convert_to_numpy(v) for v in (layer.mean, layer.variance))


def example_shape(model: keras.Model) -> tuple[int, int, int]:
    """One image's shape to trace and check ``model`` with: its input's, or for a model that takes any size
    the reference size it was planned at (the exported files keep taking any size)."""
    return tuple(REFERENCE_SIZE if d is None else d for d in model.input_shape[1:])


def float32(model: keras.Model) -> keras.Model:
    """The same network and weights with every layer in float32 (mixed-precision checkpoints)."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def recast(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    clone = keras.models.clone_model(model, clone_function=recast)
    clone.set_weights(model.get_weights())
    return clone


def parity(model: keras.Model, fmt: Format, out: Path, images: int = 4) -> float | None:
    """Largest difference between Keras's and the exported model's outputs (every output of a backbone's
    feature maps) on random images of pixel values 0..255 (what every built model takes), relative to
    the output's largest value where that exceeds 1; None when onnxruntime, to check ONNX, is not installed.
    The exported model runs in a separate process where archspec cannot be imported, as its receiver runs it,
    except a ``.keras`` file that holds archspec's layers."""
    x = np.random.default_rng(0).uniform(0, 255, (images, *example_shape(model))).astype(np.float32)
    expected = named_outputs(float32(model)(x, training=False))
    if fmt == "keras" and custom_layers(out):  # it needs archspec to load (``portability`` says so)
        got = named_outputs(load_model(out)(x, training=False))
    elif fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        return None
    else:  # as a receiver without archspec loads it
        got = outputs_without_archspec({out: x})[out]
    if fmt == "onnx" and got.keys() != expected.keys() and len(got) == len(expected):
        got = dict(zip(expected, got.values()))  # tf2onnx renames a backbone's outputs, in the model's order
    if got.keys() != expected.keys() or any(got[k].shape != v.shape for k, v in expected.items()):
        return float("inf")
    return max(float(np.max(np.abs(got[k] - v)) / max(1.0, np.max(np.abs(v)))) for k, v in expected.items())


def portability(out: Path) -> str | None:
    """One line naming the layer that keeps a written ``.keras`` file from loading without archspec, and the
    formats that carry its model instead; None for a file plain Keras loads."""
    custom = custom_layers(out)
    if not custom:
        return None
    name, kind = next(iter(custom.items()))
    more = f" and {len(custom) - 1} more archspec layers" if len(custom) > 1 else ""
    return (f"'{out}' loads only where archspec is installed: layer {name!r} ({kind}){more} has no built-in Keras "
            f"form; --format savedmodel or onnx carries this model without archspec")


def named_outputs(outputs: Any) -> dict[str, np.ndarray]:
    """A model's outputs by name: a classifier's one array, or a backbone's dict of feature maps."""
    if isinstance(outputs, dict):
        return {name: np.asarray(keras.ops.convert_to_numpy(value), np.float32) for name, value in outputs.items()}
    return {"output": np.asarray(keras.ops.convert_to_numpy(outputs), np.float32)}


def run(source: str, fmt: Format, out: Path | None = None, overrides: dict[str, Any] | None = None, *,
        force: bool = False, weights: str | None = None) -> tuple[Path, float | None]:
    """Load or build, export, check; raises RunError when the exported outputs differ. An ``out`` that exists
    is replaced only with ``force``."""
    check_format(fmt)
    if out is not None:
        check_out(out, fmt, force)
    model, _ = load_source(source, overrides, weights)
    if out is None:
        out = default_path(model, fmt)
        check_out(out, fmt, force)
    export(model, fmt, out)
    difference = parity(model, fmt, out)
    if difference is not None and difference > TOLERANCE:
        raise RunError(f"the {fmt} export at '{out}' gives outputs up to {difference:.2g} away from Keras's "
                       f"(more than {TOLERANCE:g}); it was written but should not be trusted")
    return out, difference


def run_weights(source: str, library: Library, out: Path | None = None, overrides: dict[str, Any] | None = None,
                *, force: bool = False, weights: str | None = None, dtype: DType | None = None,
                hub: bool = False, labels: list[str] | None = None) -> Exported:
    """Load or build, then write the weights as ``library``'s file (or, with ``hub``, a timm hub folder naming
    ``labels``) and read them back; see ``weights_export.export_weights``."""
    check_hub(library, hub)
    if out is not None:
        check_out(out, library, force, folder=hub)
    model, spec = load_source(source, overrides, weights)
    if out is None:
        out = Path(model.name) if hub else default_path(model, library)
        check_out(out, library, force, folder=hub)
    return export_weights(model, library, out, dtype=dtype, spec=spec, hub=hub, labels=labels)


def check_out(out: Path, fmt: Format, force: bool, folder: bool = False) -> None:
    """Refuse, before any work, an output of the wrong kind, in a missing or read-only folder, or one that
    exists (unless ``force``)."""
    if fmt in WEIGHT_FORMATS and not folder and out.suffix not in (".safetensors", *PTH_SUFFIXES):
        raise RunError(f"--out '{out}': a {fmt} file is .safetensors (the default) or .pth")
    elif fmt not in WEIGHT_FORMATS and SUFFIX[fmt] and out.suffix != SUFFIX[fmt]:
        raise RunError(f"--out '{out}': a {fmt} export is a {SUFFIX[fmt]} file")
    if out.exists() and not force:
        raise RunError(f"--out '{out}' exists: pass --force to replace it, or choose another path")
    if out.exists() and out.is_dir() != (folder or fmt == "savedmodel"):
        raise RunError(f"--out '{out}' is a {'folder' if out.is_dir() else 'file'}; this export writes a "
                       f"{'folder' if folder or fmt == 'savedmodel' else 'file'}: choose another path")
    check_writable(out)
