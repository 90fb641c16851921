"""Portable .keras files: what archspec writes loads in plain Keras, in a process without archspec, and computes
the same function; layers without a built-in form are named."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from archspec import build_model
from archspec.graph.load import load_spec
from archspec.keras import layers
from archspec.keras.export import portability
from archspec.keras.model_io import custom_layers, load_model, save_model
from archspec.keras.outside import outputs_without_archspec
from archspec.keras.portable import portable

from .helpers import numpy

TOLERANCE = 1e-6  # probabilities, as the issue asks


def _small(name: str, size: int) -> keras.Model:
    """A zoo entry at ``size`` pixels with weights moved off their initial values (zero-init gammas, alphas)."""
    model = build_model(load_spec(load_spec(name), overrides={"input_shape": [size, size, 3]}))
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) if w.ndim else w + 0.3
                       for w in model.get_weights()])
    return model


def _saved(names: dict[str, int], folder) -> dict:
    """Each entry built small, saved by archspec's writer, with its outputs on random pixel values."""
    saved = {}
    for name, size in names.items():
        model = _small(name, size)
        x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
        save_model(model, folder / f"{name}.keras")
        saved[folder / f"{name}.keras"] = (model, x, numpy(model(x, training=False)))
    return saved


PORTABLE = {  # family: an entry whose every layer has a built-in form
    "resnet stem (-inf padding after a ReLU)": "resnet18", "option-A shortcut (ChannelPad)": "cifar_resnet20",
    "densenet": "densenet_bc_100_k12", "dpn (ChannelSlice)": "dpn68",
    "regnet": "regnety_002", "eca (ChannelConv)": "ecaresnet26t", "se, resnext (GroupedConv2D)": "seresnext26d_32x4d",
    "preact": "preact_resnet18", "wide": "wrn_16_8", "vgg": "cifar_vgg11", "highway (HighwayMerge)":
    "cifar_highway_resnet56", "stochastic depth (DropPath)": "cifar_resnet110_stochastic_depth",
    "res2net": "res2net50_26w_4s",
}


@pytest.mark.slow
def test_every_family_loads_in_plain_keras_without_archspec(tmp_path):
    saved = _saved({name: 32 for name in PORTABLE.values()}, tmp_path)
    outside = outputs_without_archspec({path: x for path, (_, x, _) in saved.items()})
    for path, (model, x, expected) in saved.items():
        assert custom_layers(path) == {} and portability(path) is None, path
        assert np.max(np.abs(outside[path]["output"] - expected)) <= TOLERANCE, path
        again = load_model(path)  # archspec's loader reads the same file, with the same outputs
        np.testing.assert_allclose(numpy(again(x, training=False)), expected, atol=TOLERANCE)


STAYS_CUSTOM = {  # entry: the archspec layers its file keeps, which have no built-in Keras form yet
    "skresnet18": {"RadixSelect"}, "resnest50d": {"RadixSelect"}, "cbam_resnet50": {"ChannelPool"},
    "gcresnet50t": {"AttentionPool"}, "botnet26t_256": {"RelativeSelfAttention"},
    "lambda_resnet26t": {"LambdaAttention"}, "cifar_weighted_resnet110": {"WeightedAdd"},
}


@pytest.mark.slow
def test_a_file_that_needs_archspec_names_its_layer_and_still_loads_in_archspec(tmp_path):
    saved = _saved({name: 64 for name in STAYS_CUSTOM}, tmp_path)  # halonet26t needs 256 pixels: too big here
    for path, (_, x, expected) in saved.items():
        assert set(custom_layers(path).values()) == STAYS_CUSTOM[path.stem], path
        note = portability(path)
        assert "\n" not in note and next(iter(STAYS_CUSTOM[path.stem])) in note and "savedmodel or onnx" in note
        again = load_model(path)  # its grouped convs back as GroupedConv2D, as they were built
        assert not any(type(layer) is keras.layers.Conv2D and layer.groups > 1 for layer in again.layers)
        np.testing.assert_allclose(numpy(again(x, training=False)), expected, atol=TOLERANCE, err_msg=path)


@pytest.mark.parametrize("preset", [
    {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},  # torchvision's
    {"scale": 1.0, "mean": [103.939, 116.779, 123.68], "std": [1.0], "reverse_channels": True},  # caffe's
    {"scale": 1 / 127.5, "mean": [1.0], "std": [1.0]},  # tf's, to -1..1
    {"scale": 1 / 255, "mean": [0.5], "std": [0.5]},
])
def test_input_normalization_is_written_as_normalization_layers_that_compute_it_bit_for_bit(preset):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, layers.InputNormalization(**preset, name="pre")(inputs))
    written = portable(model)
    assert not any(isinstance(layer, layers.InputNormalization) for layer in written.layers)
    x = np.random.default_rng(0).uniform(0, 255, (8, 4, 4, 3)).astype(np.float32)
    x[0, 0, 0] = [0, 255, 128]
    np.testing.assert_array_equal(numpy(written(x)), numpy(model(x)))


LAYERS = {  # custom layer: how to build it and its inputs' shapes (None: any height and width), as the builder uses it
    "WeightedAdd": (lambda: layers.WeightedAdd(0.0), [(None, None, 8), (None, None, 8)]),
    "ChannelPool": (layers.ChannelPool, [(None, None, 16)]),
    "AttentionPool": (layers.AttentionPool, [(None, None, 16), (None, None, 1)]),
    "RadixSelect radix 2": (lambda: layers.RadixSelect(2, 2), [(None, None, 16), (1, 1, 16)]),
    "RadixSelect radix 4": (lambda: layers.RadixSelect(4, 1), [(None, None, 32), (1, 1, 32)]),
    "RadixSelect radix 1": (lambda: layers.RadixSelect(1, 1), [(None, None, 8), (1, 1, 8)]),
}


@pytest.mark.parametrize("kind", LAYERS)
def test_each_custom_layer_is_written_as_built_in_layers_that_compute_it(kind):
    make, shapes = LAYERS[kind]
    inputs = [keras.Input(shape) for shape in shapes]
    model = keras.Model(inputs, make()(inputs if len(inputs) > 1 else inputs[0]))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()])
    written = portable(model)
    assert not any(layer.__module__.startswith("archspec") for layer in written.layers), kind
    for size in (5, 8):  # any height and width
        x = [rng.normal(0, 3, (4, *(size if d is None else d for d in shape))).astype(np.float32) for shape in shapes]
        difference = np.max(np.abs(numpy(written(x)) - numpy(model(x))))
        assert difference <= TOLERANCE, (kind, difference)
