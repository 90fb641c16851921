"""`archspec export --format litert`: float32 within 1e-4 of Keras, float16, dynamic and fully integer int8
files run back in the LiteRT interpreter, the ImageNet stem and BoTNet's attention in int8, and the refusals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from archspec import build_model
from archspec.cli import main
from archspec.graph import load
from archspec.keras import litert
from archspec.keras.layers import _outer_sum
from archspec.train.inference import Transform, calibration_files, calibration_images

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                                reason="needs the litert extra (ai-edge-litert)")

# A basic block and a grouped bottleneck at 8x8: small enough to convert in seconds.
SMALL = {
    "name": "small", "input_shape": [8, 8, 3], "num_classes": 5, "stem": {"type": "cifar", "width": 8},
    "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
               {"type": "bottleneck", "depth": 1, "width": 8, "stride": 2, "groups": 2, "base_width": 64}],
}


def images(size: int, count: int = 6) -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def zoo(name: str, size: int):
    spec = load.load_spec(name)
    return build_model(load.load_spec(spec, overrides=load.resized(spec, size, 10)))


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    """PNG files in class folders, and a file that is no image, which calibration passes over."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("calibration")
    for index, pixels in enumerate(images(12, 8).astype(np.uint8)):
        (folder / f"class{index % 2}").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / f"class{index % 2}" / f"{index}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_calibration_reads_the_images_of_a_folder_in_any_layout(calibration):
    files = calibration_files(calibration)
    assert len(files) == 9 and files == calibration_files(calibration)  # a fixed sample, the text file included
    assert calibration_images(files, Transform.of(16, None), 3, 5).shape == (5, 16, 16, 3)
    assert len(calibration_images(files, Transform.of(16, None), 3, 100)) == 8  # the text file passed over


def test_outer_sum_is_the_six_d_sum():
    """The 4-D form BoTNet's and HaloNet's position logits now use adds the same numbers as the 6-D one
    LiteRT could not slice."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4, 5, 4)).astype(np.float32), rng.normal(size=(2, 3, 4, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(ops.convert_to_numpy(_outer_sum(a, b)).reshape(2, 3, 4, 5, 4, 5),
                                  a[..., :, None] + b[..., None, :])


@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic",
                                      pytest.param("int8", marks=pytest.mark.slow)])
def test_each_quantization_runs_back(tmp_path, quantize):
    model = build_model(SMALL)
    report = litert.write(model, quantize, tmp_path / "small.tflite", images(8) if quantize == "int8" else None)
    assert (tmp_path / "small.tflite").is_file() and list(tmp_path.iterdir()) == [tmp_path / "small.tflite"]
    if quantize == "none":
        assert report.difference <= 1e-4 and report.agreement is None
        assert (report.input_type, report.output_type) == ("float32", "float32")
    else:
        assert 0 <= report.agreement <= 1 and report.difference < 1
    if quantize == "int8":  # fully integer: pixels in, class scores out, both int8
        assert (report.input_type, report.output_type) == ("int8", "int8")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "botnet26t_256"])
def test_int8_runs_for_the_stem_and_attention(tmp_path, name):
    """The ImageNet stem's -inf padding is a zero padding in the converted form, so int8's scales stay finite;
    BoTNet's attention slices no more than 5-D tensors."""
    report = litert.write(zoo(name, 64), "int8", tmp_path / "m.tflite", images(64, 4))
    assert report.input_type == "int8" and report.agreement is not None


@pytest.mark.slow
def test_a_file_litert_cannot_run_is_not_kept(tmp_path, monkeypatch):
    """Without the built-in form, the stem's -inf padding gives int8 a scale of 1e36 that LiteRT cannot
    prepare: one sentence, and no file."""
    monkeypatch.setattr(litert, "portable", lambda model: model)
    with pytest.raises(litert.RunError, match="converts to LiteRT .int8. but the LiteRT interpreter cannot run it"):
        litert.write(zoo("resnet18", 64), "int8", tmp_path / "m.tflite", images(64, 4))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_int8_with_calibration_folder(tmp_path, calibration):
    out = tmp_path / "r20.tflite"
    result = CliRunner().invoke(main, ["export", "cifar_resnet20", "--input-size", "12", "--format", "litert",
                                       "--quantize", "int8", "--calibration", str(calibration), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "input int8, output int8" in result.output and "on 8 calibration images" in result.output
    assert out.is_file()


@pytest.mark.parametrize("args, message", [
    (["--quantize", "int8"], "--quantize int8 needs --calibration DIR"),
    (["--quantize", "int8", "--calibration", "EMPTY"], "holds no readable images (1 files"),
    (["--quantize", "float16", "--format", "onnx"], "--quantize applies to --format litert, not onnx"),
    (["--out", "EXISTS"], "exists: pass --force"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images here")
    (tmp_path / "exists.tflite").write_bytes(b"old")
    args = [{"EMPTY": str(tmp_path / "empty"), "EXISTS": str(tmp_path / "exists.tflite")}.get(a, a) for a in args]
    result = CliRunner().invoke(main, ["export", "cifar_resnet20", "--format", "litert", "--out",
                                       str(tmp_path / "new.tflite"), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "new.tflite").exists() and (tmp_path / "exists.tflite").read_bytes() == b"old"


def test_the_check_runs_in_the_python_named(tmp_path, monkeypatch):
    """ARCHSPEC_LITERT_PYTHON: a venv holding ai-edge-litert alone; a missing one is refused before any work."""
    monkeypatch.setenv(litert.PYTHON_VARIABLE, str(tmp_path / "no-python"))
    with pytest.raises(litert.RunError, match="ARCHSPEC_LITERT_PYTHON=.*no-python: no such Python"):
        litert.run("cifar_resnet20", out=tmp_path / "r20.tflite")
