"""Export round trips (.keras, SavedModel, ONNX), `plot` and `diff`."""

from __future__ import annotations

import importlib.util

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from archspec import build_model
from archspec.cli import main
from archspec.graph.diff import diff_report, field_changes
from archspec.graph.load import load_spec
from archspec.keras.drawing import stage_diagram
from archspec.keras.export import load_source, parity, run
from archspec.keras.model_io import save_model

from .helpers import numpy

# A basic block, a grouped bottleneck and option-A padding: every custom layer an export meets.
SMALL = {
    "name": "small", "input_shape": [8, 8, 3], "num_classes": 5, "stem": {"type": "cifar", "width": 8},
    "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
               {"type": "bottleneck", "depth": 1, "width": 8, "stride": 2, "groups": 2, "base_width": 64}],
}
ONNX = importlib.util.find_spec("tf2onnx") and importlib.util.find_spec("onnxruntime")


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved model with weights that differ from a fresh build's."""
    model = build_model(SMALL)
    model.set_weights([w + np.random.default_rng(1).normal(0, 0.05, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    path = tmp_path_factory.mktemp("ckpt") / "small.keras"
    save_model(model, path)
    return path


@pytest.mark.backend_neutral
def test_keras_export_reloads_safely_with_identical_outputs(checkpoint, tmp_path):
    out, difference = run(str(checkpoint), "keras", tmp_path / "copy.keras")
    assert difference == 0.0
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    original = keras.saving.load_model(checkpoint, safe_mode=True)
    again = keras.saving.load_model(out, safe_mode=True)
    np.testing.assert_array_equal(numpy(original(x)), numpy(again(x)))


def test_savedmodel_export_matches_keras(checkpoint, tmp_path):
    out, difference = run(str(checkpoint), "savedmodel", tmp_path / "served")
    assert (out / "saved_model.pb").is_file() and difference < 1e-5
    run(str(checkpoint), "savedmodel", out, force=True)  # a second export replaces the folder whole
    assert [p.name for p in tmp_path.iterdir()] == ["served"]


@pytest.mark.skipif(not ONNX, reason="the onnx extra (tf2onnx, onnxruntime) is not installed")
def test_onnx_export_matches_keras_in_onnxruntime(checkpoint, tmp_path):
    result = cli("export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "small.onnx"))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "outputs match Keras within" in result.output


def test_a_mixed_precision_model_exports_in_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(SMALL)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    path = tmp_path / "mixed.keras"
    save_model(model, path)
    out, difference = run(str(path), "savedmodel", tmp_path / "served")
    assert difference is not None and difference < 1e-5


def test_a_spec_exports_with_fresh_weights_at_another_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("export", "cifar_resnet20", "--input-size", "8", "--num-classes", "3")
    assert result.exit_code == 0, result.output
    model = keras.saving.load_model(tmp_path / "cifar_resnet20.keras", safe_mode=True)
    assert model.input_shape == (None, 8, 8, 3) and model.output_shape == (None, 3)


def test_export_errors_are_one_paragraph(tmp_path, monkeypatch):
    result = cli("export", str(tmp_path / "nope.keras"))
    assert result.exit_code == 1 and result.output.endswith("nope.keras: no such file\n")
    result = cli("export", "cifar_resnet20", "--format", "onnx", "--out", str(tmp_path / "x.keras"))
    assert result.exit_code == 1
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    result = cli("export", "cifar_resnet20", "--format", "onnx")
    assert result.exit_code == 1 and "pip install 'archspec[onnx]'" in result.output


def test_parity_sees_a_different_model(checkpoint, tmp_path):
    other = build_model(SMALL)
    save_model(other, tmp_path / "other.keras")
    assert parity(load_source(str(checkpoint))[0], "keras", tmp_path / "other.keras") > 1e-3


@pytest.mark.parametrize("fmt, name", [("keras", "features.keras"), ("savedmodel", "served")])
def test_a_backbone_exports_with_every_feature_map_checked(tmp_path, fmt, name):
    backbone = tmp_path / "backbone.keras"
    save_model(build_model(SMALL, features=True), backbone)
    out, difference = run(str(backbone), fmt, tmp_path / name)
    assert difference is not None and difference < 1e-4
    other = tmp_path / "other.keras"
    save_model(build_model(SMALL, features=True, seed=3), other)
    assert parity(load_source(str(backbone))[0], "keras", other) > 1e-3  # each map is compared, not just their names


# ---- plot and diff -----------------------------------------------------------------------------


def test_stage_diagram_shows_every_part_with_shapes_and_params():
    lines = stage_diagram(load_spec("cifar_resnet20")).splitlines()
    assert lines[0] == "cifar_resnet20: 269,722 params, 0.041 GMACs, depth 20"
    assert [line.split()[0] for line in lines[1:]] == ["input", "stem", "stage1", "stage2", "stage3", "head"]
    assert "3 x basic [3x3 32, 3x3 32] + shortcut A, stride 2" in lines[4] and lines[4].endswith("16x16x32       51,072")
    assert "1x1 128, 3x3 128/32g, 1x1 256" in stage_diagram(load_spec("resnext50_32x4d"))


def test_plot_without_graphviz_prints_the_diagram_then_says_what_is_missing(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = cli("plot", "cifar_resnet20", "--out", str(tmp_path / "net.png"))
    assert result.exit_code == 1 and "stage1" in result.output
    assert "needs" in result.output and "Graphviz" in result.output and not (tmp_path / "net.png").exists()


def test_diff_names_changed_fields_and_size_changes():
    changes = field_changes(load_spec("resnet50").model_dump(), load_spec("specs/resnet50_d.yaml").model_dump())
    assert ("stem.type", "imagenet", "deep") in changes and ("stages[0].shortcut", "B", "D") in changes
    report = diff_report(load_spec("cifar_resnet20"), load_spec("cifar_plain56"))
    assert "stages[0].type: basic -> plain" in report and "stages[0].shortcut" not in report
    assert "269,722       853,018 +583,296 (+216.26%)" in report and "depth 20 -> 56" in report
    assert cli("diff", "resnet50", "resnet50").output.startswith("A: resnet50, B: resnet50: no fields differ")
