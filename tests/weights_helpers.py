"""What the weight tests share: the committed fixtures (written by scripts/torch_reference.py from
torchvision's and timm's own classes) and the input convention of the model they are compared with."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from archspec.graph.load import load_spec
from archspec.keras.build import build_model

FIXTURES = Path(__file__).parent / "fixtures" / "weights"
SCRIPT = Path(__file__).parents[1] / "scripts" / "torch_reference.py"
# An interpreter with torch, torchvision and timm: this one where they are importable, else ARCHSPEC_TORCH_PYTHON's
# (archspec's own environment never needs them); None skips the tests that compare with the libraries' own models.
TORCH_PYTHON = os.environ.get("ARCHSPEC_TORCH_PYTHON") or (
    sys.executable if all(importlib.util.find_spec(m) for m in ("torch", "torchvision", "timm")) else None)


def build_for_source(spec, **kwargs):
    """A fixture's narrow spec built to take 0..255 pixels and normalise them as torchvision does, which
    is how scripts/torch_reference.py feeds the source model."""
    return build_model(load_spec(spec, overrides={"preprocess": "imagenet"}), **kwargs)
