"""One entry for every kind of weights ``build_model(weights=...)`` takes: a named source, a
PyTorch or safetensors file (mapped per family), or a Keras file (by layer name)."""

from __future__ import annotations

from pathlib import Path

import keras

from ...spec.schema import ModelSpec
from .keras_files import load_weights_by_name
from .sources import check_named_or_file, is_named, resolve
from .tensors import file_kind
from .torch_pickle import WeightsFileError
from .transfer import Loaded, load_source_weights


def load_weights(model: keras.Model, spec: ModelSpec, weights: str | Path, *,
                 fresh_classifier: bool = False, ema: bool = False) -> Loaded:
    """Fill ``model`` from ``weights``, whatever the file is named: every layer, but head layers the file does
    not fit (and the classifier with ``fresh_classifier``, to fine-tune for other classes), and the first conv
    adapted to the model's input channels; with ``ema``, a checkpoint's EMA weights. What was filled."""
    check_named_or_file(weights)
    path = Path(weights)
    if not path.exists() and is_named(weights):
        path = resolve(spec, str(weights))
    if file_kind(path) in ("h5", "keras"):
        if ema:
            raise WeightsFileError(f"{path}: a Keras file holds one set of weights, no separate EMA ones: "
                                   f"leave out --ema")
        return load_weights_by_name(model, path, fresh_classifier=fresh_classifier)
    return load_source_weights(model, path, fresh_classifier=fresh_classifier, ema=ema)
