"""Params and MACs measured on a built Keras model, independently of the plan that built it.

Tests compare these with ``archspec.complexity``; ``build --json`` and benchmarks
report them, and they work on any Keras model (keras.applications included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class ModelStats:
    params: int
    total_params: int
    macs: int
    layers: int


def _layer_macs(layer: keras.layers.Layer) -> int:
    if isinstance(layer, keras.layers.Conv2D):  # Conv2D and its subclasses
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        _, h, w, cout = layer.output.shape
        return h * w * cout * kh * kw * cin // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return int(math.prod(layer.kernel.shape))
    return 0


def model_stats(model: keras.Model) -> ModelStats:
    return ModelStats(
        params=sum(int(math.prod(w.shape)) for w in model.trainable_weights),
        total_params=model.count_params(),
        macs=sum(_layer_macs(layer) for layer in model.layers),
        layers=len(model.layers),
    )
