"""The registry networks archspec writes files for: each sourced zoo entry's state dict as the library's own
model has it (names, shapes, ``num_batches_tracked`` counters included), read from that model by
``scripts/torch_reference.py registry`` into ``archspec/zoo/source_tensors.json.gz`` with the library
versions it came from.

A state dict that equals an entry's, name for name and shape for shape, is one that library's builder
loads with ``strict=True``; the classifier may differ in its class count (``num_classes=N``) or be absent
(``num_classes=0``, timm's headless model). No PyTorch and no Keras here.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass

from ...spec.zoo import ZOO_DIR

Shapes = dict[str, tuple[int, ...]]
COUNTER = "num_batches_tracked"
REGISTRY_FILE = ZOO_DIR / "source_tensors.json.gz"


@dataclass(frozen=True)
class RegistryNetwork:
    """One library model: the zoo entry that is it, the library, its name there and its state dict's shapes."""

    entry: str
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


def fit(shapes: Shapes, network: RegistryNetwork, head: tuple[str, ...]) -> Match | str:
    """Whether a state dict of these shapes loads into ``network`` (built with the returned ``num_classes``):
    the match, or the first difference in words. ``head`` names the classifier's modules."""

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
            return f"{network.model} has tensor {name!r} {list(shape)}, the model has none of that name"
        if shapes[name] != shape and not (in_head(name) and shapes[name][1:] == shape[1:]):
            return f"tensor {name!r} is {list(shapes[name])} in the model, {list(shape)} in {network.model}"
    extra = next((name for name in shapes if name not in theirs), None)
    if extra is not None:
        return f"the model has tensor {extra!r} {list(shapes[extra])}, which {network.model} lacks"
    ours = classes(ours_head)
    return Match(network, ours, ours != classes({name: shape for name, shape in theirs.items() if in_head(name)}))


def similarity(shapes: Shapes, network: RegistryNetwork) -> float:
    """The share of tensors (by name and shape) two state dicts have in common, counters aside."""
    ours = {(name, shape) for name, shape in shapes.items() if not name.endswith(COUNTER)}
    theirs = {(name, shape) for name, shape in network.tensors.items() if not name.endswith(COUNTER)}
    return len(ours & theirs) / max(1, len(ours | theirs))
