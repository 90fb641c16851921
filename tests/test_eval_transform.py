"""The evaluation view, to the pixel: JPEGs of several shapes through archspec's resize and centre crop
against torchvision's and timm's own transforms (fixtures written by scripts/torch_reference.py transforms),
and a classifier's probabilities on both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from archspec.train.eval_transform import pillow_view, resize_and_crop
from archspec.train.sources.base import decode

from .weights_helpers import FIXTURES as WEIGHTS
from .weights_helpers import build_for_source

TRANSFORMS = Path(__file__).parent / "fixtures" / "transforms"
REFERENCE = np.load(TRANSFORMS / "reference.npz")
# each view as the source's own metadata gives it (views.json records their repr): resize, interpolation
VIEWS = {"torchvision_v1": (256, "bilinear"), "torchvision_v2": (232, "bilinear"), "timm_a1": (235, "bicubic")}


def ours(view: str, file: str) -> np.ndarray:
    import tensorflow as tf

    image = decode(tf.io.read_file(str(TRANSFORMS / file)), 3)
    return resize_and_crop(image, 224, *VIEWS[view]).numpy()


def test_the_fixture_views_are_the_ones_named():
    views = json.loads((TRANSFORMS / "views.json").read_text())["views"]
    for view, (resize, interpolation) in VIEWS.items():
        assert str(resize) in views[view] and interpolation in views[view].lower()


@pytest.mark.parametrize("key", REFERENCE.files)
def test_resize_and_crop_match_torchvision_and_timm_within_one_level(key):
    """PIL resamples with fixed-point weights, so a value may land one level away; one in a hundred at most
    does (the measured worst is 0.6%), and no value is further off. Before the fix (TensorFlow's fast JPEG
    DCT, the crop offset rounded up) two thirds of the values were off, by up to 7 levels."""
    view, file = key.split("/")
    expected = REFERENCE[key].astype(np.float32)
    got = ours(view, file)
    assert got.shape == expected.shape == (224, 224, 3)
    difference = np.abs(got - expected)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01


def test_the_crop_offset_rounds_halves_to_even():
    """500x375 resized to 341x256 leaves 117 columns: torchvision crops at round(58.5) = 58, not 59."""
    import tensorflow as tf

    from archspec.train.eval_transform import _centre

    assert int(_centre(tf.constant(341), 224)) == 58
    assert int(_centre(tf.constant(343), 224)) == 60  # 59.5 rounds to the even 60
    assert int(_centre(tf.constant(256), 224)) == 16


@pytest.mark.backend_neutral
def test_probabilities_on_our_view_match_those_on_torchvisions():
    """The vgg_bn fixture (a 224-input classifier with calibrated weights) on both views of every JPEG: the
    values one level off move its probabilities by at most 4.6e-3 (measured); the view before the fix moved
    them by 0.25."""
    from archspec.keras.weights.transfer import load_source_weights

    model = build_for_source(WEIGHTS / "vgg_bn.yaml")
    load_source_weights(model, WEIGHTS / "vgg_bn.pth")
    keys = [k for k in REFERENCE.files if k.startswith("torchvision_v1/")]
    theirs = np.stack([REFERENCE[k].astype(np.float32) for k in keys])
    mine = np.stack([ours("torchvision_v1", k.split("/")[1]) for k in keys])
    p_theirs, p_mine = model.predict(theirs, verbose=0), model.predict(mine, verbose=0)
    assert p_theirs.max() < 0.99  # calibrated: a wrong pixel would show
    np.testing.assert_allclose(p_mine, p_theirs, atol=1e-2)


@pytest.mark.parametrize("key", REFERENCE.files)
def test_the_pillow_view_without_tensorflow_is_torchvisions(key):
    """Where TensorFlow is absent, predict computes the view with Pillow, as torchvision does: the same pixels."""
    view, file = key.split("/")
    got = pillow_view(str(TRANSFORMS / file), 224, *VIEWS[view], channels=3)
    assert np.array_equal(got, REFERENCE[key].astype(np.float32))


@pytest.mark.parametrize("size,channels", [(8, 1), (32, 3), (64, 3)])
def test_the_pillow_whole_image_view_is_the_training_runs(size, channels):
    """Small inputs are resized whole, as the training runs' validation view resizes them (tf.image.resize).
    Grey levels may differ by one: libjpeg (TensorFlow) and Pillow each round their own luma of a colour JPEG."""
    import tensorflow as tf

    from archspec.train.data import evaluation_view

    for file in sorted(TRANSFORMS.glob("*.jpg"))[:3]:
        image = decode(tf.io.read_file(str(file)), channels)
        expected = evaluation_view(image, (size, size, channels)).numpy()
        got = pillow_view(str(file), size, None, "bilinear", channels)
        np.testing.assert_allclose(got, expected, atol=1 if channels == 1 else 2e-3)
