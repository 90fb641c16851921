"""What people do on their first day with pretrained weights, as timm's ``create_model(name, pretrained=True,
num_classes=N, in_chans=C)`` and keras.applications' arguments allow it: a new head on pretrained weights (the
backbone filled, the head left at initialisation and said so), any number of input channels (the stem adapted
by timm's rule, the presets' statistics by archspec's), and keras.applications' signature (checks ported from
keras' ``applications_test.py``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from archspec import build_model
from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.spec.errors import SpecError

from .weights_helpers import FIXTURES

BASIC = FIXTURES / "resnet_basic.yaml"  # timm's narrow ResNet; resnet_basic.pth holds its 10-class weights
PTH = FIXTURES / "resnet_basic.pth"


def layer_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_a_new_head_on_pretrained_weights_fills_the_backbone_and_says_what_starts_fresh():
    full = build_model(BASIC, weights=PTH)
    with pytest.warns(UserWarning, match=r"predictions left at initialisation \(the file's classifier has 10 "
                                         r"classes, the model's 5\)"):
        tuned = build_model(BASIC, weights=PTH, num_classes=5, seed=3)
    ours, theirs = layer_weights(tuned), layer_weights(full)
    assert all(np.array_equal(a, b) for name in ours if name != "predictions" for a, b in zip(ours[name], theirs[name]))
    fresh = layer_weights(build_model(BASIC, num_classes=5, seed=3))["predictions"]
    assert all(np.array_equal(a, b) for a, b in zip(ours["predictions"], fresh))


def test_a_changed_head_and_a_backbone_leave_the_files_head_unused():
    spec = {"extends": str(BASIC), "head": {"hidden": [32], "dropout": 0.2}}
    with pytest.warns(UserWarning, match="fc1, predictions left at initialisation"):
        build_model(spec, weights=PTH)
    pooled = build_model(BASIC, weights=PTH, features=True, pooling="avg")
    assert pooled.output_shape == (None, 64)


def test_a_file_whose_backbone_does_not_fit_is_refused_naming_the_first_tensor():
    from archspec.keras.weights.torch_pickle import WeightsFileError

    deeper = {"extends": str(BASIC), "stages": [{"type": "basic", "depth": 2, "width": 8},
                                                *load_spec(BASIC).model_dump()["stages"][1:]]}
    with pytest.raises(WeightsFileError, match="layer1.1.conv1.weight"):
        build_model(deeper, weights=PTH, num_classes=5)


@pytest.mark.parametrize("channels", [1, 6])
def test_the_stem_adapts_to_other_channels_as_timm_does(channels):
    unit = {"extends": str(BASIC), "preprocess": "unit"}  # one scale for every channel: grey in, same response
    rgb = build_model(unit, weights=PTH)
    with pytest.warns(UserWarning, match=f"conv1_conv adapted from 3 to {channels} input channels"):
        other = build_model({**unit, "input_shape": [64, 64, channels]}, weights=PTH)
    kernel, trained = other.get_layer("conv1_conv").get_weights()[0], rgb.get_layer("conv1_conv").get_weights()[0]
    expected = trained.sum(2, keepdims=True) if channels == 1 else np.concatenate([trained] * 2, axis=2) / 2
    np.testing.assert_allclose(kernel, expected, rtol=1e-6)
    grey = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(other.predict(np.repeat(grey, channels, -1), verbose=0),
                               rgb.predict(np.repeat(grey, 3, -1), verbose=0), atol=1e-5)


def test_a_keras_file_adapts_too_and_presets_take_any_channels(tmp_path):
    source = build_model(BASIC, weights=PTH)
    source.save(tmp_path / "rgb.keras")
    with pytest.warns(UserWarning, match="conv1_conv adapted from 3 to 1 input channels"):
        grey = build_model({"extends": str(BASIC), "input_shape": [64, 64, 1]}, weights=tmp_path / "rgb.keras")
    np.testing.assert_allclose(grey.get_layer("conv1_conv").get_weights()[0],
                               source.get_layer("conv1_conv").get_weights()[0].sum(2, keepdims=True), rtol=1e-6)
    imagenet = load_spec({"extends": str(BASIC), "preprocess": "imagenet", "input_shape": [64, 64, 1]})
    assert imagenet.input_normalization.mean == pytest.approx([np.mean([0.485, 0.456, 0.406])])
    four = load_spec({"extends": str(BASIC), "preprocess": "imagenet", "input_shape": [64, 64, 4]})
    assert four.input_normalization.std == [0.229, 0.224, 0.225, 0.229]
    caffe = load_spec({"extends": str(BASIC), "preprocess": "caffe", "input_shape": [64, 64, 1]})
    assert caffe.input_normalization.channels == "rgb" and len(caffe.input_normalization.mean) == 1


# keras' applications_test.py, translated: the same arguments give the same kinds of model
def test_keras_applications_arguments_mean_what_they_mean_there():
    pooled = build_model("resnet18", include_top=False, pooling="avg", input_shape=(None, None, 3))
    assert pooled.input_shape == (None, None, None, 3) and pooled.output_shape == (None, 512)
    assert build_model("resnet18", include_top=False, pooling="max", input_shape=(64, 64, 3)).output_shape == (
        None, 512)
    last_map = build_model("resnet18", include_top=False, input_shape=(64, 64, 3))
    assert last_map.output_shape == (None, 2, 2, 512)
    logits = build_model("resnet18", classes=7, classifier_activation=None, input_shape=(32, 32, 3))
    assert logits.output_shape == (None, 7) and logits.layers[-1].activation.__name__ == "linear"
    headless = build_model("resnet18", num_classes=0, input_size=32)  # timm's num_classes=0: pooled features
    assert headless.output_shape == (None, 512)


def test_input_tensor_builds_the_layers_on_that_tensor():
    image = keras.Input((48, 48, 3), name="image")
    scaled = keras.layers.Rescaling(255.0, name="to_pixels")(image)
    model = build_model("resnet18", input_tensor=scaled, include_top=False, pooling="avg")
    assert model.inputs[0] is image and model.get_layer("to_pixels") is not None
    assert model.output_shape == (None, 512) and model.get_layer("conv1_conv") is not None


def test_contradictory_or_unknown_arguments_are_refused():
    with pytest.raises(SpecError, match="classes=3 and num_classes=4 both size the classifier"):
        build_model("resnet18", classes=3, num_classes=4)
    with pytest.raises(SpecError, match="classifier_activation='tanh'"):
        build_model("resnet18", classifier_activation="tanh")
    with pytest.raises(SpecError, match=r"input_shape \(32, 32\): give \(height, width, channels\)"):
        build_model("resnet18", input_shape=(32, 32))


def test_cli_build_with_weights_and_num_classes_says_which_layers_start_fresh():
    result = CliRunner().invoke(main, ["build", str(BASIC), "--weights", str(PTH), "--num-classes", "3"])
    assert result.exit_code == 0, result.output
    assert "predictions left at initialisation (the file's classifier has 10 classes, the model's 3)" in result.output
