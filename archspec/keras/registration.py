"""archspec's Keras layers registered whenever Keras is in use, without importing Keras ourselves.

Keras deserialises a saved model's custom layers only if they are registered (it imports
no module outside its own packages to find them), so ``keras.saving.load_model`` on a saved
option-A ResNet fails with "Could not locate class 'ChannelPad'" unless ``archspec.keras.layers``
was imported first. ``import archspec`` calls ``register_when_keras_is_imported``: the layers are
registered at once if Keras is already imported, or just after Keras's own import otherwise, so
either import order works and ``import archspec`` alone still imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Sequence

LAYERS_MODULE = "archspec.keras.layers"  # importing it registers every archspec layer with Keras


def register_when_keras_is_imported() -> None:
    """Register archspec's layers now if Keras is loaded, else as soon as something imports it."""
    if "keras" in sys.modules:
        importlib.import_module(LAYERS_MODULE)
    elif not any(isinstance(finder, _AfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asked for ``keras``, it gets the spec from the other finders and extends
    that loader so the layers register right after Keras's package has run, then it leaves
    ``sys.meta_path``. (A lookup alone, ``importlib.util.find_spec("keras")`` as TensorFlow makes
    one, loads nothing, so the finder stays until Keras is really loaded.)"""

    def __init__(self) -> None:
        self._asking_the_others = False

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        if fullname != "keras" or self._asking_the_others:
            return None
        self._asking_the_others = True
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            self._asking_the_others = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_keras = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_keras(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            importlib.import_module(LAYERS_MODULE)

        spec.loader.exec_module = exec_module  # this loader instance serves keras's package alone
        return spec
