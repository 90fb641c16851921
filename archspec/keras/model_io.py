"""Loading ``.keras`` files without running code they carry.

A ``.keras`` file is a zip of ``config.json`` (what to rebuild) and the weights. Its config
may name a Python lambda (``Lambda`` layers, CVE-2024-3660) or, in a crafted file, any
importable function (CVE-2025-1550 ran those even under ``safe_mode=True`` before Keras
3.9). ``load_model`` reads the config first and refuses anything that is not Keras's own
or one of archspec's registered layers, then loads with ``safe_mode=True``, unless the
caller passes ``unsafe=True`` for a file they trust. Archspec's own models never need it.

``save_model`` writes files any backend loads: Keras names a compiled model's optimizer by
its class's module, which on torch is a torch-only class (loading that file on TensorFlow
imported torch and crashed), so the file names Keras's public optimizer instead; the two
keep the same variables.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

from ..spec.errors import RunError
from ..utils.atomic import replacing
from .layers import PACKAGE  # importing the layers registers them with Keras
from .portable import native, portable

MAX_CONFIG_BYTES = 64 << 20  # a 1202-layer net's config is a few MiB


class ModelFileError(RunError):
    """A ``.keras`` file that cannot be read, or may not be loaded without ``unsafe=True``."""


def load_model(path: str | Path, *, unsafe: bool = False, compile: bool = True) -> keras.Model:
    """The model in a ``.keras`` file, refusing files whose loading could run foreign code.

    ``unsafe=True`` skips the checks and Keras's ``safe_mode``: only for files you trust.
    ``compile`` is Keras's: False skips restoring the optimizer and loss (for inference and export). Grouped
    convolutions come back as ``GroupedConv2D``, fast on a CPU (``portable.native``).
    """
    path = Path(path)
    reason = None if unsafe else next(_unsafe_parts(_read_config(path)), None)
    if reason:
        raise ModelFileError(f"{path}: refusing to load: {reason}, and loading it could run arbitrary Python "
                             f"code (see SECURITY.md); pass unsafe=True only if you trust the file")
    try:
        return native(keras.saving.load_model(path, safe_mode=not unsafe, compile=compile))
    except (ValueError, TypeError, OSError) as err:
        raise ModelFileError(f"{path}: Keras cannot load it: {err}") from err


def save_model(model: keras.Model, path: Path) -> None:
    """``model.save(path)`` atomically (a crash never leaves a half-written file), loadable on every backend
    and, where every layer has a built-in form (``portable``), by plain Keras without archspec."""
    with replacing(path) as tmp:
        portable(model).save(tmp)
        with zipfile.ZipFile(tmp) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        config = json.loads(members["config.json"])
        optimizer = (config.get("compile_config") or {}).get("optimizer")
        if not isinstance(optimizer, dict) or not optimizer.get("module", "").startswith(_BACKEND_OPTIMIZERS):
            return
        optimizer["module"] = "keras.optimizers"
        members["config.json"] = json.dumps(config).encode()
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)


def custom_layers(path: str | Path) -> dict[str, str]:
    """Layer name -> class of each archspec layer in a ``.keras`` file: what plain Keras cannot load."""
    return {obj["config"]["name"]: obj["class_name"] for obj in _objects(_read_config(Path(path)))
            if str(obj.get("registered_name", "")).startswith(f"{PACKAGE}>")}


_BACKEND_OPTIMIZERS = "keras.src.backend."  # e.g. keras.src.backend.torch.optimizers.torch_sgd


def _read_config(path: Path) -> Any:
    """The parsed ``config.json`` of a ``.keras`` archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            text = archive.read(info) if info.file_size <= MAX_CONFIG_BYTES else None
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, KeyError):
        raise ModelFileError(f"{path}: not a .keras file (a zip archive with a config.json)") from None
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    if text is None:
        raise ModelFileError(f"{path}: its config.json holds {info.file_size:,} bytes, more than the "
                             f"{MAX_CONFIG_BYTES:,} a model's config may have")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ModelFileError(f"{path}: its config.json is not valid JSON: {err}") from None


def _unsafe_parts(config: Any) -> Iterator[str]:
    """Why loading ``config`` could run code that is neither Keras's nor an archspec layer, per object."""
    ours = {name for name in keras.saving.get_custom_objects() if name.startswith(f"{PACKAGE}>")}
    for obj in _objects(config):
        kind = obj["class_name"]
        name = obj["config"].get("name") if isinstance(obj.get("config"), dict) else None
        if kind == "__lambda__":
            yield "it holds a Python lambda"
        elif kind == "Lambda":
            yield f"layer {name!r} is a Lambda layer, which runs a Python function"
        elif "module" in obj and not _trusted(str(obj["module"]), obj.get("registered_name"), ours):
            label = f"{kind} {name!r}" if name else str(kind)
            yield f"{label} comes from module {obj['module']!r}, which is neither Keras nor archspec"


def _trusted(module: str, registered_name: Any, ours: set[str]) -> bool:
    """Keras's own objects, and archspec's registered layers (not any archspec function)."""
    package = module.split(".")[0]
    return package == "keras" or (package == PACKAGE and registered_name in ours)


def _objects(config: Any) -> Iterator[dict]:
    """Every serialised object (a dict with a ``class_name``) in a config, depth first, without recursion."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
