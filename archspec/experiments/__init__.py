"""The papers' experiments on small data (`archspec reproduce`, `archspec gradients`, `archspec paths
--measure`): each trains with `archspec.train` and writes its CSV and plot. Uses every layer below it."""

from __future__ import annotations

from typing import Any

from ..graph.load import load_spec
from ..spec.schema import ModelSpec
from ..train.data import Data

FOLDER_SIZE = 32  # input size for image folders, whose images have no one size


def fitted(source: str | ModelSpec, data: Data, input_size: int | None = None, **fields: Any) -> ModelSpec:
    """``source`` resized to the data: its image size (or ``input_size``), channels and classes."""
    height, width, channels = data.shape or (FOLDER_SIZE, FOLDER_SIZE, 3)
    if input_size:
        height = width = input_size
    return load_spec(load_spec(source), overrides={
        "input_shape": (height, width, channels), "num_classes": data.num_classes, **fields})
