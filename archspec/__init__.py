"""archspec: residual-family networks as YAML specs, compiled to plain Keras models.

The public API. The package is arranged by concern, each layer using only those below it:

- ``archspec.spec``: what a network is (schemas, the safe YAML loader, the zoo catalogue, errors);
- ``archspec.graph``: the spec planned as a graph of named layers (blocks, complexity, guards, paths);
- ``archspec.keras``: the graph as a ``keras.Model`` (layers, builder, model files, export);
- ``archspec.train``: data, schedules, run folders, the trainer and benchmarks;
- ``archspec.experiments``: the papers' experiments;
- ``archspec.cli``: the ``archspec`` command;

with ``archspec.utils`` (atomic files, figures) beneath them all. Importing the package does not
import TensorFlow; ``build_model`` does, when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .graph.catalogue import list_zoo
from .graph.complexity import Complexity
from .graph.complexity import complexity as _spec_complexity
from .graph.load import load_spec, resized
from .keras.build import build_model, load_model
from .keras.registration import register_when_keras_is_imported
from .spec.errors import SpecError
from .spec.schema import ModelSpec

if TYPE_CHECKING:
    import keras

    from .keras.weights_export import Exported

__all__ = ["ModelSpec", "SpecError", "build_model", "complexity", "export_weights", "list_zoo", "load_model",
           "load_spec"]
__version__ = "0.1.0"

register_when_keras_is_imported()  # saved models then load with plain keras.saving.load_model, in either import order


def complexity(spec: Any, *, input_size: int | None = None, num_classes: int | None = None, features: bool = False,
               pooling: Literal["avg", "max"] | None = None) -> Complexity:
    """Params, total params and MACs (whole and per stage) of a spec, path, zoo name or dict;
    ``input_size`` and ``num_classes`` resize it as they do in ``build_model``, and with ``features``
    (and ``pooling``) the figures are those of its backbone, as ``build_model(spec, features=True)`` builds it."""
    loaded = load_spec(spec)
    return _spec_complexity(load_spec(loaded, overrides=resized(loaded, input_size, num_classes)),
                            features=features, pooling=pooling)


def export_weights(model: keras.Model, library: Literal["timm", "torchvision"], path: str | Path, *,
                   dtype: Literal["float32", "float16", "bfloat16"] | None = None, hub: bool = False,
                   labels: list[str] | None = None) -> Exported:
    """Write a model's weights as the file ``library``'s own model loads with ``strict=True``: ``.safetensors``
    or ``.pth`` by the suffix, or with ``hub`` a Hugging Face timm folder (``model.safetensors``, ``config.json``
    naming ``labels``). The model must be one of the library's registry networks, by its tensors and its
    function; the result names it, the ``num_classes`` to pass and the line that loads the file."""
    from .keras.weights_export import export_weights as export

    return export(model, library, Path(path), dtype=dtype, hub=hub, labels=labels)
