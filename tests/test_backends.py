"""Every Keras backend: what runs without TensorFlow installed, and gradients that agree across backends.

Each check runs in a fresh Python on the backend it names (Keras picks its backend once per process).
The rest of the suite runs on whichever backend KERAS_BACKEND names; the tests marked ``backend_neutral``
are the ones CI runs on JAX and torch as well as TensorFlow (README, "Tests").
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import backend_params, run_on_backend
from .weights_helpers import FIXTURES

PHOTO = FIXTURES.parent / "transforms" / "photo_375x500.jpg"

WITHOUT_TENSORFLOW = """
import json, sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from archspec.cli import main
from archspec.keras.model_io import load_model, save_model
from archspec.keras.weights.transfer import load_source_weights
from tests.weights_helpers import FIXTURES, build_for_source

out = {}
reference = np.load(FIXTURES / "reference.npz")
model = build_for_source(FIXTURES / "resnext_se.yaml")
load_source_weights(model, FIXTURES / "resnext_se.safetensors")
images = reference["resnext_se_images"].astype("float32")
out["weights_error"] = float(np.abs(model.predict(images, verbose=0) - reference["resnext_se_probabilities"]).max())
save_model(model, Path("m.keras"))
again = load_model("m.keras", compile=False)
out["reload_error"] = float(np.abs(again.predict(images, verbose=0) - model.predict(images, verbose=0)).max())

runner = CliRunner()
def cli(*args):
    result = runner.invoke(main, list(args))
    return {"exit": result.exit_code, "output": result.output[-600:]}
out["build"] = cli("build", "resnet50", "--summary")
out["bench"] = cli("bench", "cifar_resnet20", "--batch-size", "2", "--steps", "1", "--json")
out["predict"] = cli("predict", "m.keras", sys.argv[1], "--top", "2", "--json")
out["export"] = cli("export", "m.keras", "--format", "keras", "--out", "copy.keras")
out["train"] = cli("train", "cifar_resnet20", "--epochs", "1", "--input-size", "8", "--out", "run")
out["evaluate"] = cli("evaluate", "m.keras", "--data", "digits")
out["savedmodel"] = cli("export", "m.keras", "--format", "savedmodel", "--out", "sm")
out["tensorflow_imported"] = sys.modules.get("tensorflow") is not None
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", backend_params("jax", "torch"))
def test_build_weights_predict_bench_and_export_run_without_tensorflow(backend, tmp_path):
    result = run_on_backend(backend, WITHOUT_TENSORFLOW, args=[str(PHOTO)], without_tensorflow=True, cwd=tmp_path)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["weights_error"] < 1e-4 and out["reload_error"] < 1e-5
    for command in ("build", "bench", "predict", "export"):
        assert out[command]["exit"] == 0, (command, out[command]["output"])
    assert "stage4" in out["build"]["output"] and json.loads(out["bench"]["output"].splitlines()[-1])["train_img_s"] > 0
    assert len(json.loads(out["predict"]["output"].splitlines()[-1])["classes"]) == 2
    # what needs TensorFlow says so in one line (SavedModel on torch: no backend there writes one), writing nothing
    assert "training needs TensorFlow, which is not installed" in out["train"]["output"]
    for command in ("train", "evaluate", "savedmodel"):
        assert out[command]["exit"] != 0 and "tensorflow" in out[command]["output"].lower()
        assert "Traceback" not in out[command]["output"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "sm").exists()
    assert not out["tensorflow_imported"]


GRADIENTS = """
import json, sys
import numpy as np
import keras
from archspec.keras.autodiff import probed, variable_gradients
from archspec.keras.model_io import load_model

model = load_model(sys.argv[1], compile=False)
x, y = (np.load(sys.argv[2])[k] for k in ("x", "y"))
probe, offsets = probed(model, ["conv2_block1_out", "conv3_block1_out"], len(x))
loss = keras.losses.CategoricalCrossentropy(from_logits=True)
weights = model.get_layer("conv2_block1_1_conv").trainable_weights
grads = variable_gradients(lambda: loss(y, probe(x, training=True)), offsets + weights)
print(json.dumps([g.tolist() for g in grads]))
"""


@pytest.fixture(scope="module")
def gradient_case(tmp_path_factory):
    """A small residual net saved on TensorFlow, one batch, and TensorFlow's gradients at two block
    outputs and one conv kernel."""
    from archspec.keras.build import build_model

    folder = tmp_path_factory.mktemp("gradients")
    spec = {"name": "grad_net", "input_shape": [16, 16, 3], "num_classes": 5, "head": {"activation": "linear"},
            "stem": {"type": "cifar", "width": 8}, "stages": [{"type": "basic", "depth": 1, "width": 8},
                                                              {"type": "basic", "depth": 1, "width": 16}]}
    build_model(spec, seed=0).save(folder / "net.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "batch.npz", x=rng.uniform(0, 255, (4, 16, 16, 3)).astype("float32"),
             y=np.eye(5, dtype="float32")[rng.integers(0, 5, 4)])
    result = run_on_backend("tensorflow", GRADIENTS, args=[str(folder / "net.keras"), str(folder / "batch.npz")])
    return folder, [np.array(g) for g in json.loads(result.stdout.strip().splitlines()[-1])]


@pytest.mark.slow
@pytest.mark.parametrize("backend", backend_params("jax", "torch"))
def test_gradients_at_block_outputs_and_weights_agree_with_tensorflow(backend, gradient_case):
    folder, expected = gradient_case
    result = run_on_backend(backend, GRADIENTS, args=[str(folder / "net.keras"), str(folder / "batch.npz")])
    got = [np.array(g) for g in json.loads(result.stdout.strip().splitlines()[-1])]
    assert [g.shape for g in got] == [e.shape for e in expected]
    assert all(np.abs(e).max() > 0 for e in expected)  # every gradient reaches what it measures
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-5 * np.abs(e).max())
