"""A Keras model's weights as the file timm's or torchvision's own builder loads with ``strict=True``.

The family's tensor mapping (``weights.transfer``), run backwards, gives the model's state dict; the registry
(``weights.registry``) says which library model it is, by every tensor's name and shape, so a user's own spec
that is a registry network exports too, and anything else is refused naming the nearest one. Equal
tensors do not make an equal function (an activation, a padding or a pooling may differ), so unless the
model's spec is the registry entry's own, the entry is built with the model's weights and must give its
outputs. The written file is then read back into a copy of the model, which must give the model's outputs:
exactly in float32, within the rounding of a chosen float16 or bfloat16.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from ..graph.load import load_spec
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..utils.atomic import replacing, write_text
from .build import build_model
from .weights.adapt import first_conv
from .weights.families import FAMILIES, Family, family_of
from .weights.registry import Match, RegistryNetwork, fit, registry, similarity
from .weights.torch_pickle import WeightsFileError
from .weights.transfer import load_source_weights, state_dict
from .weights.writers import DType, cast, write_pth, write_safetensors

Library = Literal["timm", "torchvision"]
PTH_SUFFIXES = (".pth", ".pt", ".bin")
HUB_WEIGHTS = "model.safetensors"  # the file a Hugging Face timm repository holds, beside config.json
SAME_FUNCTION = 1e-4  # the registry entry's outputs against the model's, relative to the largest
DEFAULT_VIEW = {"interpolation": "bilinear", "crop_pct": 0.875}  # archspec's evaluation view without a record


@dataclass(frozen=True)
class Exported:
    """What ``export_weights`` wrote: for the command to report and say how to load it."""

    path: Path
    library: str
    model: str  # the library's name for the network
    num_classes: int
    changed_head: bool
    dtype: str
    tensors: int
    difference: float  # the largest output difference of the file read back into the model

    def how_to_load(self) -> str:
        """The line that loads the file on the PyTorch side."""
        classes = f", num_classes={self.num_classes}" if self.changed_head else ""
        if self.path.is_dir():
            return f'timm.create_model("local-dir:{self.path}", pretrained=True)'
        read = (f'safetensors.torch.load_file("{self.path}")' if self.path.suffix == ".safetensors"
                else f'torch.load("{self.path}", weights_only=True)')
        make = (f'timm.create_model("{self.model}"{classes})' if self.library == "timm"
                else f'torchvision.models.get_model("{self.model}"{classes})')
        return f"{make}.load_state_dict({read})"


def export_weights(model: keras.Model, library: Library, out: Path, *, dtype: DType | None = None,
                   spec: ModelSpec | None = None, hub: bool = False, labels: list[str] | None = None) -> Exported:
    """Write ``model``'s weights to ``out`` as ``library``'s file of the registry network the model is:
    ``.safetensors`` or ``.pth`` by the suffix; with ``hub``, ``out`` is a folder holding ``model.safetensors``
    and timm's ``config.json`` (``labels`` name the classes there). ``dtype`` casts floating tensors
    (default: as the model keeps them); ``spec``, the model's spec if known, spares rebuilding the entry to
    compare functions when it is the entry's own."""
    check_hub(library, hub)
    match, family, tensors = identify(model, library, spec)
    weights = cast(tensors, dtype)
    if hub:
        with replacing(out) as folder:
            folder.mkdir()
            write_safetensors(weights, folder / HUB_WEIGHTS, _metadata(match))
            write_text(folder / "config.json", json.dumps(hub_config(model, match, family, labels), indent=2) + "\n")
            difference = _read_back(model, folder / HUB_WEIGHTS)
    else:
        with replacing(out) as tmp:
            if out.suffix in PTH_SUFFIXES:
                write_pth(weights, tmp)
            else:
                write_safetensors(weights, tmp, _metadata(match))
            difference = _read_back(model, tmp)
    if difference > (0.0 if dtype in (None, "float32") else 0.1):
        raise RunError(f"{out}: the file read back gives outputs up to {difference:.2g} away from the model's "
                       f"(a defect in archspec's mapping of {family.label}); nothing was written")
    kept = next((str(t.dtype) for t in weights.values() if np.issubdtype(t.dtype, np.floating)), "float32")
    return Exported(out, library, match.network.model, match.num_classes, match.changed_head,
                    dtype or kept, len(weights), difference)


def check_hub(library: str, hub: bool) -> None:
    """A hub folder is timm's: refuse it for another library, before any work."""
    if hub and library != "timm":
        raise RunError("--hub writes a Hugging Face timm repository (model.safetensors and config.json): it goes "
                       "with --format timm")


def identify(model: keras.Model, library: Library,
             spec: ModelSpec | None = None) -> tuple[Match, Family, dict[str, np.ndarray]]:
    """The registry network of ``library`` that ``model`` is (tensors and function), its family, and the
    model's state dict; a ``RunError`` naming the nearest network when it is none."""
    if not isinstance(model.output, keras.KerasTensor) or len(model.output.shape) != 2:
        raise RunError(f"{model.name} is a backbone with {len(keras.tree.flatten(model.output))} feature-map "
                       f"outputs; export the classifier (or a pooled backbone, features with pooling), which "
                       f"{library}'s models are")
    candidates: list[tuple[Match, Family, dict[str, np.ndarray]]] = []
    closest: tuple[float, RegistryNetwork, str] | None = None
    networks = [n for n in registry() if n.library == library]
    for family in FAMILIES:
        mine = [n for n in networks if family_of(set(n.tensors)) is family]
        try:
            tensors = state_dict(model, family) if mine else None
        except WeightsFileError:  # a layer this family has no counterpart for
            continue
        if tensors is None:
            continue
        shapes = {name: t.shape for name, t in tensors.items()}
        for network in mine:
            result = fit(shapes, network, family.head)
            if isinstance(result, Match):
                candidates.append((result, family, tensors))
                continue
            score = similarity(shapes, network)
            if closest is None or score > closest[0]:
                closest = (score, network, result)
    preferred = spec.source.model if spec is not None and spec.source is not None else None
    candidates.sort(key=lambda c: c[0].network.model != preferred)
    for match, family, tensors in candidates:
        if _same_function(model, match, spec):
            return match, family, tensors
    raise RunError(_no_match(model, library, candidates, closest))


def _no_match(model: keras.Model, library: str, candidates: list, closest: tuple | None) -> str:
    if candidates:
        names = ", ".join(sorted({c[0].network.model for c in candidates}))
        return (f"{model.name} has the tensors of {library}'s {names} but computes another function (an "
                f"activation, padding or pooling differs), so {library}'s model would not reproduce it; "
                f"export it as .keras, SavedModel or ONNX instead")
    if closest is None:
        return (f"{model.name} is no {library} network archspec maps: none of its layers fit the tensor names of "
                f"{library}'s families; export it as .keras, SavedModel or ONNX instead")
    _, network, difference = closest
    return (f"{model.name} is not one of {library}'s networks, so no {library} builder would load its weights: "
            f"the nearest is {network.model} (zoo entry {network.entry}), where {difference}; export it as "
            f".keras, SavedModel or ONNX instead, or start from `archspec build {network.entry}`")


def _same_function(model: keras.Model, match: Match, spec: ModelSpec | None) -> bool:
    """Whether ``model`` computes the registry entry's function: its spec is the entry's own (resized), or the
    entry built like the model and given its weights gives its outputs."""
    overrides = {"input_shape": list(model.input_shape[1:]), "preprocess": input_normalisation(model).preprocess()}
    if match.num_classes:
        overrides["num_classes"] = match.num_classes
    pooling = None if match.num_classes else _pooling(model)
    entry = load_spec(match.network.entry, overrides={k: v for k, v in overrides.items() if k != "preprocess"})
    if spec is not None and pooling is None and _architecture(spec) == _architecture(entry):
        return True
    reference = build_model(load_spec(entry, overrides={"preprocess": overrides["preprocess"]}),
                            features=pooling is not None, pooling=pooling, weights_from=model)
    return _difference(model, reference) <= SAME_FUNCTION


def _architecture(spec: ModelSpec) -> dict:
    """What a spec computes at inference past its input normalisation (which the file's users apply themselves,
    as timm's config says): its fields less its name, description, training recipe and source."""
    return spec.model_dump(exclude={"name", "family", "description", "train", "source", "rename", "preprocess"})


@dataclass(frozen=True)
class Normalisation:
    """What a model does to pixel values 0..255 before its first convolution, in timm's terms: ``(x / 255 -
    mean) / std`` per channel, the channels reversed first where ``bgr``."""

    mean: list[float]
    std: list[float]
    bgr: bool

    def preprocess(self) -> dict:
        """As a spec's explicit ``preprocess``."""
        return {"scale": 1 / 255, "mean": self.mean, "std": self.std, "channels": "bgr" if self.bgr else "rgb"}


def input_normalisation(model: keras.Model) -> Normalisation:
    """Measured rather than read from a layer, so that it holds for archspec's ``InputNormalization``, for the
    built-in layers a portable file holds, or for none: the first convolution's input at the centre of images
    of 0, of 255 and of a distinct level per channel (which tells a reversal of the channels)."""
    height, width, channels = (d or 32 for d in model.input_shape[1:])
    marks = 40.0 + 50.0 * np.arange(channels)
    x = np.stack([np.full((height, width, channels), level, np.float32) for level in (0.0, 255.0)]
                 + [np.broadcast_to(marks, (height, width, channels)).astype(np.float32)])
    seen = keras.Model(model.input, first_conv(model).input)(x, training=False)
    zero, full, marked = np.asarray(keras.ops.convert_to_numpy(seen), np.float64)[:, height // 2, width // 2]
    std = 1 / (full - zero)
    mean = -zero * std
    order = np.rint((marked * std + mean) * 255).astype(int)
    if list(order) not in (list(marks.astype(int)), list(marks.astype(int))[::-1]):
        raise RunError(f"{model.name} transforms its input in a way other than scaling, shifting and reversing "
                       f"the channels, which timm's and torchvision's normalisation cannot say")
    bgr = channels > 1 and list(order) != list(marks.astype(int))
    return Normalisation([float(f"{v:.6g}") for v in mean], [float(f"{v:.6g}") for v in std], bgr)


def _pooling(model: keras.Model) -> Literal["avg", "max"]:
    last = model.layers[-1]
    return "max" if isinstance(last, keras.layers.GlobalMaxPooling2D) else "avg"


def _read_back(model: keras.Model, path: Path) -> float:
    """The written file loaded into a copy of ``model``: its largest output difference from the model's,
    relative to the largest output."""
    copy = keras.models.clone_model(model)
    load_source_weights(copy, path)
    return _difference(model, copy)


def _difference(model: keras.Model, other: keras.Model) -> float:
    """The largest difference of two models' outputs on the same random images (pixel values 0..255, any-size
    models at 224), relative to the largest output where that exceeds 1; infinite for outputs of other shapes."""
    x = np.random.default_rng(0).uniform(0, 255, (2, *(d or 224 for d in model.input_shape[1:]))).astype(np.float32)
    ours, theirs = (np.asarray(keras.ops.convert_to_numpy(m(x, training=False)), np.float64) for m in (model, other))
    if ours.shape != theirs.shape:
        return float("inf")
    return float(np.max(np.abs(ours - theirs)) / max(1.0, float(np.max(np.abs(ours)))))


def _metadata(match: Match) -> dict[str, str]:
    return {"library": match.network.library, "architecture": match.network.model,
            "num_classes": str(match.num_classes), "written_by": "archspec"}


def hub_config(model: keras.Model, match: Match, family: Family, labels: list[str] | None = None) -> dict:
    """timm's ``config.json`` for the model: the architecture, its class count and features, and the input
    it takes (size, the normalisation inside the model as timm's mean and std, archspec's evaluation view)."""
    height, width, channels = (d or 224 for d in model.input_shape[1:])
    norm = input_normalisation(model)
    if norm.bgr:
        raise RunError("the model reverses RGB to BGR (caffe preprocessing), which timm's config cannot say")
    classifier = family.head[0]
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    first_conv = family.modules(model)[convs[0]] if convs else None
    pool = _pooling(model) if not match.num_classes else "avg"
    config = {"architecture": match.network.model, "num_classes": match.num_classes,
              "num_features": _features(model), "global_pool": pool,
              "pretrained_cfg": {"input_size": [channels, height, width], "fixed_input_size": False,
                                 **DEFAULT_VIEW, "crop_mode": "center", "mean": norm.mean, "std": norm.std,
                                 "num_classes": match.num_classes, "first_conv": first_conv,
                                 "classifier": classifier}}
    if labels:
        config["label_names"] = labels
    return config


def _features(model: keras.Model) -> int:
    """The width of the vector the classifier reads: the last layer's input (a classifier) or output."""
    last = model.layers[-1]
    shape = last.input.shape if isinstance(last, keras.layers.Dense) else last.output.shape
    return int(shape[-1])
