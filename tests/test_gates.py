"""Squeeze-excitation, weighted and highway merges, and stochastic depth: figures, behaviour, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from archspec import SpecError, build_model, complexity, load_spec
from archspec.graph.blocks.gates import drop_path_rate
from archspec.graph.load import load_text
from archspec.graph.plan import plan
from archspec.keras.layers import DropPath, HighwayMerge, WeightedAdd
from archspec.keras.stats import model_stats

GATE_ENTRIES = {  # zoo entry -> input size to build it at (counts compare at any size)
    "se_resnet50": 64,
    "seresnext50_32x4d": 64,
    "cifar_weighted_resnet110": 16,
    "cifar_highway_resnet56": 16,
    "cifar_resnet110_stochastic_depth": 16,
    "cifar_weighted_resnet1202": 8,
}


def tiny(stage: dict | None = None, defaults: dict | None = None, **fields):
    """Two small basic stages at 16x16 (the second changes shape) with extra stage fields."""
    stage = stage or {}
    return load_spec({
        "name": "tiny", "input_shape": [16, 16, 3], "num_classes": 5,
        "defaults": defaults or {}, "stem": {"type": "cifar", "width": 8},
        "stages": [{"type": "basic", "depth": 2, "width": 8, **stage},
                   {"type": "basic", "depth": 2, "width": 16, "stride": 2, **stage}],
        **fields,
    })


FEATURES = {
    "se": tiny({"se_ratio": 4}),
    "weighted": tiny({"merge": "weighted", "merge_init": 0.5, "order": "relu_before_add", "shortcut": "A"}),
    "highway": tiny({"shortcut": "highway", "gate_bias": -2.0}),
    "drop_path": tiny(defaults={"drop_path": 0.3}),
}


def _images(n: int = 4, size: int = 16) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, size, size, 3)).astype("float32")


# ---- published and analytic figures -------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), [("se_resnet50", 28_088_024), ("seresnext50_32x4d", 27_559_896)])
def test_se_entries_have_timms_parameter_counts(name, params):
    assert complexity(name).params == params


def test_se_convs_count_their_macs_but_not_towards_depth():
    se, plain = complexity("se_resnet50"), complexity("resnet50")
    blocks = {256: 3, 512: 4, 1024: 6, 2048: 3}  # output channels -> blocks
    assert se.macs - plain.macs == sum(n * 2 * c * (c // 16) for c, n in blocks.items())
    assert se.depth == plain.depth == 50


def test_weighted_merge_adds_one_parameter_per_block():
    assert complexity("cifar_weighted_resnet110").params == complexity("cifar_resnet110").params + 54
    assert complexity("cifar_weighted_resnet1202").depth == 1202


def test_highway_twin_differs_only_by_its_gates():
    highway, residual = load_spec("cifar_highway_resnet56"), load_spec("cifar_resnet56")
    same = [s.model_copy(update={"shortcut": "A"}) for s in highway.stages]
    assert same == residual.stages
    gates = sum(n.params for n in plan(highway).nodes if n.name.endswith("_0_gate_conv"))
    widths = [(16, 16)] * 9 + [(16, 32)] + [(32, 32)] * 8 + [(32, 64)] + [(64, 64)] * 8
    assert gates == sum(cin * cout + cout for cin, cout in widths)  # biased 1x1 convs
    assert complexity(highway).params == complexity(residual).params + gates
    assert complexity(highway).depth == 56


ORDERS = ("post", "bn_after_add", "relu_before_add", "relu_preact", "preact")
COMBINED = [({"order": o, "se_ratio": 4, "shortcut": "highway"}, f"{o}-se-highway") for o in ORDERS] + [
    ({"order": o, "se_ratio": 4, "merge": "weighted", "shortcut": s}, f"{o}-se-weighted-{s}")
    for o in ORDERS[2:] for s in ("A", "B")]


@pytest.mark.parametrize("stage", [pytest.param(s, id=i) for s, i in COMBINED])
def test_every_order_takes_every_gate(stage):
    """SE, drop-path and each merge in every block order they fit, bottlenecks included."""
    spec = tiny(stage, {"drop_path": 0.2})
    spec = load_spec(spec, overrides={"stages": [*spec.model_dump()["stages"], {
        "type": "bottleneck", "depth": 2, "width": 8, "stride": 2, **stage}]})
    built, analytic = model_stats(build_model(spec)), complexity(spec)
    assert (built.params, built.total_params, built.macs, built.layers) == (
        analytic.params, analytic.total_params, analytic.macs, analytic.layers)


# ---- behaviour ------------------------------------------------------------------------------


def test_stochastic_depth_decays_linearly_over_the_whole_network():
    rates = [n.attrs["rate"] for n in plan(load_spec("cifar_resnet110_stochastic_depth")).nodes
             if n.op == "drop_path"]
    assert rates == pytest.approx([l / 54 * 0.5 for l in range(1, 55)])
    assert drop_path_rate(0.5, 54, 54) == 0.5


def test_drop_path_is_inactive_at_inference():
    dropping, plain = build_model(FEATURES["drop_path"]), build_model(tiny())
    for layer in plain.layers:  # by name: the extra layers change the order of model.weights
        layer.set_weights(dropping.get_layer(layer.name).get_weights())
    x = _images()
    out = dropping(x, training=False)
    np.testing.assert_array_equal(out, dropping(x, training=False))
    np.testing.assert_array_equal(out, plain(x, training=False))


def test_drop_path_drops_whole_samples_and_rescales_the_kept():
    x = np.ones((64, 4, 4, 3), "float32")
    y = keras.ops.convert_to_numpy(DropPath(0.5, seed=1)(x, training=True))
    per_sample = {float(v) for v in np.unique(y.reshape(64, -1), axis=0).ravel()}
    assert per_sample == {0.0, 2.0}
    assert all(len(np.unique(s)) == 1 for s in y)


def test_weighted_merge_at_zero_starts_each_block_as_the_identity():
    model = build_model(tiny({"merge": "weighted", "order": "relu_before_add"}))
    outs = [model.get_layer(n).output for n in ("conv2_block1_out", "conv2_block2_out")]
    probe = keras.Model(model.input, outs)
    before, after = probe(_images(), training=False)
    np.testing.assert_array_equal(before, after)
    assert float(model.get_layer("conv2_block2_out").alpha.numpy()) == 0.0


def test_highway_gate_starts_at_gate_bias_and_carries_x_as_option_a():
    model = build_model(FEATURES["highway"])
    np.testing.assert_array_equal(model.get_layer("conv3_block1_0_gate_conv").bias.numpy(), np.full(16, -2.0))
    assert model.get_layer("conv3_block1_0_gate_conv").strides == (2, 2)
    names = {layer.name for layer in model.layers}
    assert {"conv3_block1_0_pool", "conv3_block1_0_pad", "conv3_block1_0_gate_sigmoid"} <= names
    assert isinstance(model.get_layer("conv3_block1_add"), HighwayMerge)


def test_highway_merge_mixes_branch_and_carry():
    carry, branch, gate = np.zeros((1, 2)), np.ones((1, 2)), np.array([[0.25, 1.0]])
    np.testing.assert_allclose(HighwayMerge()([carry, branch, gate]), [[0.25, 1.0]])


@pytest.mark.parametrize("feature", FEATURES)
def test_one_training_step_moves_every_weight(feature):
    """Gradients reach the SE convs, the weighted merge's alpha and the highway gates; drop-path compiles."""
    keras.utils.set_random_seed(0)
    model = build_model(FEATURES[feature])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(_images(8), np.arange(8) % 5, batch_size=8, verbose=0)
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


# ---- saving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("feature", FEATURES)
def test_saved_model_loads_safely_with_identical_outputs(feature, tmp_path):
    model = build_model(FEATURES[feature])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = _images()
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))
    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(model(x, training=False), rebuilt(x, training=False))


@pytest.mark.parametrize("layer", [WeightedAdd(0.25, name="w"), HighwayMerge(name="h"),
                                   DropPath(0.2, seed=3, name="d")])
def test_custom_layer_config_round_trips(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert keras.saving.get_registered_object(f"archspec>{type(layer).__name__}") is type(layer)


# ---- bad specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("stage", "defaults", "expected"), [
    ({"attention": {"type": "eca", "ratio": 0.5}}, {}, r"attention eca takes no ratio \(it takes kernel, gamma"),
    ({"se_ratio": 4, "attention": {"type": "eca"}}, {}, r"give one of se_ratio and attention"),
    ({"attention": {"type": "cbam", "kernel": 4}}, {}, r"kernel 4 has no centre tap"),
    ({"attention": {"type": "se", "at": "after_3x3"}}, {}, r"a basic block has two 3x3 convs"),
    ({"groups": 2, "group_width": 4}, {}, r"groups 2 and group_width 4 both set"),
    ({"group_width": 3}, {}, r"group_width 3 must divide the 3x3 width 8"),
    ({"merge": "weighted"}, {}, r"merge 'weighted' .* order 'post'"),
    ({"merge": "weighted", "order": "bn_after_add"}, {}, r"order 'bn_after_add'"),
    ({"merge": "weighted", "order": "preact", "shortcut": "highway"}, {},
     r"shortcut 'highway' .* merge 'weighted'"),
    ({"merge": "sum"}, {}, r"merge"),
    ({}, {"drop_path": 1.0}, r"drop_path"),
])
def test_incoherent_gates_are_spec_errors_that_echo_the_values(stage, defaults, expected):
    with pytest.raises(SpecError, match=expected):
        tiny(stage, defaults)


def test_highway_on_a_plain_stage_is_an_unknown_field():
    text = ("name: p\ninput_shape: [16, 16, 3]\nstages:\n"
            "  - {type: plain, depth: 2, width: 8, shortcut: highway}\n")
    with pytest.raises(SpecError, match=r"shortcut") as err:
        load_text(text, "p.yaml")
    assert err.value.problems[0].line == 4


def test_drop_path_without_residual_blocks_is_a_spec_error():
    with pytest.raises(SpecError, match=r"drop_path 0.5 .* no stage here is basic or bottleneck"):
        load_spec({"input_shape": [16, 16, 3], "defaults": {"drop_path": 0.5},
                   "stages": [{"type": "plain", "depth": 2, "width": 8}]})


def test_highway_cannot_carry_into_fewer_channels():
    with pytest.raises(SpecError, match=r"shortcut 'highway' zero-pads channels, so it cannot go from 16 down"):
        load_spec({"input_shape": [16, 16, 3], "stem": {"type": "cifar", "width": 16},
                   "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "highway"}]})
