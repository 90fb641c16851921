"""One entry for every kind of weights ``build_model(weights=...)`` takes: a named source, a
PyTorch or safetensors file (mapped per family), or a Keras file (by layer name)."""

from __future__ import annotations

from pathlib import Path

import keras

from ...spec.schema import ModelSpec
from ..builder import load_weights_by_name
from .sources import is_named, resolve
from .transfer import Loaded, load_source_weights


def load_weights(model: keras.Model, spec: ModelSpec, weights: str | Path) -> Loaded | None:
    """Fill ``model`` from ``weights``; what a PyTorch or safetensors file filled, None for Keras files."""
    path = Path(weights)
    if not path.exists() and is_named(weights):
        path = resolve(spec, str(weights))
    if path.suffix in (".h5", ".keras"):
        load_weights_by_name(model, path)
        return None
    return load_source_weights(model, path)
