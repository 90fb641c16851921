"""Custom Keras layers, registered so built models save and load with ``safe_mode=True``.

Built models contain no Lambda layers: anything Keras lacks is a small
registered layer here with a complete ``get_config``.
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "archspec"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelPad(keras.layers.Layer):
    """Appends zero channels up to ``channels`` (shortcut option A of He et al. 2015)."""

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, x):
        extra = self.channels - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels}
