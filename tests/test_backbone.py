"""Backbones: ``build_model(spec, features=True)`` and ``archspec build --features``."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from archspec import build_model, complexity, load_model, load_spec
from archspec.cli import main
from archspec.keras.stats import model_stats
from archspec.spec.errors import SpecError

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")


def _small(name: str, size: int = 64):
    return load_spec(name, overrides={"input_shape": (size, size, 3)})


def test_pyramid_keys_are_strides_as_keras_hub_names_them():
    outputs = build_model(_small("resnet50"), features=True).output
    shapes = {key: tuple(tensor.shape[1:]) for key, tensor in outputs.items()}
    assert shapes == {"P1": (32, 32, 64), "P2": (16, 16, 256), "P3": (8, 8, 512), "P4": (4, 4, 1024),
                      "P5": (2, 2, 2048)}


@pytest.mark.parametrize("name, last", [("resnet18", "conv5_block2_out"), ("densenet121", "post_relu"),
                                        ("preact_resnet18", "post_relu"), ("vgg11", "head_pool"),
                                        ("dpn68", "post_relu"), ("cifar_resnet20", "conv4_block3_out")])
def test_backbone_maps_are_the_classifiers_own(name, last):
    """Any spec: each output is the classifier's layer of that name, with the same weights."""
    size = 32 if name.startswith("cifar") else 64
    spec = _small(name, size)
    full = build_model(spec, seed=0)
    backbone = build_model(spec, features=True, weights_from=full)
    x = PIXELS[:, :size, :size]
    outputs = backbone(x)
    deepest = max(outputs, key=lambda k: int(k[1:]))
    assert backbone.get_layer(last).output is backbone.output[deepest]
    probe = keras.Model(full.input, full.get_layer(last).output)
    np.testing.assert_allclose(outputs[deepest], probe(x), rtol=1e-6, atol=1e-6)
    assert not any(layer.name == "predictions" for layer in backbone.layers)


def test_backbone_figures_are_the_classifiers_less_its_head():
    spec = _small("resnet50")
    backbone, full = complexity(spec, features=True), complexity(spec)
    assert full.params - backbone.params == 2048 * 1000 + 1000
    built = model_stats(build_model(spec, features=True))
    assert (built.params, built.total_params, built.macs, built.layers) == (
        backbone.params, backbone.total_params, backbone.macs, backbone.layers)


def test_pooled_backbone_is_keras_applications_include_top_false():
    """keras_resnet50 with features and avg pooling is keras.applications.ResNet50(include_top=False,
    pooling='avg'): same weighted layers, same outputs on its own preprocessing."""
    ours = build_model(_small("keras_resnet50"), features=True, pooling="avg")
    theirs = keras.applications.ResNet50(include_top=False, pooling="avg", weights=None, input_shape=(64, 64, 3))
    assert [layer.name for layer in ours.layers if layer.weights] == [
        layer.name for layer in theirs.layers if layer.weights]
    for layer in ours.layers:
        if layer.weights:
            layer.set_weights(theirs.get_layer(layer.name).get_weights())
    assert ours.count_params() == theirs.count_params()
    expected = theirs(keras.applications.resnet.preprocess_input(PIXELS.copy()))
    np.testing.assert_allclose(ours(PIXELS), expected, rtol=1e-4, atol=1e-4)


def test_backbone_loads_a_classifiers_weights_file_and_saves(tmp_path):
    """A full model's weights file fills the backbone; its head is simply not used."""
    spec = _small("resnet18")
    full = build_model(spec, seed=0)
    full.save(tmp_path / "full.keras")
    backbone = build_model(spec, features=True, pooling="max", weights=tmp_path / "full.keras")
    probe = keras.Model(full.input, full.get_layer("conv5_block2_out").output)
    np.testing.assert_allclose(backbone(PIXELS), np.max(probe(PIXELS), axis=(1, 2)), rtol=1e-6)
    pyramid = build_model(spec, features=True, weights=tmp_path / "full.keras")
    pyramid.save(tmp_path / "backbone.keras")
    loaded = load_model(tmp_path / "backbone.keras")
    for key, value in pyramid(PIXELS).items():
        np.testing.assert_array_equal(loaded(PIXELS)[key], value)


def test_pooling_needs_features():
    with pytest.raises(SpecError, match="pass features=True"):
        build_model(_small("resnet18"), pooling="avg")


def test_cli_build_features_reports_the_backbone(tmp_path):
    result = CliRunner().invoke(main, ["build", "resnet18", "--input-size", "64", "--features", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["params"] == complexity("resnet18", features=True).params
    assert report["outputs"]["P5"] == [2, 2, 512] and report["num_classes"] is None
    result = CliRunner().invoke(main, ["build", "resnet18", "--pooling", "avg"])
    assert result.exit_code == 2 and "add --features" in result.output
