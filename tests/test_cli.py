"""The CLI through click's CliRunner: outputs, exit codes, atomic saves."""

from __future__ import annotations

import json

import keras
import pytest
from click.testing import CliRunner

from archspec import complexity
from archspec.cli import main

BAD_SPEC = """\
name: broken
input_shape: [32, 32, 3]
stages:
  - {type: basic, depth: 2, width: 16}
  - {type: bottlenek, depth: 2, width: 32}
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_build_json_has_the_documented_keys_and_exact_figures():
    result = run("build", "cifar_resnet20", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"name", "params", "total_params", "macs", "layers", "input_shape", "num_classes"}
    c = complexity("cifar_resnet20")
    assert (data["params"], data["macs"], data["total_params"]) == (269722, c.macs, c.total_params)
    assert data["input_shape"] == [32, 32, 3] and data["num_classes"] == 10


def test_build_overrides_input_size_and_classes():
    data = json.loads(run("build", "cifar_resnet20", "--json", "--input-size", "64", "--num-classes", "7").output)
    assert data["input_shape"] == [64, 64, 3] and data["num_classes"] == 7
    conv_macs = complexity("cifar_resnet20").macs - 64 * 10  # all but the 64->10 classifier
    assert data["macs"] == conv_macs * 4 + 64 * 7  # twice the side: four times the conv work


def test_build_summary_prints_keras_summary_and_stage_table():
    result = run("build", "specs/resnext50.yaml", "--summary")
    assert result.exit_code == 0, result.output
    assert "conv2_block1_2_conv" in result.output and "Total params" in result.output
    assert "25,028,904 params" in result.output and "stage4" in result.output


def test_build_save_writes_a_loadable_file_atomically(tmp_path):
    out = tmp_path / "net.keras"
    assert run("build", "cifar_resnet20", "--save", str(out)).exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["net.keras"]
    model = keras.saving.load_model(out, safe_mode=True)
    assert model.count_params() == complexity("cifar_resnet20").total_params


def test_build_save_into_missing_folder_fails_before_building(tmp_path):
    result = run("build", "cifar_resnet20", "--save", str(tmp_path / "nope" / "net.keras"))
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "nope").exists()


def test_bad_spec_is_exit_1_with_location_and_suggestion(tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BAD_SPEC)
    for command in ("build", "validate"):
        result = run(command, str(spec))
        assert result.exit_code == 1
        assert f"{spec}:5:" in result.output and "bottleneck" in result.output
        assert "Traceback" not in result.output


def test_unknown_spec_name_is_exit_1():
    result = run("build", "resnet51")
    assert result.exit_code == 1 and "resnet50" in result.output


@pytest.mark.parametrize("args", [["build"], ["build", "x", "--input-size", "zero"], ["nope"],
                                  ["build", "resnet50", "--save", "out.h5"]])
def test_usage_errors_exit_2(args):
    assert run(*args).exit_code == 2


def test_validate_reports_every_spec():
    result = run("validate", "resnet50", "specs/resnext50.yaml")
    assert result.exit_code == 0
    assert "ok resnet50: 25,557,032 params, 4.089 GMACs" in result.output


def test_zoo_list_and_show():
    listing = run("zoo", "list")
    assert listing.exit_code == 0
    assert "cifar_resnet110" in listing.output and "6.43%" in listing.output
    rows = json.loads(run("zoo", "list", "--json").output)  # one document: json.load reads it
    assert {"name": "resnet50", "family": "resnet", "params": 25557032} .items() <= next(
        r for r in rows if r["name"] == "resnet50").items()
    shown = run("zoo", "show", "resnet50")
    assert shown.exit_code == 0 and "type: bottleneck" in shown.output and "published:" in shown.output
    assert run("zoo", "list", "--family", "nope").exit_code == 1
    assert "no zoo family 'resnets'; did you mean 'resnet'? (the families: attention, densenet" in run(
        "zoo", "list", "--family", "resnets").output


def test_schema_command_prints_json_schema(tmp_path):
    out = tmp_path / "s.json"
    assert run("schema", "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text())["title"] == "archspec network spec"
    assert json.loads(run("schema").output) == json.loads(out.read_text())
