"""Analytic parameters and MACs of a spec, from its planned graph alone (no TensorFlow).

Conventions (those of the papers, torchvision and timm): ``params`` counts
trainable weights, ``total_params`` adds batch-norm moving statistics (Keras's
``count_params()``), and MACs count the multiply-accumulates of conv and dense
layers for one image at the spec's input size (ECA's channel conv and global context's attention-weighted
sum included; the gates' elementwise products, norms and pools are not counted, as the papers count). ``activations`` counts the values every
layer outputs for one image (4 bytes each in float32): the memory a forward pass may hold
(memory-efficient dense stages hold less), which the size guards (``archspec.graph.guards``) check
before anything is built.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from ..spec.errors import SpecError
from ..spec.schema import ModelSpec
from .ir import Graph
from .plan import plan


@dataclass(frozen=True)
class Part:
    """The figures of one scope: ``stem``, ``stage1`` ... or ``head``."""

    scope: str
    params: int
    total_params: int
    macs: int
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class Complexity:
    params: int
    total_params: int
    macs: int
    layers: int  # Keras layers, the input layer included
    depth: int  # weighted layers on the main path (the "50" of ResNet-50)
    activations: int  # output values of every layer, the input included, for one image
    parts: tuple[Part, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def graph_complexity(graph: Graph) -> Complexity:
    scopes: dict[str, list] = {}
    for node in graph.nodes:
        if node.scope == "input":  # the input and its normalisation: no weights, no stage
            continue
        figures = scopes.setdefault(node.scope, [0, 0, 0, node.shape])
        figures[0] += node.params
        figures[1] += node.params + node.state
        figures[2] += node.macs
        figures[3] = node.shape
    parts = tuple(Part(scope, *figures) for scope, figures in scopes.items())
    return Complexity(
        params=sum(p.params for p in parts),
        total_params=sum(p.total_params for p in parts),
        macs=sum(p.macs for p in parts),
        layers=sum(1 for n in graph.nodes if not n.attrs.get("shares")),  # a shared layer is one Keras layer
        depth=sum(1 for n in graph.nodes if n.op in ("conv", "dense") and n.branch == "main"),
        activations=sum(math.prod(n.shape) for n in graph.nodes),
        parts=parts,
    )


def complexity(spec: ModelSpec, features: bool = False, pooling: Literal["avg", "max"] | None = None) -> Complexity:
    """The whole classifier's figures, or with ``features`` (and ``pooling``) its backbone's (see ``plan``).
    MACs and activations depend on the image size, so a network that takes any size needs one."""
    if spec.any_size:
        raise SpecError(f"{spec.name} takes images of any size (input_shape [null, null, {spec.input_shape[2]}]), "
                        f"and its MACs and activations depend on the size: give one (complexity(spec, input_size=N); "
                        f"--input-size N on the command line)")
    return graph_complexity(plan(spec, features=features, pooling=pooling))
