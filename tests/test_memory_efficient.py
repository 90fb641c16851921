"""Memory-efficient dense blocks compute exactly what plain ones compute, with fewer stored tensors."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest

from archspec import build_model, complexity
from archspec.keras.layers import Recompute
from archspec.keras.stats import model_stats

pytestmark = pytest.mark.backend_neutral  # CI runs these on every Keras backend

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


def test_one_training_step_leaves_the_same_weights_and_norm_statistics(twins):
    """On every backend: same loss, same SGD update (so same gradients), and moving statistics
    updated once, not again by the recomputation."""
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    y = np.eye(5, dtype="float32")[[0, 1, 2, 3]]

    def step(model):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        loss = model.train_on_batch(x, y)
        return float(loss), {f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v.value)
                             for layer in _weighted_layers(model).values() for v in layer.weights}

    before = {f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v.value)
              for layer in _weighted_layers(twins[1]).values() for v in layer.weights}
    (la, wa), (lb, wb) = step(twins[0]), step(twins[1])
    assert la == pytest.approx(lb, abs=1e-6)
    assert wa.keys() == wb.keys() == before.keys()
    moving = [key for key in wb if "moving" in key]
    assert moving and all(not np.allclose(wb[key], before[key]) for key in moving)  # the step updated them
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], atol=1e-5, err_msg=key)
    np.testing.assert_allclose(*(keras.ops.convert_to_numpy(m(x, training=False)) for m in twins), atol=1e-5)


def test_saves_and_loads_safely(twins, tmp_path):
    _, efficient = twins
    efficient.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(*(keras.ops.convert_to_numpy(m(x, training=False)) for m in (efficient, loaded)))
