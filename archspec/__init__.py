"""archspec: residual-family networks as YAML specs, compiled to plain Keras models.

Importing the package does not import TensorFlow; ``build_model`` does, when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .complexity import Complexity
from .complexity import complexity as _spec_complexity
from .errors import SpecError
from .loader import load_spec
from .schema import ModelSpec
from .zoo import list_zoo

if TYPE_CHECKING:
    import keras

__all__ = ["ModelSpec", "SpecError", "build_model", "complexity", "list_zoo", "load_spec"]
__version__ = "0.1.0"


def complexity(spec: Any) -> Complexity:
    """Params, total params and MACs (whole and per stage) of a spec, path, zoo name or dict."""
    return _spec_complexity(load_spec(spec))


def build_model(spec: Any, *, input_size: int | None = None, num_classes: int | None = None) -> "keras.Model":
    """Compile a spec (object, path, zoo name or dict) into a ``keras.Model``.

    ``input_size`` replaces the input's height and width; ``num_classes`` the classifier size.
    """
    from .builder import build_spec

    loaded = load_spec(spec)
    changes = _overrides(loaded, input_size, num_classes)
    return build_spec(load_spec(loaded, overrides=changes) if changes else loaded)


def _overrides(spec: ModelSpec, input_size: int | None, num_classes: int | None) -> dict:
    changes: dict[str, Any] = {}
    if input_size is not None:
        changes["input_shape"] = (input_size, input_size, spec.input_shape[2])
    if num_classes is not None:
        changes["num_classes"] = num_classes
    return changes
