"""Memory-efficient stages (gradient checkpointing) on every stage type compute exactly what plain ones
compute, train to the same weights, and share their weights by name with the plain model, from models and
from files."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest

from archspec import build_model, complexity
from archspec.graph.load import load_spec
from archspec.graph.plan import plan
from archspec.keras.builder import copy_weights
from archspec.keras.layers import Recompute, planned_layers
from archspec.keras.model_io import save_model
from archspec.keras.stats import model_stats
from archspec.keras.weights.transfer import load_source_weights

from .weights_helpers import FIXTURES, build_for_source

_SMALL = {"input_shape": [16, 16, 3], "num_classes": 5, "stem": {"type": "cifar", "width": 8, "normalize": False}}
KINDS = {
    "dense": {**_SMALL, "stages": [
        {"type": "dense", "depth": 3, "growth_rate": 4, "bn_size": 2},
        {"type": "dense", "depth": 2, "growth_rate": 4, "stride": 2, "compression": 0.5},
        {"type": "dense", "depth": 2, "growth_rate": 4, "bn_size": None, "stride": 2}]},
    # grouped bottlenecks with SE and stochastic depth, then option-A basic blocks in the pre-activation order
    "residual": {**_SMALL, "defaults": {"drop_path": 0.3}, "stages": [
        {"type": "bottleneck", "depth": 2, "width": 4, "groups": 2, "attention": {"type": "se"}},
        {"type": "basic", "depth": 2, "width": 32, "stride": 2, "shortcut": "A", "order": "preact"}]},
    "cbam": {**_SMALL, "stages": [  # a layer shared within the block (CBAM's MLP)
        {"type": "bottleneck", "depth": 2, "width": 4, "attention": {"type": "cbam"}}]},
    "plain": {**_SMALL, "stages": [{"type": "plain", "depth": 2, "width": 8},
                                   {"type": "plain", "depth": 1, "width": 8, "stride": 2}]},
    "dual_path": {**_SMALL, "stages": [  # blocks read the previous block's two paths, not only its output
        {"type": "dual_path", "depth": 3, "width": 8, "residual_width": 8, "increment": 4, "groups": 2}]},
}


def _spec(kind: str, efficient: bool = False) -> dict:
    spec = copy.deepcopy({"name": f"tiny_{kind}", **KINDS[kind]})
    for stage in spec["stages"]:
        stage["memory_efficient"] = efficient
    return spec


def _twins(kind: str) -> tuple[keras.Model, keras.Model]:
    """The plain and the memory-efficient model with the same weights and the same random streams."""
    plain, efficient = build_model(_spec(kind)), build_model(_spec(kind, efficient=True))
    copy_weights(plain, efficient)
    seeds = {layer.name: layer.seed_generator for layer in planned_layers(plain) if hasattr(layer, "seed_generator")}
    for layer in planned_layers(efficient):
        if layer.name in seeds:
            layer.seed_generator.state.assign(keras.ops.convert_to_numpy(seeds[layer.name].state.value))
    return plain, efficient


def _values(model: keras.Model) -> dict[str, np.ndarray]:
    return {f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v.value)
            for layer in planned_layers(model) for v in layer.weights}


@pytest.mark.parametrize("kind", KINDS)
def test_same_analytic_and_built_figures_and_one_group_per_block(kind):
    a, b = complexity(_spec(kind)), complexity(_spec(kind, efficient=True))
    assert (a.params, a.total_params, a.macs) == (b.params, b.total_params, b.macs)
    model = build_model(_spec(kind, efficient=True))
    built = model_stats(model)
    assert (built.params, built.total_params, built.macs) == (b.params, b.total_params, b.macs)
    groups = [layer for layer in model.layers if isinstance(layer, Recompute)]
    blocks = sum(stage["depth"] for stage in KINDS[kind]["stages"])
    assert len(groups) == blocks  # a dense stage: each layer
    weighted = {n.name for n in plan(load_spec(_spec(kind))).nodes if n.params or n.state}  # the plain model's
    assert {layer.name for layer in planned_layers(model) if layer.weights} == weighted


def test_dense_layers_recompute_their_concat_norm_and_first_conv():
    groups = [layer for layer in build_model(_spec("dense", True)).layers if isinstance(layer, Recompute)]
    assert [type(c).__name__ for c in groups[1].chain] == ["Concatenate", "BatchNormalization", "Activation", "Conv2D"]


# CI runs these on every Keras backend: recomputation is each backend's own (tf.recompute_grad, jax.checkpoint,
# torch.utils.checkpoint); a dense layer's chain, a residual block with drop path, and DPN's blocks of two outputs
NEUTRAL = {"dense", "residual", "dual_path"}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=[pytest.mark.backend_neutral] if k in NEUTRAL else [])
                                  for k in KINDS])
def test_one_training_step_leaves_the_same_weights_and_norm_statistics(kind):
    """On every backend: same loss, same SGD update (so same gradients, drop path's samples included), and
    moving statistics updated once, not again by the recomputation."""
    plain, efficient = _twins(kind)
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    y = np.eye(5, dtype="float32")[[0, 1, 2, 3]]
    before = _values(efficient)

    def step(model):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        return float(model.train_on_batch(x, y)), _values(model)

    (la, wa), (lb, wb) = step(plain), step(efficient)
    assert la == pytest.approx(lb, abs=1e-6)
    assert wa.keys() == wb.keys() == before.keys()
    moving = [key for key in wb if "moving" in key]
    assert all(not np.allclose(wb[key], before[key]) for key in moving)  # the step updated them
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], atol=1e-5, err_msg=key)
    np.testing.assert_allclose(*(keras.ops.convert_to_numpy(m(x, training=False)) for m in (plain, efficient)),
                               atol=1e-5)


@pytest.mark.parametrize("kind", ["residual", "dual_path"])
def test_weights_travel_both_ways_through_keras_files(kind, tmp_path):
    """A plain model's file fills a memory-efficient one and the other way round, by layer name; the saved file
    of a memory-efficient model holds the plain layers (recomputation only matters while training)."""
    plain, efficient = _twins(kind)
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(plain(x, training=False))
    save_model(plain, tmp_path / "plain.keras")
    save_model(efficient, tmp_path / "efficient.keras")
    loaded = keras.saving.load_model(tmp_path / "efficient.keras", safe_mode=True)
    assert not any(isinstance(layer, Recompute) for layer in loaded.layers)
    for source, spec in (("plain.keras", _spec(kind, efficient=True)), ("efficient.keras", _spec(kind))):
        model = build_model(spec, weights=tmp_path / source)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["densenet", "dpn", "resnext_se", "resnet_cbam"])
def test_source_weights_fill_a_memory_efficient_model(name):
    """A torchvision/timm file maps onto the same layers whether or not they recompute."""
    spec = load_spec(FIXTURES / f"{name}.yaml")
    efficient = spec.model_copy(update={"stages": [s.model_copy(update={"memory_efficient": True})
                                                   for s in spec.stages]})
    model = build_for_source(efficient)
    assert any(isinstance(layer, Recompute) for layer in model.layers)
    load_source_weights(model, FIXTURES / f"{name}.{'pth' if name == 'densenet' else 'safetensors'}")
    reference = np.load(FIXTURES / "reference.npz")
    got = model.predict(reference[f"{name}_images"].astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, reference[f"{name}_probabilities"], atol=1e-4)


def test_one_argument_makes_any_entry_memory_efficient():
    """``build_model(..., memory_efficient=True)`` (``train --memory-efficient``): every stage, the same figures."""
    model = build_model("cifar_resnet20", memory_efficient=True)
    assert [layer.name for layer in model.layers if isinstance(layer, Recompute)] == [
        f"conv{stage}_block{block}" for stage in (2, 3, 4) for block in (1, 2, 3)]
    assert model_stats(model).params == complexity("cifar_resnet20").params
