"""`validate --resolved` prints the whole network a spec resolves to, and `diff` compares resolved specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from archspec import complexity
from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.spec.dump import resolved_yaml
from archspec.spec.loader import read_text

TRAINED = "extends: cifar_resnet20\nname: resnet20_trained\ntrain: {epochs: 3, batch_size: 32}\n"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """An ``extends:`` entry with a ``train:`` section and an inherited base."""
    path = tmp_path / "trained.yaml"
    path.write_text(TRAINED)
    return path


@pytest.mark.parametrize("name", ["regnety_016", "densenet121", "ecaresnet26t", "resnest50d", "cifar_resnet20"])
def test_resolved_yaml_loads_to_an_equal_spec(name: str):
    spec = load_spec(name)
    again = load_spec(read_text(resolved_yaml(spec), "<resolved>"))
    assert again == spec
    assert (complexity(again).params, complexity(again).macs) == (complexity(spec).params, complexity(spec).macs)


def test_an_extends_entry_with_train_round_trips_with_every_default(trained: Path):
    spec = load_spec(trained)
    text = resolved_yaml(spec)
    data = yaml.safe_load(text)
    assert "extends" not in data and list(data["stages"][0])[:2] == ["type", "depth"]  # the base's, type first
    assert data["train"]["epochs"] == 3 and data["train"]["lr"] == 0.1  # a given and a default train field
    assert data["defaults"]["norm"] == {"type": "batch", "epsilon": 1e-5, "momentum": 0.9}  # the base never wrote them
    assert list(data)[:4] == ["name", "family", "description", "input_shape"]  # the schema's order
    assert "input_shape: [32, 32, 3]" in text  # a short list on one line
    assert load_spec(read_text(text, "<resolved>")) == spec


def test_a_regnet_entry_shows_its_generator_and_its_stages():
    data = yaml.safe_load(resolved_yaml(load_spec("regnety_016")))
    assert data["regnet"]["w0"] == 48 and [s["width"] for s in data["stages"]] == [48, 120, 336, 888]


def test_cli_prints_yaml_that_revalidates_to_the_same_params(trained: Path, tmp_path: Path):
    result = run("validate", str(trained), "--resolved")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# {trained} resolved: 269,722 params") and result.stderr == ""
    out = tmp_path / "whole.yaml"
    out.write_text(result.stdout)
    again = run("validate", str(out))
    assert again.exit_code == 0 and "269,722 params" in again.stdout, again.output


def test_several_specs_give_several_documents_and_errors_as_today(trained: Path, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {type: basic, depth: 2, width: 0}\n")
    result = run("validate", "regnety_016", str(bad), str(trained), "--resolved")
    assert result.exit_code == 1
    assert f"{bad}:2:" in result.stderr and "Traceback" not in result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["name"] for d in documents] == ["regnety_016", "resnet20_trained"]


def test_quiet_and_resolved_together_are_refused():
    result = run("validate", "cifar_resnet20", "--resolved", "--quiet")
    assert result.exit_code == 2 and "give one of them" in result.output


def test_diff_names_the_inherited_field_two_entries_differ_by(tmp_path: Path):
    (tmp_path / "base_a.yaml").write_text("extends: cifar_resnet20\ndefaults: {activation: swish}\n")
    (tmp_path / "base_b.yaml").write_text("extends: cifar_resnet20\n")
    for name in ("a", "b"):  # the same text: only what their bases give differs
        (tmp_path / f"{name}.yaml").write_text(f"extends: base_{name}.yaml\nname: net\n")
    result = run("diff", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    assert result.exit_code == 0, result.output
    assert "1 field differ" in result.stdout and "  defaults.activation: swish -> relu" in result.stdout
