"""The command line's smaller promises: machine-readable listings, hints, aligned tables,
confirmations, quiet exports, and the API's complexity() sized as build_model is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import archspec
from archspec.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_zoo_list_json_is_one_document_and_a_wrong_family_gets_a_hint():
    rows = json.loads(cli("zoo", "list", "--json").output)
    assert isinstance(rows, list) and {"name", "family", "params", "macs", "published_error"} == set(rows[0])
    result = cli("zoo", "list", "--family", "resnets")
    assert result.exit_code == 1 and "no zoo family 'resnets'; did you mean 'resnet'?" in result.output


def test_zoo_compare_columns_fit_long_names():
    lines = cli("zoo", "compare", "cifar_resnet110_relu_before_add", "resnet18").output.splitlines()
    assert len({len(line) for line in lines[:3]}) == 1  # every row of the summary as wide as the header
    parts = lines[lines.index("per part: output / params / MACs") + 1:]
    assert len({len(line) for line in parts}) == 1 and parts[0].split() == ["part",
                                                                           "cifar_resnet110_relu_before_add", "resnet18"]


def test_build_weights_says_what_it_loaded(tmp_path):
    path = tmp_path / "w.keras"
    assert cli("build", "cifar_resnet20", "--save", str(path)).exit_code == 0
    result = cli("build", "cifar_resnet20", "--weights", str(path))
    assert result.exit_code == 0 and f"loaded the weights of {path} into cifar_resnet20" in result.output
    result = cli("build", "cifar_resnet20", "--weights", str(path), "--json")
    assert json.loads(result.stdout)["name"] == "cifar_resnet20" and "loaded the weights" in result.stderr


def test_complexity_takes_input_size_and_num_classes_like_build_model():
    from archspec.keras.stats import model_stats

    c = archspec.complexity("cifar_resnet20", input_size=8, num_classes=7)
    built = model_stats(archspec.build_model("cifar_resnet20", input_size=8, num_classes=7))
    assert (c.params, c.macs) == (built.params, built.macs)
    assert c.macs < archspec.complexity("cifar_resnet20").macs / 15  # 8x8 instead of 32x32


@pytest.mark.slow
def test_export_prints_only_its_own_line(tmp_path):
    checkpoint = tmp_path / "net.keras"
    assert cli("build", "cifar_resnet20", "--input-size", "8", "--save", str(checkpoint)).exit_code == 0
    result = subprocess.run([sys.executable, "-m", "archspec.cli", "export", str(checkpoint), "--format", "keras",
                             "--out", str(tmp_path / "out.keras")], capture_output=True, text=True, cwd=ROOT,
                            timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                              "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    assert result.stdout.startswith(f"wrote {tmp_path / 'out.keras'} (keras)")


def test_debug_works_after_the_command_too():
    for args in (["--debug", "build", "nothere.yaml"], ["build", "nothere.yaml", "--debug"]):
        result = cli(*args)
        assert type(result.exception).__name__ == "SpecError", args  # raised, with its traceback
    assert cli("build", "nothere.yaml").output == "error: nothere.yaml: no such file\n"
