"""What a person sees in the first hour: no library's C++ logs, numbered epochs, a picture of the curves,
progress bars only on a terminal."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.train.curves import CURVES, draw_curves
from tests.helpers import ROOT

# The absl banner, TensorFlow's C++ log lines (I0000 00:00:... port.cc:153] oneDNN ...) and what follows them.
LIBRARY_LOGS = re.compile(r"absl::InitializeLog|^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+|oneDNN|cudart|cpu_feature_guard|"
                          r"cuInit|To enable the following instructions", re.MULTILINE)


def archspec(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command as a person runs it: its own process, stdout and stderr piped (not a terminal)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ARCHSPEC_DEBUG")}
    return subprocess.run([sys.executable, "-m", "archspec.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**environment, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.slow
def test_train_says_only_its_own_words_numbers_each_epoch_and_draws_its_curves(tmp_path):
    result = archspec("train", "cifar_resnet20", "--input-size", "8", "--epochs", "1", "--data", "synthetic:64",
                      "--batch-size", "16", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not LIBRARY_LOGS.search(result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    epochs = [line for line in result.stdout.splitlines() if line.startswith("Epoch ")]
    assert len(epochs) == 1 and epochs[0].startswith("Epoch 1/1 - ") and "val_accuracy" in epochs[0]
    curves = tmp_path / "run" / CURVES
    assert curves.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_raw_logs_on_request(tmp_path):
    start = "from archspec.keras.quiet import import_tensorflow; import_tensorflow()"
    quiet = subprocess.run([sys.executable, "-c", start], capture_output=True, text=True, cwd=ROOT, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    loud = subprocess.run([sys.executable, "-c", start], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "ARCHSPEC_DEBUG": "1"})
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    assert not LIBRARY_LOGS.search(quiet.stderr)
    assert LIBRARY_LOGS.search(loud.stderr), "TensorFlow wrote nothing even when asked: nothing to show raw"


def test_debug_flag_does_not_outlive_its_command():
    CliRunner().invoke(main, ["--debug", "validate", "cifar_resnet20"])
    assert "ARCHSPEC_DEBUG" not in os.environ


def test_a_piped_command_writes_nothing_on_stderr():
    result = CliRunner().invoke(main, ["sample", "--macs", "360M:400M", "--count", "2", "--seed", "1"])
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    assert len(result.stdout.splitlines()) == 3  # the header and the two drawn specs


def fake_run(folder: Path, epochs: int, final_loss: float) -> Path:
    """A run folder as `archspec train` leaves it, as far as plot reads it: run.json and history.csv."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"spec": {"name": folder.name}}))
    rows = [{"epoch": e, "loss": final_loss * (epochs + 1 - e), "accuracy": e / (epochs + 1),
             "val_loss": final_loss * (epochs + 2 - e), "val_accuracy": e / (epochs + 2),
             "learning_rate": 0.1 if 2 * e <= epochs else 0.01} for e in range(1, epochs + 1)]
    with (folder / "history.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_plot_draws_several_runs_on_one_figure(tmp_path):
    plain20, plain56 = fake_run(tmp_path / "plain20", 6, 0.3), fake_run(tmp_path / "plain56", 4, 0.5)
    out = tmp_path / "both.png"
    result = CliRunner().invoke(main, ["plot", str(plain20), str(plain56), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}\n" and out.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.png", "plain20", "plain56"]  # nothing half-written


@pytest.mark.parametrize("second, out, message", [
    ("nowhere", "c.png", "'{tmp}/nowhere' is not a run folder"),
    (None, "c.txt", "the file must end in .png, .svg, .pdf"),
    (None, "missing/c.png", "cannot write '{tmp}/missing/c.png'"),
])
def test_plot_refuses_in_one_line(tmp_path, second, out, message):
    fake_run(tmp_path / "plain20", 2, 0.3)
    runs = [str(tmp_path / "plain20"), *([str(tmp_path / second)] if second else [])]
    result = CliRunner().invoke(main, ["plot", *runs, "--out", str(tmp_path / out)])
    assert result.exit_code == 1 and message.format(tmp=tmp_path) in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not list(tmp_path.glob("*.png")) + list(tmp_path.glob(".*"))


def test_curves_of_a_run_without_validation_draw_what_there_is(tmp_path):
    draw_curves({"run": [{"epoch": 1.0, "loss": 2.0, "accuracy": 0.1, "learning_rate": 0.1}]}, tmp_path / "c.svg")
    assert "<svg" in (tmp_path / "c.svg").read_text()


def test_device_warnings_in_archspecs_words(tmp_path, monkeypatch):
    from archspec.keras import devices

    monkeypatch.setattr(devices, "GPU_DEVICE_FILES", str(tmp_path / "nvidia[0-9]*"))
    assert devices.device_warnings("CPU", None) == []
    (tmp_path / "nvidia0").touch()
    gpu, = devices.device_warnings("CPU", None)
    assert gpu.startswith("warning: this machine has an NVIDIA GPU, but Keras's") and "--debug" in gpu
    assert devices.device_warnings("NVIDIA H100", "float16") == []
    assert any("float16 on the CPU" in w for w in devices.device_warnings("CPU", "float16"))


@pytest.fixture
def photos(tmp_path) -> Path:
    """A class folder per class, ten good JPEGs each, a text file named .jpg and a JPEG cut in half among them."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(root / name / f"{i}.jpg")
    (root / "cat" / "notes.jpg").write_text("not a picture\n")
    whole = (root / "cat" / "0.jpg").read_bytes()
    (root / "dog" / "cut.jpg").write_bytes(whole[:len(whole) // 2])
    return root


BROKEN = {"notes.jpg": "not an image (archspec reads PNG, JPEG, GIF, BMP)",
          "cut.jpg": "truncated: the file ends before its image does"}


def test_image_problems_in_archspecs_words(photos, tmp_path):
    from PIL import Image

    from archspec.train.sources.check import image_problem

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.tiff")
    assert image_problem(str(photos / "cat" / "1.jpg")) is None
    assert image_problem(str(photos / "cat" / "notes.jpg")) == BROKEN["notes.jpg"]
    assert image_problem(str(photos / "dog" / "cut.jpg")) == BROKEN["cut.jpg"]
    assert image_problem(str(tmp_path / "photo.tiff")).startswith("a TIFF image, a format archspec does not read")
    assert image_problem(str(tmp_path / "absent.png")) == "no such file"


def test_data_check_lists_every_broken_image(photos):
    result = CliRunner().invoke(main, ["data", "check", f"folder:{photos}"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{photos / 'cat' / 'notes.jpg'}: {BROKEN['notes.jpg']}",
                                          f"{photos / 'dog' / 'cut.jpg'}: {BROKEN['cut.jpg']}"]
    assert result.stderr.startswith("error: 2 of the 22 images") and "Traceback" not in result.stderr
    for broken in BROKEN:
        next(photos.rglob(broken)).unlink()
    result = CliRunner().invoke(main, ["data", "check", f"folder:{photos}"])
    assert result.exit_code == 0 and result.stdout == f"all 20 images of folder:{photos} decode whole\n"


@pytest.mark.parametrize("source", ["digits", "tfds:beans", "tfrecord:shards/train-*", "synthetic:8", "data.npz"])
def test_data_check_says_in_a_line_that_other_sources_hold_no_files_to_check(source):
    """Before opening the source: a tfds name is not downloaded, a missing file is not looked for."""
    from archspec.cli.data import DECODED_ELSEWHERE
    from archspec.train.data import SOURCE_KINDS

    assert set(DECODED_ELSEWHERE) == set(SOURCE_KINDS) - {"folder"}  # every kind of source has its line
    result = CliRunner().invoke(main, ["data", "check", source])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1, result.output
    assert result.stdout.startswith(f"{source}: nothing to check: its images are ")
    assert "folder:PATH" in result.stdout


def test_predict_names_a_file_that_is_no_image(photos, tmp_path):
    model = tmp_path / "net.keras"
    built = CliRunner().invoke(main, ["build", "cifar_resnet20", "--input-size", "8", "--save", str(model)])
    assert built.exit_code == 0
    for name, problem in BROKEN.items():
        result = CliRunner().invoke(main, ["predict", str(model), str(next(photos.rglob(name)))])
        assert result.exit_code == 1
        assert result.stderr == f"error: cannot read image '{next(photos.rglob(name))}': {problem}\n"


@pytest.mark.slow
def test_train_refuses_broken_images_before_training_and_skips_them_when_asked(photos, tmp_path):
    args = ["train", "cifar_resnet20", "--input-size", "8", "--epochs", "1", "--batch-size", "4",
            "--num-classes", "2", "--data", f"folder:{photos}", "--out", str(tmp_path / "run")]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and not (tmp_path / "run").exists()
    assert refused.stderr.startswith("error: 2 of the 22 images of folder:") and "--skip-broken" in refused.stderr
    assert all(f"{next(photos.rglob(name))}': {problem}" in refused.stderr for name, problem in BROKEN.items())
    skipped = CliRunner().invoke(main, [*args, "--skip-broken"])
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stderr.startswith("skipped 2 of the 22 images of folder:")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train_images"] + metrics["val_images"] == 20  # the broken two left out, every good one kept
    assert json.loads((tmp_path / "run" / "run.json").read_text())["skip_broken"] is True  # a resumed run knows
