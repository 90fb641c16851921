"""Weights from Keras files, matched to a model's layers by name: keras.applications' ``.h5`` downloads, any
Keras ``.h5`` model, or a ``.keras`` model (loaded as ``archspec.load_model`` does, refusing foreign code).

Every weighted layer must be in the file with the same shapes, but for head layers the file does not fit (a
new task's classifier), which keep their initial weights, and the first conv, whose kernel is adapted to the
model's input channels (``adapt``).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ...spec.errors import SpecError
from ..layers import planned_layers
from .adapt import Adapted, adapt_channels, first_conv, head_reason, is_head, stem_note
from .transfer import Loaded


def load_weights_by_name(model: keras.Model, path: str | Path, fresh_classifier: bool = False) -> Loaded:
    """Fill ``model`` from a Keras file by layer name (its classifier left fresh with ``fresh_classifier``), or refuse
    naming the first layer of the backbone that is missing or of other shapes; what was filled and adapted."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"weights file '{path}' does not exist")
    found = _layer_weights(path)
    stem = first_conv(model)
    fresh, filled, trained = [], {}, 0
    for layer in planned_layers(model):
        if not layer.weights:
            continue
        mine = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in found.get(layer.name, [])]
        if is_head(layer) and ((fresh_classifier and layer is model.layers[-1]) or theirs != mine):
            fresh.append(layer)
            continue
        if layer.name not in found:
            raise SpecError(f"weights file '{path}' has no layer {layer.name!r} (shapes {mine}): it was saved "
                            f"from another architecture, or under other layer names (see the spec's rename)")
        weights = found[layer.name]
        if layer is stem and theirs and theirs[1:] == mine[1:] and _but_channels(theirs[0]) == _but_channels(mine[0]):
            trained, weights = theirs[0][2], [adapt_channels(weights[0], mine[0][2], axis=2), *weights[1:]]
        elif theirs != mine:
            raise SpecError(f"layer {layer.name!r} does not fit weights file '{path}': the model needs shapes "
                            f"{mine}, the file holds {theirs}")
        filled[layer] = weights
    for layer, weights in filled.items():
        layer.set_weights(weights)
    file_classes = found[fresh[-1].name][0].shape[-1] if fresh and fresh[-1].name in found else None
    adapted = Adapted(tuple(layer.name for layer in fresh),
                      head_reason(file_classes, fresh[-1].weights[0].shape[-1]) if fresh else "",
                      stem_note(stem, trained) if trained else "")
    unused = sum(len(found[layer.name]) for layer in fresh if layer.name in found)
    return Loaded(path, "Keras (by layer name)", sum(len(w) for w in filled.values()), len(filled), unused,
                  adapted=adapted)


def _but_channels(kernel: tuple[int, ...]) -> tuple[int, ...]:
    """A conv kernel's shape (HWIO) less its input channels."""
    return kernel[:2] + kernel[3:]


def _layer_weights(path: Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> weight arrays of a ``.keras`` model or an HDF5 file."""
    if path.suffix == ".keras":
        from ..model_io import load_model

        source = load_model(path, compile=False)
        return {layer.name: layer.get_weights() for layer in planned_layers(source)}
    if path.name.endswith(".h5"):
        return _h5_weights(path)
    raise SpecError(f"cannot read weights from '{path}': expected a .h5 file (keras.applications' weights, "
                    f"matched by layer name) or a .keras model")


def _h5_weights(path: Path) -> dict[str, list]:
    """Layer name -> weight arrays of a Keras HDF5 file (``layer_names`` and ``weight_names`` attributes,
    at the top as keras.applications' downloads have them, or under ``model_weights`` in a saved model)."""
    import h5py

    def text(v: object) -> str:
        return v.decode("utf8") if isinstance(v, bytes) else str(v)

    try:
        with h5py.File(path, "r") as f:
            group = f.get("model_weights", f)
            if "layer_names" not in group.attrs:
                raise SpecError(f"'{path}' holds no weights by layer name (Keras 3 .weights.h5 files name layers by "
                                f"position only); save them as a .keras model or an .h5 file")
            return {text(name): [np.asarray(group[text(name)][text(w)])
                                 for w in group[text(name)].attrs.get("weight_names", [])]
                    for name in group.attrs["layer_names"]}
    except OSError as error:
        raise SpecError(f"cannot read weights file '{path}': {error}") from error


