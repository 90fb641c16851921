"""The registry networks archspec writes files for: each sourced zoo entry's state dict as the library's own
model has it (names, shapes, ``num_batches_tracked`` counters included), read from that model by
``scripts/torch_reference.py registry`` into ``archspec/zoo/source_tensors.json.gz`` with the library
versions it came from.

A state dict that equals an entry's, name for name and shape for shape, is one that library's builder
loads with ``strict=True``; the classifier may differ in its class count (``num_classes=N``) or be absent
(``num_classes=0``, timm's headless model). No PyTorch and no Keras here.

The census (``archspec/zoo/registry_census.json.gz``, written by ``scripts/torch_reference.py census``) holds
every residual-family architecture of timm's and torchvision's registries, in the zoo or not: ``identify``
names the ones a checkpoint's tensors fit.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
from dataclasses import dataclass

from ...spec.zoo import ZOO_DIR

Shapes = dict[str, tuple[int, ...]]
COUNTER = "num_batches_tracked"
REGISTRY_FILE = ZOO_DIR / "source_tensors.json.gz"
CENSUS_FILE = ZOO_DIR / "registry_census.json.gz"


@dataclass(frozen=True)
class RegistryNetwork:
    """One library model: the zoo entry that is it (None: one the zoo lacks), the library, its name there and
    its state dict's shapes."""

    entry: str | None
    library: str
    model: str
    tensors: Shapes


@dataclass(frozen=True)
class Match:
    """A registry network a state dict fits, and the ``num_classes`` to build it with (0: headless)."""

    network: RegistryNetwork
    num_classes: int
    changed_head: bool  # the class count differs from the registry model's own


@functools.cache
def registry() -> tuple[RegistryNetwork, ...]:
    """The registry network of every zoo entry whose source is torchvision or timm, and again under timm for
    the torchvision networks timm has under the same name (the same tensors and outputs, checked by the script)."""
    with gzip.open(REGISTRY_FILE, "rt", encoding="utf-8") as file:
        entries = json.load(file)["entries"]
    return tuple(RegistryNetwork(entry, library, record["model"],
                                 {name: tuple(shape) for name, shape in record["tensors"].items()})
                 for entry, record in entries.items() for library in (record["library"], *record["also"]))


def fit(shapes: Shapes, network: RegistryNetwork, head: tuple[str, ...], holder: str = "the model") -> Match | str:
    """Whether a state dict of these shapes loads into ``network`` (built with the returned ``num_classes``):
    the match, or the first difference in words, where ``holder`` has the state dict. ``head`` names the
    classifier's modules."""

    def in_head(name: str) -> bool:
        return any(name.startswith(module + ".") for module in head)

    def classes(head_shapes: Shapes) -> int:  # the last layer of the head (VGG's has three) gives the classes
        return next((shape[0] for name, shape in reversed(head_shapes.items()) if name.endswith(".weight")), 0)

    theirs = network.tensors
    ours_head = {name: shape for name, shape in shapes.items() if in_head(name)}
    for name, shape in theirs.items():
        if name not in shapes:
            if in_head(name) and not ours_head:
                continue  # a headless model: timm's num_classes=0 drops these too
            return f"{network.model} has tensor {name!r} {list(shape)}, {holder} has none of that name"
        if shapes[name] != shape and not (in_head(name) and shapes[name][1:] == shape[1:]):
            return f"tensor {name!r} is {list(shapes[name])} in {holder}, {list(shape)} in {network.model}"
    extra = next((name for name in shapes if name not in theirs), None)
    if extra is not None:
        return f"{holder} has tensor {extra!r} {list(shapes[extra])}, which {network.model} lacks"
    ours = classes(ours_head)
    return Match(network, ours, ours != classes({name: shape for name, shape in theirs.items() if in_head(name)}))


def similarity(shapes: Shapes, network: RegistryNetwork) -> float:
    """The share of tensors (by name and shape) two state dicts have in common, counters aside."""
    ours = {(name, shape) for name, shape in shapes.items() if not name.endswith(COUNTER)}
    theirs = {(name, shape) for name, shape in network.tensors.items() if not name.endswith(COUNTER)}
    return len(ours & theirs) / max(1, len(ours | theirs))


@dataclass(frozen=True)
class CensusNetwork(RegistryNetwork):
    """A registry network of the census: also its library module, parameter count and published weight tags."""

    module: str
    params: int
    weights: tuple[str, ...]


@functools.cache
def _census_file() -> dict:
    with gzip.open(CENSUS_FILE, "rt", encoding="utf-8") as file:
        return json.load(file)


@functools.cache
def census() -> tuple[CensusNetwork, ...]:
    """Every network of the census, timm's then torchvision's, each with the zoo entry that is it, if any."""
    entries = {(n.library, n.model): n.entry for n in registry()}
    return tuple(CensusNetwork(entries.get((r["library"], r["model"])), r["library"], r["model"],
                               {name: tuple(shape) for name, shape in r["tensors"].items()},
                               r["module"], r["params"], tuple(r["weights"]))
                 for r in _census_file()["networks"])


def census_about() -> dict:
    """The torch, torchvision and timm versions the census was read from, and the modules (timm's) and name
    prefixes (torchvision's) whose every network it holds (``registries``)."""
    return {key: _census_file()[key] for key in ("torch", "torchvision", "timm", "registries")}


def head_of(tensors: Shapes) -> tuple[str, ...]:
    """The classifier's module: the one holding the last weight (``fc``, ``head.fc``, ``classifier``)."""
    last = next((name for name in reversed(tensors) if name.endswith(".weight")), None)
    return (last.rsplit(".", 1)[0],) if last else ()


@dataclass(frozen=True)
class Nearest:
    """The census network closest to a state dict that fits none: the share of its tensor names the file has,
    of its tensors (name and shape) the file has, and the first difference in words."""

    network: CensusNetwork
    names: float
    shapes: float
    difference: str


@dataclass(frozen=True)
class Identified:
    """The census networks a state dict fits (with the ``num_classes`` to build each), or else the nearest."""

    matches: tuple[Match, ...]
    nearest: Nearest | None


def identify(shapes: Shapes) -> Identified:
    """Which registry networks a state dict of these shapes loads into, the zoo's first; else the nearest, by
    tensor names (the architecture) and then shapes (the widths). Batch-norm counters count on neither side:
    safetensors files and old checkpoints lack them."""
    shapes = _counted_out(shapes)
    matches, nearest = [], None
    for network, bare in _census_without_counters():
        result = fit(shapes, bare, head_of(bare.tensors), "the file")
        if isinstance(result, Match):
            matches.append(Match(network, result.num_classes, result.changed_head))
        elif not matches:
            names = len(shapes.keys() & bare.tensors.keys()) / max(1, len(shapes.keys() | bare.tensors.keys()))
            candidate = Nearest(network, names, similarity(shapes, bare), result)
            if nearest is None or (names, candidate.shapes) > (nearest.names, nearest.shapes):
                nearest = candidate
    own = {}  # each zoo entry's own source, before the library that has the same network under the same name
    for network in registry():
        own.setdefault(network.entry, network.library)
    matches.sort(key=lambda m: (m.network.entry is None, own.get(m.network.entry) != m.network.library))
    return Identified(tuple(matches), None if matches else nearest)


@functools.cache
def _census_without_counters() -> tuple[tuple[CensusNetwork, CensusNetwork], ...]:
    return tuple((n, dataclasses.replace(n, tensors=_counted_out(n.tensors))) for n in census())


def _counted_out(shapes: Shapes) -> Shapes:
    return {name: shape for name, shape in shapes.items() if not name.endswith(COUNTER)}
