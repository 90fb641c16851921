"""GroupedConv2D computes exactly what Conv2D(groups=g) computes, forward and backward, on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from archspec import build_model, load_spec
from archspec.keras.layers import GroupedConv2D

pytestmark = pytest.mark.backend_neutral  # CI runs these on every Keras backend


def _numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("groups,stride,padding", [(4, 1, "same"), (8, 2, "same"), (2, 2, "valid")])
def test_outputs_and_gradients_equal_keras_grouped_conv(groups, stride, padding):
    """Outputs, then the weights after one SGD step (so the gradients, the input's included: a 1x1
    conv before it learns from the gradient the grouped conv passes back)."""
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 16)).astype("float32")

    def model(conv: type) -> keras.Model:
        inputs = keras.Input((9, 9, 16))
        hidden = keras.layers.Conv2D(16, 1, kernel_initializer="glorot_uniform")(inputs)
        return keras.Model(inputs, conv(32, 3, strides=stride, padding=padding, groups=groups)(hidden))

    ours, theirs = model(GroupedConv2D), model(keras.layers.Conv2D)
    assert isinstance(ours.layers[-1], GroupedConv2D) and not isinstance(theirs.layers[-1], GroupedConv2D)
    theirs.set_weights(ours.get_weights())  # same kernel layout: weights move unchanged
    np.testing.assert_allclose(_numpy(ours(x)), _numpy(theirs(x)), rtol=1e-4, atol=1e-4)
    target = np.zeros(ours.output_shape[1:], "float32")[None].repeat(2, axis=0)
    for m in (ours, theirs):
        m.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        m.train_on_batch(x, target)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_grouped_specs_use_it_and_it_round_trips(tmp_path):
    model = build_model(load_spec("resnext29_8x64d", overrides={"input_shape": (8, 8, 3)}))
    grouped = [layer for layer in model.layers if isinstance(layer, GroupedConv2D)]
    assert len(grouped) == 9 and all(layer.groups == 8 for layer in grouped)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(2).normal(size=(1, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(_numpy(model(x, training=False)), _numpy(loaded(x, training=False)))
