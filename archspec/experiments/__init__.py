"""Experiments that reproduce the papers' observations on small data (`archspec reproduce`, `archspec gradients`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import replacing
from ..data import Data
from ..loader import load_spec
from ..schema import ModelSpec

FOLDER_SIZE = 32  # input size for image folders, whose images have no one size


def fitted(source: str | ModelSpec, data: Data, input_size: int | None = None, **fields: Any) -> ModelSpec:
    """``source`` resized to the data: its image size (or ``input_size``), channels and classes."""
    height, width, channels = data.shape or (FOLDER_SIZE, FOLDER_SIZE, 3)
    if input_size:
        height = width = input_size
    return load_spec(load_spec(source), overrides={
        "input_shape": (height, width, channels), "num_classes": data.num_classes, **fields})


def pyplot() -> Any:
    """matplotlib.pyplot drawing to files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    pyplot().close(fig)
