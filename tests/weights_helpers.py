"""What the weight tests share: the committed fixtures (written by scripts/torch_reference.py from
torchvision's and timm's own classes) and the input convention of the model they are compared with."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np

from archspec.graph.load import load_spec
from archspec.keras.build import build_model
from archspec.spec.schema import ModelSpec, Padding

FIXTURES = Path(__file__).parent / "fixtures" / "weights"
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
# Until the spec's `preprocess` field (issue 16, bullet 4) is merged, models take what the source takes:
# images normalised outside. With it, they take 0..255 pixels and normalise inside.
HAS_PREPROCESS = "preprocess" in ModelSpec.model_fields
# Issue 16's bullet 1 makes the torchvision/timm forms faithful (PyTorch's padding, ResNet-D's projection
# norm); its padding mode 'symmetric' marks a checkout that has it. Until then those parity tests xfail.
HAS_FAITHFUL_FUNCTIONS = "symmetric" in get_args(Padding)


def build_for_source(spec, **kwargs):
    """``spec`` built to take what the source model takes, torchvision's ImageNet normalisation."""
    overrides = {"preprocess": "imagenet"} if HAS_PREPROCESS else {}
    return build_model(load_spec(spec, overrides=overrides) if overrides else spec, **kwargs)


def model_input(images: np.ndarray) -> np.ndarray:
    """0..255 images as the model built by ``build_for_source`` takes them."""
    images = images.astype(np.float32)
    return images if HAS_PREPROCESS else ((images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)
