"""Memory-efficient dense blocks compute exactly what plain ones compute, with fewer stored tensors."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest
import tensorflow as tf

from archspec import build_model, complexity
from archspec.keras.layers import Recompute
from archspec.keras.stats import model_stats

PLAIN = {
    "name": "tiny_dense", "input_shape": [16, 16, 3], "num_classes": 5,
    "stem": {"type": "cifar", "width": 8, "normalize": False},
    "stages": [{"type": "dense", "depth": 3, "growth_rate": 4, "bn_size": 2},
               {"type": "dense", "depth": 2, "growth_rate": 4, "stride": 2, "compression": 0.5},
               {"type": "dense", "depth": 2, "growth_rate": 4, "bn_size": None, "stride": 2}],
}


def _efficient(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    for stage in spec["stages"]:
        stage["memory_efficient"] = True
    return spec


def _weighted_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Layers with weights by name, looking inside Recompute chains (they keep their names)."""
    return {sub.name: sub for layer in model.layers for sub in getattr(layer, "chain", [layer]) if sub.weights}


@pytest.fixture(scope="module")
def twins():
    plain, efficient = build_model(PLAIN), build_model(_efficient(PLAIN))
    theirs = _weighted_layers(plain)
    ours = _weighted_layers(efficient)
    assert set(ours) == set(theirs)
    for name, layer in ours.items():
        layer.set_weights(theirs[name].get_weights())
    return plain, efficient


def test_same_analytic_and_built_figures():
    a, b = complexity(PLAIN), complexity(_efficient(PLAIN))
    assert (a.params, a.total_params, a.macs) == (b.params, b.total_params, b.macs)
    built = model_stats(build_model(_efficient(PLAIN)))
    assert (built.params, built.total_params, built.macs) == (b.params, b.total_params, b.macs)


def test_each_layer_recomputes_its_concat_norm_and_first_conv(twins):
    _, efficient = twins
    chains = [layer for layer in efficient.layers if isinstance(layer, Recompute)]
    assert len(chains) == 7
    assert [type(c).__name__ for c in chains[1].chain] == ["Concatenate", "BatchNormalization", "Activation", "Conv2D"]


def test_identical_outputs_gradients_and_norm_statistics_in_a_compiled_step(twins):
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32"))
    y = tf.one_hot([0, 1, 2, 3], 5)

    def step(model):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
            return loss, tape.gradient(loss, model.trainable_weights)
        loss, grads = run()
        by_name = {f"{v.path.split('/')[-2]}/{v.name}": g for v, g in zip(model.trainable_weights, grads)}
        stats = {l.name: l.moving_variance.numpy() for l in _weighted_layers(model).values()
                 if isinstance(l, keras.layers.BatchNormalization)}
        return loss, by_name, stats

    (la, ga, sa), (lb, gb, sb) = step(twins[0]), step(twins[1])
    assert float(la) == pytest.approx(float(lb), abs=1e-6)
    assert ga.keys() == gb.keys()
    for key in ga:
        np.testing.assert_allclose(ga[key], gb[key], atol=1e-5)
    for key in sa:  # updated once per step, not again by the recomputation
        np.testing.assert_allclose(sa[key], sb[key], atol=1e-6)
    np.testing.assert_allclose(twins[0](x, training=False), twins[1](x, training=False), atol=1e-5)


def test_saves_and_loads_safely(twins, tmp_path):
    _, efficient = twins
    efficient.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(efficient(x, training=False), loaded(x, training=False))
