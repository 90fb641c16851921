"""Attention as a stage field: each module's figures equal the built model's, it saves and loads in safe mode,
sits where ``at`` says, and sizes its squeeze and kernel by timm's rules. Parity with timm's own modules is in
test_weights.py (narrow networks per module)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from archspec import build_model, complexity, load_spec
from archspec.graph.plan import plan
from archspec.spec.schema import Attention

from .helpers import numpy

pytestmark = pytest.mark.backend_neutral  # CI runs these on every Keras backend

MODULES = [{"type": "se"}, {"type": "ese"}, {"type": "eca"}, {"type": "cbam"}, {"type": "gc"}, {"type": "gca"},
           {"type": "se", "at": "after_3x3", "ratio": 0.25, "ratio_of": "input"}, {"type": "cbam", "at": "after_3x3"}]


def small(attention: dict, block: str = "bottleneck"):
    return load_spec({
        "name": "small", "input_shape": [32, 32, 3], "num_classes": 10, "stem": {"type": "cifar", "width": 16},
        "stages": [{"type": block, "depth": 1, "width": 16, "attention": attention},
                   {"type": block, "depth": 2, "width": 32, "stride": 2, "attention": attention}]})


@pytest.mark.parametrize("attention", MODULES, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_each_module_counts_what_keras_builds_and_round_trips_in_safe_mode(attention, tmp_path):
    spec = small(attention)
    model = build_model(spec)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert complexity(spec).params == trainable
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), atol=1e-6)


def test_after_3x3_sits_between_the_3x3_and_the_last_conv():
    names = [n.name for n in plan(small({"type": "eca", "at": "after_3x3"})).nodes]
    block = [n for n in names if n.startswith("conv2_block1_")]
    order = [block.index(f"conv2_block1_{layer}") for layer in ("2_relu", "eca_scale", "3_conv")]
    assert order == sorted(order)
    end = [n for n in plan(small({"type": "eca"})).nodes if n.name.startswith("conv2_block1_")]
    assert [n.name for n in end].index("conv2_block1_3_bn") < [n.name for n in end].index("conv2_block1_eca_scale")


def test_cbams_mlp_is_one_layer_applied_to_both_pools():
    spec = small({"type": "cbam"})
    model = build_model(spec)
    names = [layer.name for layer in model.layers]
    assert "conv2_block1_cbam_fc1_conv" in names and "conv2_block1_cbam_fc1_max_conv" not in names
    graph = plan(spec)
    shared = next(n for n in graph.nodes if n.name == "conv2_block1_cbam_fc1_max_conv")
    first = next(n for n in graph.nodes if n.name == "conv2_block1_cbam_fc1_conv")
    assert shared.params == 0 and shared.macs == first.macs > 0  # weights once, work twice


@pytest.mark.parametrize(("channels", "kernel"), [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)])
def test_eca_kernel_follows_the_papers_rule(channels, kernel):
    assert Attention(type="eca").eca_kernel(channels) == kernel  # |log2(C) + 1| / 2, to the odd number
    assert Attention(type="eca", kernel=3).eca_kernel(channels) == 3  # the official weights' fixed kernels


@pytest.mark.parametrize(("attention", "channels", "block_input", "hidden"), [
    ({"type": "se"}, 256, 64, 16),  # 1/16, a multiple of 8
    ({"type": "se"}, 24, 8, 8),  # never below the divisor
    ({"type": "cbam"}, 24, 8, 2),  # 1.5 rounds half up, as timm's make_divisible
    ({"type": "gc"}, 100, 8, 13),  # 1/8 of 100 = 12.5, half up
    ({"type": "se", "ratio": 0.25, "ratio_of": "input", "divisor": 1}, 440, 208, 52),  # RegNetY: of the input
])
def test_squeeze_width_follows_timms_rounding(attention, channels, block_input, hidden):
    assert Attention.model_validate(attention).hidden(channels, block_input) == hidden


def test_se_ratio_is_short_for_an_se_attention():
    spec = load_spec({"name": "s", "input_shape": [32, 32, 3], "num_classes": 10,
                      "stages": [{"type": "basic", "depth": 1, "width": 32, "se_ratio": 4}]})
    assert spec.stages[0].attention == Attention(type="se", ratio=0.25, divisor=1)
    assert small({"type": "se"}).stages[0].attention.divisor == 8  # without the shorthand, timm's SE defaults
