"""GroupedConv2D computes exactly what Conv2D(groups=g) computes, forward and backward."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from archspec import build_model, load_spec
from archspec.keras.layers import GroupedConv2D


@pytest.mark.parametrize("groups,stride,padding", [(4, 1, "same"), (8, 2, "same"), (2, 2, "valid")])
def test_outputs_and_gradients_equal_keras_grouped_conv(groups, stride, padding):
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 9, 9, 16)).astype("float32"))
    ours = GroupedConv2D(32, 3, strides=stride, padding=padding, groups=groups)
    theirs = keras.layers.Conv2D(32, 3, strides=stride, padding=padding, groups=groups)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())  # same kernel layout: weights move unchanged

    def outputs_and_grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]

    for a, b in zip(outputs_and_grads(ours), outputs_and_grads(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_grouped_specs_use_it_and_it_round_trips(tmp_path):
    model = build_model(load_spec("resnext29_8x64d", overrides={"input_shape": (8, 8, 3)}))
    grouped = [layer for layer in model.layers if isinstance(layer, GroupedConv2D)]
    assert len(grouped) == 9 and all(layer.groups == 8 for layer in grouped)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(2).normal(size=(1, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))
