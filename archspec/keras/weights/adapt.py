"""What a pretrained file may differ in from the model it fills, as timm's ``create_model(name,
pretrained=True, num_classes=N, in_chans=C)`` allows: the head (a new task's classifier, or hidden layers of
other sizes, start fresh) and the first convolution's input channels (adapted from the file's). Everything
else must fit exactly, whatever the file's format.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..layers import planned_layers


def is_head(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` belongs to the head: archspec's dense layers all do (the classifier, VGG's hidden
    layers); attention modules use 1x1 convolutions."""
    return isinstance(layer, keras.layers.Dense)


def first_conv(model: keras.Model) -> keras.layers.Layer | None:
    """The convolution that reads the image: the first one in the model, which every stem opens with."""
    return next((layer for layer in planned_layers(model) if isinstance(layer, keras.layers.Conv2D)), None)


def adapt_channels(kernel: np.ndarray, channels: int, axis: int) -> np.ndarray:
    """A first conv's kernel trained on ``kernel.shape[axis]`` input channels, for ``channels``: one channel
    takes their sum; more are the trained ones repeated in turn and scaled by trained / channels, so a grey
    image repeated over the channels gives the trained response (timm's ``adapt_input_conv``)."""
    trained = kernel.shape[axis]
    if channels == trained:
        return kernel
    if channels == 1:
        return kernel.sum(axis=axis, keepdims=True)
    repeated = np.take(kernel, [i % trained for i in range(channels)], axis=axis)
    return (repeated * (trained / channels)).astype(kernel.dtype)


@dataclass(frozen=True)
class Adapted:
    """How a file was made to fit: head layers left at initialisation, the stem's channels adapted."""

    fresh: tuple[str, ...] = ()  # head layers whose weights the file did not fit (or a new task's classifier)
    reason: str = ""  # why they are fresh
    stem: str = ""  # "conv1_conv from 3 to 1 input channels"

    def describe(self) -> str:
        """One clause per change, for the line that says what was loaded; "" when the file fit as it is."""
        parts = []
        if self.fresh:
            parts.append(f"{', '.join(self.fresh)} left at initialisation ({self.reason})")
        if self.stem:
            parts.append(f"the stem's {self.stem} (summed over them for one channel, repeated and rescaled for "
                         f"more, as timm adapts it)")
        return "; ".join(parts)


def stem_note(layer: keras.layers.Layer, trained: int) -> str:
    """The clause for a first conv adapted from ``trained`` input channels; "" when it needed no change."""
    channels = layer.weights[0].shape[2]
    return f"{layer.name} adapted from {trained} to {channels} input channels" if trained != channels else ""


def head_reason(file_classes: int | None, model_classes: int) -> str:
    """Why head layers start fresh: the file's classifier (its class count; None: it has none) against the model's."""
    if file_classes is None:
        return "the file holds no head for them"
    if file_classes != model_classes:
        return f"the file's classifier has {file_classes} classes, the model's {model_classes}"
    return "the file's head layers are of other sizes"
