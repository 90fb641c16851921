"""Saved models of every family load with plain ``keras.saving.load_model(path, safe_mode=True)`` in a
fresh process, whichever of keras and archspec is imported first, and ``import archspec`` alone
imports neither Keras nor TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archspec import build_model

from .helpers import smallest_of_each_family

ROOT = Path(__file__).resolve().parents[1]
MEMORY_EFFICIENT = {"name": "memory_efficient_dense", "input_shape": [16, 16, 3], "num_classes": 3,
                    "stem": {"type": "cifar", "width": 8},
                    "stages": [{"type": "dense", "depth": 2, "growth_rate": 4, "memory_efficient": True}]}


LOADER = """
import json, sys
import numpy as np
first = sys.argv[1]
if first == "archspec":
    import archspec
    assert not {"keras", "tensorflow"} & set(sys.modules), "import archspec imported keras or TensorFlow"
import keras
if first == "keras":
    import archspec
for path, expected in json.loads(sys.stdin.read()).items():
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    x = np.load(path + ".npy")
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(expected), rtol=1e-5, atol=1e-6)
print("loaded", len(model.layers))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, list]:
    """One small saved model per zoo family, plus a memory-efficient DenseNet: every archspec layer."""
    folder = tmp_path_factory.mktemp("saved")
    outputs = {}
    rng = np.random.default_rng(0)
    for spec in [*smallest_of_each_family(), MEMORY_EFFICIENT]:
        model = build_model(spec, input_size=32 if isinstance(spec, str) else None, num_classes=3, seed=0)
        path = folder / f"{model.name}.keras"
        model.save(path)
        x = rng.uniform(0, 255, (2, *model.input_shape[1:])).astype("float32")
        np.save(f"{path}.npy", x)
        outputs[str(path)] = np.asarray(model(x, training=False)).tolist()
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize("first", ["archspec", "keras"])
def test_every_family_loads_with_plain_keras_in_a_fresh_process(saved, first):
    result = subprocess.run([sys.executable, "-c", LOADER, first], input=json.dumps(saved), capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded" in result.stdout


def test_without_archspec_keras_cannot_find_the_layers(tmp_path):
    """What the registration fixes: a fresh process importing only keras does not know archspec's layers."""
    code = "import keras; print(keras.saving.get_registered_object('archspec>ChannelPad'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.stdout.strip() == "None", result.stderr[-2000:]
