"""The torchvision and timm forms compute their source's function: PyTorch's padding and ResNet-D.

Numeric parity with the real torchvision and timm models needs their weights and code (the fixture
tests); these check the properties that parity rests on, with Keras alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archspec import build_model, complexity, load_spec
from archspec.graph.plan import plan
from archspec.keras.builder import copy_weights

SPECS = Path(__file__).resolve().parents[1] / "specs"


def _tiny(padding: str, shortcut: str = "B", size: int = 32) -> dict:
    return {"name": f"tiny_{padding}", "input_shape": [size, size, 3], "num_classes": 5,
            "defaults": {"padding": padding}, "stem": {"type": "deep", "width": 16},
            "stages": [{"type": "basic", "depth": 1, "width": 16, "shortcut": shortcut},
                       {"type": "bottleneck", "depth": 2, "width": 8, "stride": 2, "shortcut": shortcut},
                       {"type": "basic", "depth": 1, "width": 32, "stride": 2, "groups": 4}]}


def test_symmetric_padding_pads_only_where_same_would_be_lopsided():
    """Strided convs larger than 1x1 get a ZeroPadding2D; unstrided ones keep 'same', already symmetric."""
    nodes = plan(load_spec(_tiny("symmetric"))).nodes
    padded = {n.name.removesuffix("_pad") for n in nodes if n.op == "zero_pad"} - {"pool1"}
    strided = {n.name.removesuffix("_conv") for n in nodes if n.op == "conv" and n.attrs["kernel"] > 1
               and n.attrs["stride"] > 1}
    assert padded == strided == {"conv1_1", "conv3_block1_2", "conv4_block1_1"}


@pytest.mark.parametrize("size", [32, 29])
def test_symmetric_and_explicit_padding_compute_the_same_function(size):
    """Both pad every side by kernel // 2 (PyTorch's rule); TensorFlow's 'same' does not on strided convs."""
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    explicit = build_model(_tiny("explicit", size=size), seed=0)
    outputs = {}
    for padding in ("symmetric", "same"):
        model = build_model(_tiny(padding, size=size), seed=1)
        copy_weights(explicit, model)
        outputs[padding] = model.predict(x, verbose=0)
    expected = explicit.predict(x, verbose=0)
    np.testing.assert_allclose(outputs["symmetric"], expected, rtol=1e-5, atol=1e-6)
    if size % 2 == 0:  # on even maps TensorFlow pads strided convs on the bottom and right only
        assert np.abs(outputs["same"] - expected).max() > 1e-3


def test_resnet_d_projects_through_a_norm_after_its_average_pool():
    """Every projection of a ResNet-D has its norm, strided (after the pool) or not: timm's downsample."""
    names = {n.name for n in plan(load_spec("resnet50d")).nodes}
    projections = sorted(n.removesuffix("_conv") for n in names if n.endswith("_0_conv"))
    assert projections == [f"conv{s}_block1_0" for s in range(2, 6)]
    assert all(f"{p}_bn" in names for p in projections)
    assert {f"conv{s}_block1_0_pool" for s in range(3, 6)} <= names


def test_resnet_d_pool_keeps_the_odd_edge_averaged_over_real_pixels():
    """timm's AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): a 7x7 map pools to 4x4 and the
    last row and column average only the pixels that exist."""
    import keras

    model = build_model(_tiny("symmetric", shortcut="D", size=28))  # stage 2 input: 7x7
    pool = model.get_layer("conv3_block1_0_pool")
    x = np.arange(2 * 7 * 7 * 16, dtype="float32").reshape(2, 7, 7, 16)
    y = np.asarray(pool(keras.ops.convert_to_tensor(x)))
    assert y.shape == (2, 4, 4, 16)
    np.testing.assert_allclose(y[:, 0, 0], x[:, :2, :2].mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(y[:, 3, 1], x[:, 6, 2:4].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(y[:, 3, 3], x[:, 6, 6], rtol=1e-6)


def test_the_readme_resnet50_d_spec_is_timms_resnet50d():
    """specs/resnet50_d.yaml plans the zoo's resnet50d layer for layer (its params are timm's, a zoo test)."""
    mine, zoo = plan(load_spec(SPECS / "resnet50_d.yaml")), plan(load_spec("resnet50d"))
    assert [(n.name, n.op, n.shape, n.attrs) for n in mine.nodes] == [
        (n.name, n.op, n.shape, n.attrs) for n in zoo.nodes]
    assert complexity(SPECS / "resnet50_d.yaml").params == complexity("resnet50d").params
