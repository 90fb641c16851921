"""DenseNet and dual path (DPN) stages: published figures, Keras equivalence, spec errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from archspec import SpecError, build_model, complexity, load_spec
from archspec.graph.plan import plan
from archspec.keras.stats import model_stats
from archspec.spec.zoo import zoo_paths

from .helpers import VARIANTS

NEW = [n for n, p in zoo_paths().items() if p.parent.name in ("densenet", "dpn") and n not in VARIANTS]

# Figures published only rounded, in millions: timm for DPNs, Huang et al. 2017 Table 2 for CIFAR.
ROUNDED = {"dpn68": "12.61", "dpn98": "61.57", "dpn107": "86.92", "dpn131": "79.25",
           "densenet_bc_250_k24": "15.3", "densenet_bc_190_k40": "25.6"}

TINY_DENSE = {
    "name": "tiny_dense", "input_shape": [16, 16, 3], "num_classes": 5,
    "stem": {"type": "cifar", "width": 8, "normalize": False},
    "stages": [{"type": "dense", "depth": 2, "growth_rate": 4, "bn_size": 2},
               {"type": "dense", "depth": 2, "growth_rate": 4, "bn_size": None, "stride": 2, "compression": 0.5}],
}
TINY_DPN = {
    "name": "tiny_dpn", "input_shape": [32, 32, 3], "num_classes": 5,
    "stem": {"type": "imagenet", "width": 8, "kernel": 3},
    "stages": [{"type": "dual_path", "depth": 2, "width": 8, "groups": 2, "residual_width": 8, "increment": 4},
               {"type": "dual_path", "depth": 2, "width": 16, "groups": 4, "residual_width": 16, "increment": 4,
                "stride": 2}],
}


def _names(spec) -> list[str]:
    return [n.name for n in plan(load_spec(spec)).nodes]


def _stats_agree(spec) -> keras.Model:
    model = build_model(spec)
    built, analytic = model_stats(model), complexity(spec)
    assert (built.params, built.total_params, built.macs, built.layers) == (
        analytic.params, analytic.total_params, analytic.macs, analytic.layers)
    return model


def test_zoo_has_every_new_entry():
    assert set(NEW) == {
        "densenet121", "densenet161", "densenet169", "densenet201", "keras_densenet121", "keras_densenet169",
        "keras_densenet201", "densenet_bc_100_k12", "densenet_bc_250_k24", "densenet_bc_190_k40",
        "dpn68", "dpn92", "dpn98", "dpn107", "dpn131"}


@pytest.mark.parametrize("name", sorted(ROUNDED))
def test_rounded_published_params(name):
    digits = len(ROUNDED[name].split(".")[1])
    assert f"{complexity(name).params / 1e6:.{digits}f}" == ROUNDED[name]


@pytest.mark.parametrize("name, depth", [("densenet121", 121), ("densenet201", 201), ("densenet_bc_100_k12", 100),
                                         ("densenet_bc_250_k24", 250), ("dpn68", 68), ("dpn92", 92), ("dpn131", 131)])
def test_depth_is_the_name(name, depth):
    """Weighted layers on the main path: transitions count, DPN projections do not."""
    assert complexity(name).depth == depth


def test_dense_layer_and_transition_names_follow_keras():
    names = _names("keras_densenet121")
    assert names[names.index("conv2_block1_0_bn"):names.index("conv2_block1_concat") + 1] == [
        "conv2_block1_0_bn", "conv2_block1_0_relu", "conv2_block1_1_conv", "conv2_block1_1_bn",
        "conv2_block1_1_relu", "conv2_block1_2_conv", "conv2_block1_concat"]
    assert names[names.index("pool2_bn"):names.index("pool2_pool") + 1] == [
        "pool2_bn", "pool2_relu", "pool2_conv", "pool2_pool"]
    assert names[-4:] == ["bn", "relu", "avg_pool", "predictions"]
    assert "pool1" in names and "post_bn" in _names("densenet121")  # renamed only where the spec says


def test_plain_densenet_layers_have_no_bottleneck():
    shapes = {n.name: n.shape for n in plan(load_spec(TINY_DENSE)).nodes}
    assert "conv2_block1_2_conv" in shapes and "conv3_block1_2_conv" not in shapes
    assert "pool2_conv" in shapes  # the stride-2 stage opens with a transition
    assert shapes["conv2_block2_concat"] == (16, 16, 16)  # 8 + 2 x 4
    assert shapes["pool2_pool"] == (8, 8, 8)  # compression 0.5


@pytest.mark.parametrize("spec", [TINY_DENSE, TINY_DPN], ids=["dense", "dual_path"])
def test_saved_model_loads_safely_with_identical_outputs(spec, tmp_path):
    model = _stats_agree(load_spec(spec))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(1).normal(size=(2, *spec["input_shape"])).astype("float32")
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))


def test_dual_path_block_splits_into_added_and_concatenated_paths():
    nodes = {n.name: n for n in plan(load_spec(TINY_DPN)).nodes}
    assert nodes["conv2_block1_0_conv"].branch == "shortcut" and nodes["conv2_block1_0_conv"].shape[-1] == 8 + 2 * 4
    assert nodes["conv2_block1_2_conv"].attrs["groups"] == 2
    assert nodes["conv2_block2_add"].inputs == ("conv2_block1_add", "conv2_block2_3_res")
    assert nodes["conv2_block2_concat"].inputs == ("conv2_block1_concat", "conv2_block2_3_dense")
    assert nodes["conv2_block2_out"].shape == (8, 8, 8 + 4 * 4)  # residual 8, dense 2 x 4 + 2 x 4
    assert nodes["conv3_block1_2_conv"].shape[:2] == (4, 4)  # the first block's 3x3 strides
    assert "post_bn" in nodes  # the last sums and concats are normalised before the head


def test_dense_stages_then_residual_stages_plan_and_build():
    spec = load_spec({
        "name": "mixed", "input_shape": [16, 16, 3], "num_classes": 5, "stem": {"type": "cifar", "width": 16},
        "stages": [{"type": "dense", "depth": 3, "growth_rate": 6},
                   {"type": "bottleneck", "depth": 2, "width": 8, "stride": 2}],
    })
    nodes = {n.name: n for n in plan(spec).nodes}
    assert nodes["conv2_block3_concat"].shape == (16, 16, 16 + 3 * 6)
    assert nodes["conv3_block1_0_conv"].shape == (8, 8, 32)  # the projection takes the 34 channels
    assert "post_bn" not in nodes  # post-order bottlenecks end normalised
    assert _stats_agree(spec).output_shape == (None, 5)


@pytest.mark.parametrize("stage, field, echoed", [
    ({"type": "bottleneck", "depth": 2, "width": 16, "growth_rate": 12}, "growth_rate", "unknown field"),
    ({"type": "dense", "depth": 2, "growth_rate": 12, "order": "preact"}, "order", "unknown field"),
    ({"type": "dense", "depth": 2, "growth_rate": 0}, "growth_rate", "got 0"),
    ({"type": "dense", "depth": 2, "growth_rate": 12, "stride": 2, "compression": 0}, "compression", "got 0"),
    ({"type": "dense", "depth": 2, "growth_rate": 12, "stride": 2, "compression": 1.5}, "compression", "got 1.5"),
    ({"type": "dense", "depth": 2, "growth_rate": 12, "compression": 0.5}, "compression", "compression 0.5"),
    ({"type": "dual_path", "depth": 2, "width": 30, "groups": 4, "residual_width": 16, "increment": 8},
     "groups", "groups 4"),
    ({"type": "dual_path", "depth": 2, "width": 32, "residual_width": 16}, "increment", "increment"),
])
def test_invalid_stages_are_spec_errors(stage, field, echoed):
    with pytest.raises(SpecError) as err:
        load_spec({"name": "bad", "stages": [stage]})
    assert f"stages[0].{field}" in str(err.value) and echoed in str(err.value)


@pytest.mark.parametrize("rename, message", [
    ({"post_b": "bn"}, "rename.post_b: no layer is named 'post_b'; did you mean 'post_bn'?"),
    ({"post_bn": "conv1_conv"}, "two layers would be named 'conv1_conv'"),
])
def test_bad_renames_are_spec_errors(rename, message):
    with pytest.raises(SpecError, match=message):
        load_spec({**TINY_DENSE, "rename": rename})
