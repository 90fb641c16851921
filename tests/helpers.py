"""Shared test helpers: zoo parametrisation and figure comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archspec.spec.zoo import zoo_paths

SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published.yaml"

# Entries whose Keras build takes long on 2 cores (many layers or >60M weights to initialise).
HEAVY = {
    "cifar_preact_resnet1001",
    "cifar_resnet1202",
    "cifar_weighted_resnet1202",
    "keras_resnet152",
    "keras_resnet152v2",
    "preact_resnet152",
    "resnet152",
    "resnext101_32x8d",
    "resnext29_16x64d",
    "wide_resnet101_2",
}


def zoo_params(predicate=lambda name: True, slow=frozenset()):
    """pytest params over zoo names, heavy ones (and ``slow``) marked slow."""
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in HEAVY | set(slow) else name
        for name in zoo_paths() if predicate(name)
    ]


def shared_reference() -> dict:
    if not SHARED_REFERENCE.exists():
        pytest.skip(f"{SHARED_REFERENCE} is not beside this checkout")
    return yaml.safe_load(SHARED_REFERENCE.read_text())
