"""The files archspec exports, loaded by timm's and torchvision's own models with ``strict=True``: full-size,
one entry of each tensor family (and of the ResNet family's block variants), the library's model given the
exported file reproduces archspec's log-probabilities within 1e-3; the file holds, bit for bit, the
tensors the library's file that archspec read held; and a model fine-tuned here for a few steps (a new
3-class head, batch-norm statistics moved) goes back through a timm hub folder and a torchvision file.

Runs where an interpreter with torch, torchvision and timm is at hand (``ARCHSPEC_TORCH_PYTHON``, see
weights_helpers); skipped elsewhere, CI included. That interpreter writes the seeded source files and loads
the exported ones (scripts/torch_reference.py ``full`` and ``exported``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.keras.build import build_model
from archspec.keras.weights.tensors import open_tensors
from archspec.keras.weights_export import export_weights, input_normalisation

from .weights_helpers import SCRIPT, TORCH_PYTHON

NO_TORCH = "needs torch, torchvision and timm, or ARCHSPEC_TORCH_PYTHON"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(TORCH_PYTHON is None, reason=NO_TORCH)]

# (zoo entry, library to export to, file suffix): every family of families.py, timm's twin of a torchvision
# net, the ResNet family's block variants, and both file kinds
ENTRIES = [("resnet50", "torchvision", ".pth"), ("resnet50", "timm", ".safetensors"),
           ("densenet121", "torchvision", ".pth"), ("vgg11", "torchvision", ".safetensors"),
           ("dpn68", "timm", ".safetensors"), ("preact_resnet50", "timm", ".safetensors"),
           ("regnety_002", "timm", ".pth"), ("botnet26t_256", "timm", ".safetensors"),
           ("se_resnet50", "timm", ".safetensors"), ("resnest50d", "timm", ".safetensors"),
           ("skresnet18", "timm", ".safetensors"), ("res2net50_26w_4s", "timm", ".safetensors"),
           ("ecaresnet26t", "timm", ".safetensors")]


def torch_probabilities(library: str, model_name: str, weights: Path, num_classes: int, images: np.ndarray,
                        keras_model, tmp_path: Path) -> np.ndarray:
    """The library's own model given ``weights``, on ``images`` normalised as the Keras model normalises them."""
    norm = input_normalisation(keras_model)
    np.savez(tmp_path / "in.npz", images=images, mean=np.array(norm.mean), std=np.array(norm.std))
    subprocess.run([TORCH_PYTHON, str(SCRIPT), "exported", library, model_name, str(weights), str(num_classes),
                    str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True, capture_output=True)
    return np.load(tmp_path / "out.npz")["probabilities"]


@pytest.mark.parametrize("name,library,suffix", ENTRIES)
def test_the_librarys_own_model_takes_the_exported_file(name, library, suffix, tmp_path):
    subprocess.run([TORCH_PYTHON, str(SCRIPT), "full", name, str(tmp_path)], check=True, capture_output=True)
    source = tmp_path / f"{name}.pth"
    images = np.load(tmp_path / f"{name}.npz")["images"].astype(np.float32)
    model = build_model(name, weights=source)
    out = tmp_path / f"exported{suffix}"
    exported = export_weights(model, library, out, spec=load_spec(name))
    assert exported.difference == 0.0 and not exported.changed_head
    with open_tensors(source) as theirs, open_tensors(out) as ours:
        assert ours.shapes == theirs.shapes
        assert all(np.array_equal(ours.read(k), theirs.read(k)) for k in theirs.shapes)
    got = torch_probabilities(library, exported.model, out, 1000, images, model, tmp_path)
    np.testing.assert_allclose(np.log(got), np.log(model.predict(images, verbose=0)), atol=1e-3)


def test_a_fine_tuned_model_goes_back_with_its_new_head_and_moved_statistics(tmp_path):
    subprocess.run([TORCH_PYTHON, str(SCRIPT), "full", "resnet18", str(tmp_path)], check=True, capture_output=True)
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "resnet18", "--data", "synthetic:64", "--num-classes", "3",
                                       "--input-size", "64", "--epochs", "2", "--batch-size", "16", "--init-from",
                                       str(tmp_path / "resnet18.pth"), "--out", str(run)])
    assert result.exit_code == 0, result.output
    tuned = build_model("resnet18", input_size=64, num_classes=3, weights=run / "best.keras")
    images = np.random.default_rng(5).uniform(0, 255, (4, 64, 64, 3)).round().astype(np.float32)
    expected = np.log(tuned.predict(images, verbose=0))
    for fmt, out in (("torchvision", tmp_path / "tuned.pth"), ("timm", tmp_path / "hub")):
        args = ["export", str(run / "best.keras"), "--format", fmt, "--out", str(out)]
        result = CliRunner().invoke(main, args + (["--hub"] if fmt == "timm" else []))
        assert result.exit_code == 0 and ("num_classes=3" in result.output or fmt == "timm"), result.output
        weights = out / "model.safetensors" if fmt == "timm" else out
        with open_tensors(tmp_path / "resnet18.pth") as before, open_tensors(weights) as after:
            assert not np.array_equal(before.read("bn1.running_mean"), after.read("bn1.running_mean"))
        got = torch_probabilities("hub" if fmt == "timm" else fmt, "resnet18", out, 3, images, tuned, tmp_path)
        np.testing.assert_allclose(np.log(got), expected, atol=1e-3)
