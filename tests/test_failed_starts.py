"""`archspec train` refuses bad input before it writes anything, fine-tunes at a sensible rate by
default, and exits 130 on Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.keras.build import build_model

TINY = {"name": "tiny", "input_shape": [8, 8, 1], "num_classes": 10, "stem": {"type": "cifar", "width": 8},
        "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
                   {"type": "basic", "depth": 1, "width": 16, "stride": 2, "shortcut": "A"}],
        "train": {"epochs": 1, "batch_size": 64}}


WIDER = {**TINY, "stages": [{**TINY["stages"][0], "width": 12}, TINY["stages"][1]]}  # of other widths


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_every_kind_of_failed_start_leaves_no_run_folder(tmp_path):
    net = write_spec(tmp_path / "net.yaml", TINY)
    wider = tmp_path / "wider.keras"
    build_model(WIDER).save(wider)
    np.savez(tmp_path / "bright.npz", x=np.full((20, 8, 8), 300.0), y=np.arange(20) % 10)
    (tmp_path / "bad.yaml").write_text("name: bad\nstages: [{type: basic, depth: 1, width: 8, grups: 2}]\n")
    (tmp_path / "file").write_text("")
    failures = {  # kind: (arguments, what the one paragraph says)
        "data": (["--data", f"folder:{tmp_path / 'missing'}"], "data folder"),
        "npz scale": (["--data", f"npz:{tmp_path / 'bright.npz'}"], "values from 300 to 300"),
        "classes": (["--num-classes", "3"], "head has 3 classes but data digits has 10"),
        "spec": (["--config", str(tmp_path / "bad.yaml")], "unknown field"),
        "init-from missing": (["--init-from", str(tmp_path / "no.keras")], "no.keras': no such file"),
        "init-from widths": (["--init-from", str(wider)], "conv2_block1_1_conv"),
        "freeze past the stages": (["--init-from", str(wider), "--freeze", "3"], "cannot freeze up to stage 3"),
        "freeze without init-from": (["--freeze", "1"], "--freeze 1 keeps pre-trained stages fixed, so it needs "
                                                         "--weights or --init-from"),
    }
    for kind, (arguments, message) in failures.items():
        out = tmp_path / kind.replace(" ", "_")
        result = cli("train", str(net), *arguments, "--out", str(out))
        assert result.exit_code == 1 and message in result.output, (kind, result.output)
        assert "Traceback" not in result.output and not out.exists(), kind
    result = cli("train", str(net), "--out", str(tmp_path / "file" / "run"))
    assert result.exit_code == 1 and "is a file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "bright.npz", "file", "net.yaml",
                                                          "wider.keras"]


def test_a_failed_start_does_not_block_the_corrected_command(tmp_path):
    net, out = write_spec(tmp_path / "net.yaml", TINY), tmp_path / "run"
    wider = tmp_path / "wider.keras"
    build_model(WIDER).save(wider)
    assert cli("train", str(net), "--init-from", str(wider), "--out", str(out)).exit_code == 1
    source = tmp_path / "source"
    assert cli("train", str(net), "--out", str(source)).exit_code == 0
    result = cli("train", str(net), "--init-from", str(source / "last.keras"), "--out", str(out))
    assert result.exit_code == 0, result.output


def test_fine_tuning_defaults_to_a_tenth_of_the_recipes_rate(tmp_path):
    net = write_spec(tmp_path / "net.yaml", TINY)
    assert cli("train", str(net), "--out", str(tmp_path / "source")).exit_code == 0
    checkpoint = tmp_path / "source" / "last.keras"
    result = cli("train", str(net), "--init-from", str(checkpoint), "--freeze", "1", "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert f"fine-tuning from {checkpoint} at lr 0.01, a tenth of the recipe's (--lr sets another)" in result.output
    assert json.loads((tmp_path / "a" / "run.json").read_text())["spec"]["train"]["lr"] == pytest.approx(0.01)
    result = cli("train", str(net), "--init-from", str(checkpoint), "--lr", "0.05", "--out", str(tmp_path / "b"))
    assert result.exit_code == 0 and "fine-tuning" not in result.output
    assert json.loads((tmp_path / "b" / "run.json").read_text())["spec"]["train"]["lr"] == 0.05


def test_ctrl_c_exits_130_without_clicks_aborted(tmp_path, monkeypatch):
    import archspec.train.trainer

    def interrupted(spec, options):
        options.log("interrupted: 0 of 1 epochs are saved")
        raise KeyboardInterrupt

    monkeypatch.setattr(archspec.train.trainer, "train", interrupted)
    result = cli("train", str(write_spec(tmp_path / "net.yaml", TINY)), "--out", str(tmp_path / "run"))
    assert result.exit_code == 130 and result.output.strip().endswith("interrupted: 0 of 1 epochs are saved")
    assert "Aborted" not in result.output
