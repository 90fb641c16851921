"""The spec's ``preprocess``: models take pixel values 0..255 and normalise them inside, exactly as
their source's own preprocessing does."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from archspec import build_model, complexity, load_spec
from archspec.cli import main
from archspec.spec.errors import SpecError

pytestmark = pytest.mark.backend_neutral  # CI runs these on every Keras backend

TINY = {"name": "tiny", "input_shape": [8, 8, 3], "num_classes": 4, "stem": {"type": "cifar", "width": 8},
        "stages": [{"type": "basic", "depth": 1, "width": 8}]}
PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")


def _normalised(preprocess) -> np.ndarray:
    model = build_model({**TINY, "preprocess": preprocess})
    return keras.ops.convert_to_numpy(model.get_layer("preprocess")(PIXELS))


def assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    """Bit for bit on TensorFlow; elsewhere the compiler may fuse (x - mean) / std, to within a rounding."""
    if keras.backend.backend() == "tensorflow":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("preset, mode", [("imagenet", "torch"), ("torch", "torch"), ("caffe", "caffe"),
                                          ("tf", "tf")])
def test_presets_equal_keras_applications_preprocess_input(preset, mode):
    expected = keras.applications.imagenet_utils.preprocess_input(PIXELS.copy(), mode=mode)
    assert_same(_normalised(preset), keras.ops.convert_to_numpy(expected))


def test_the_default_unit_is_what_a_pipeline_dividing_by_255_gives():
    """Specs that say nothing divide by 255 inside, bit for bit what the data pipeline did before."""
    assert load_spec(TINY).preprocess == "unit"
    assert_same(_normalised("unit"), PIXELS / 255.0)


def test_explicit_scale_mean_and_std_per_channel_or_shared():
    found = _normalised({"scale": 0.5, "mean": [1.0, 2.0, 3.0], "std": [4.0]})
    np.testing.assert_allclose(found, (PIXELS * 0.5 - np.array([1.0, 2.0, 3.0])) / 4.0, rtol=1e-6)


def test_none_adds_no_layer_and_normalisation_adds_no_weights():
    names = [layer.name for layer in build_model({**TINY, "preprocess": "none"}).layers]
    assert "preprocess" not in names
    with_it = build_model({**TINY, "preprocess": "imagenet"})
    assert not with_it.get_layer("preprocess").weights
    assert complexity({**TINY, "preprocess": "imagenet"}).params == complexity({**TINY, "preprocess": "none"}).params


@pytest.mark.parametrize("preprocess, fragment", [
    ({"mean": [0.1, 0.2]}, "its mean has 2 values, but the input has 3 channels"),
    ({"std": [0.0]}, "greater than 0"),
    ("imagenet_v2", "preprocess"),
])
def test_bad_normalisations_are_spec_errors(preprocess, fragment):
    with pytest.raises(SpecError, match=fragment):
        load_spec({**TINY, "preprocess": preprocess})


def test_an_explicit_bgr_needs_rgb_input_and_the_cli_names_the_line(tmp_path):
    spec = tmp_path / "grey.yaml"
    spec.write_text("name: grey\ninput_shape: [8, 8, 1]\npreprocess: {scale: 1.0, mean: [100.0], channels: bgr}\n"
                    "stages:\n  - {type: basic, depth: 1, width: 8}\n")
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "grey.yaml:3:" in result.output and "reverses RGB images to BGR, but the input has 1 channels" in result.output
    spec.write_text(spec.read_text().replace("{scale: 1.0, mean: [100.0], channels: bgr}", "caffe"))
    result = CliRunner().invoke(main, ["validate", str(spec)])  # a preset takes any channels (its BGR is for three)
    assert result.exit_code == 0, result.output


def test_normalisation_computes_in_float32_under_a_mixed_precision_policy():
    """Pixel values 0..255 minus means near 124 would lose their fractions in float16."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model({**TINY, "preprocess": "caffe"})
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("preprocess").compute_dtype == "float32"
    assert model.get_layer("conv1_conv").compute_dtype == "float16"
