"""Built Keras models equal their analytic figures, and keras_* entries equal keras.applications."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from archspec import build_model, complexity, load_spec
from archspec.keras.stats import model_stats

from .helpers import VARIANTS, numpy, small_size, smallest_of_each_family, zoo_params


def _small(name: str):
    """The entry at a small input where it plans at one: counts are compared at any size, building is faster."""
    spec = load_spec(name)
    size = 32 if spec.input_shape[0] <= 32 else small_size(spec)
    return load_spec(spec, overrides={"input_shape": (size, size, spec.input_shape[2])}) if size else spec


@pytest.mark.parametrize("name", zoo_params(neutral=smallest_of_each_family(), whole_zoo=VARIANTS))
def test_analytic_figures_equal_built_model(name):
    spec = _small(name)
    model = build_model(spec)
    built, analytic = model_stats(model), complexity(spec)
    assert (built.params, built.total_params, built.macs, built.layers) == (
        analytic.params, analytic.total_params, analytic.macs, analytic.layers)
    assert model.output_shape == (None, spec.num_classes)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_layer_names_are_unique_and_readable():
    model = build_model("resnet18")
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert {"conv1_conv", "conv2_block1_1_conv", "conv5_block2_out", "avg_pool", "predictions"} <= set(names)


def test_zero_init_last_norm_starts_each_branch_at_zero():
    spec = load_spec("cifar_resnet20", overrides={"defaults": {"zero_init_last_norm": True}})
    model = build_model(spec)
    gamma = model.get_layer("conv2_block1_2_bn").gamma.numpy()
    assert not gamma.any()
    assert model.get_layer("conv2_block1_1_bn").gamma.numpy().all()


@pytest.mark.backend_neutral
@pytest.mark.parametrize("name", ["cifar_resnet20", "wrn_16_8", "cifar_preact_resnet164"])
def test_saved_model_loads_safely_with_identical_outputs(name, tmp_path):
    model = build_model(load_spec(name, overrides={"input_shape": (16, 16, 3)}))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(numpy(model(x, training=False)), numpy(loaded(x, training=False)))


KERAS_APPS = {
    "keras_resnet50": keras.applications.ResNet50,
    "keras_resnet101": keras.applications.ResNet101,
    "keras_resnet152": keras.applications.ResNet152,
    "keras_resnet50v2": keras.applications.ResNet50V2,
    "keras_resnet101v2": keras.applications.ResNet101V2,
    "keras_resnet152v2": keras.applications.ResNet152V2,
    "keras_densenet121": keras.applications.DenseNet121,
    "keras_densenet169": keras.applications.DenseNet169,
    "keras_densenet201": keras.applications.DenseNet201,
}
KERAS_PREPROCESS = {name: getattr(keras.applications, "densenet" if "densenet" in name else
                                   "resnet_v2" if name.endswith("v2") else "resnet").preprocess_input
                    for name in KERAS_APPS}
SLOW_KERAS = {"keras_resnet101", "keras_resnet101v2", "keras_densenet169", "keras_densenet201"}


@pytest.mark.parametrize("name", zoo_params(lambda n: n in KERAS_APPS, slow=SLOW_KERAS))
def test_keras_entry_takes_keras_applications_weights_by_name(name):
    """Same weighted layers in the same order under the same names, so published weights load by name."""
    ours = build_model(name)
    theirs = KERAS_APPS[name](weights=None)
    weighted = {layer.name: layer for layer in theirs.layers if layer.weights}
    assert [layer.name for layer in ours.layers if layer.weights] == list(weighted)
    for layer in ours.layers:
        if layer.weights:
            source = weighted[layer.name].get_weights()
            assert [w.shape for w in layer.get_weights()] == [w.shape for w in source], layer.name
            layer.set_weights(source)
    assert ours.count_params() == theirs.count_params()
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")  # RGB pixels
    theirs_in = KERAS_PREPROCESS[name](x.copy())  # the normalisation keras.applications leaves to its users
    np.testing.assert_allclose(ours(x, training=False), theirs(theirs_in, training=False), atol=1e-4)
