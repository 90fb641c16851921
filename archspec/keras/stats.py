"""Params and MACs measured on a built Keras model, independently of the plan that built it.

Tests compare these with ``archspec.graph.complexity``; ``build --json`` and benchmarks
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
    macs: int | None  # None for a model that takes images of any size
    layers: int


def _layer_macs(layer: keras.layers.Layer, input_shape: tuple) -> int:
    """MACs of one layer applied to ``input_shape``; recompute groups count their members, and layers
    that say their own (archspec's ``ChannelConv``, ``AttentionPool``) are asked."""
    if hasattr(layer, "macs"):
        return layer.macs(input_shape)
    if isinstance(layer, keras.layers.Conv2D):  # Conv2D and its subclasses
        kh, kw = layer.kernel_size
        _, h, w, cout = layer.compute_output_shape(input_shape)
        return h * w * cout * kh * kw * input_shape[-1] // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return int(math.prod(layer.kernel.shape))
    return sum(_layer_macs(member, shape) for member, shape in layer.members(input_shape)) if hasattr(
        layer, "members") else 0


def _calls(layer: keras.layers.Layer) -> int:
    """How often the model applies the layer: more than once where it is shared (CBAM's MLP)."""
    return max(1, len(getattr(layer, "_inbound_nodes", ())))


def _input_shape(layer: keras.layers.Layer) -> tuple | list:
    inputs = layer.input
    return [t.shape for t in inputs] if isinstance(inputs, list) else inputs.shape


def model_stats(model: keras.Model) -> ModelStats:
    sized = None not in model.input_shape[1:]
    return ModelStats(
        params=sum(int(math.prod(w.shape)) for w in model.trainable_weights),
        total_params=model.count_params(),
        macs=sum(_layer_macs(layer, _input_shape(layer)) * _calls(layer) for layer in model.layers[1:])
        if sized else None,
        layers=len(model.layers),
    )
