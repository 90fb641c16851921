"""The papers' experiments on small data (`archspec reproduce`, `archspec gradients`, `archspec paths
--measure`): each trains with `archspec.train` and writes its CSV and plot. Uses every layer below it."""

from __future__ import annotations

from typing import Any

from ..graph.load import load_spec
from ..spec.schema import ModelSpec
from ..train.data import Data


def fitted(source: str | ModelSpec, data: Data, input_size: int | None = None, **fields: Any) -> ModelSpec:
    """``source`` resized to the data: its image size (or ``input_size``), channels and classes. Image
    files have no one size: they are decoded at the spec's own (ResNet-34's 224, a CIFAR net's 32)."""
    spec = load_spec(source)
    height, width, channels = data.shape or spec.input_shape
    if input_size:
        height = width = input_size
    return load_spec(spec, overrides={
        "input_shape": (height, width, channels), "num_classes": data.num_classes, **fields})
