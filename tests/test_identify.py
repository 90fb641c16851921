"""`archspec identify FILE` and `build --weights FILE` without a spec: the registry network whose tensors a
checkpoint holds, from the census of timm's and torchvision's residual-family registries."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.complexity import complexity
from archspec.graph.load import load_spec
from archspec.keras.weights import registry as registry_module
from archspec.keras.weights.registry import COUNTER, census, head_of, identify, registry
from archspec.keras.weights.tensors import open_tensors
from archspec.keras.weights.writers import write_pth, write_safetensors

FIXTURES = Path(__file__).parent / "fixtures" / "weights"


def network(model: str, library: str = "timm"):
    return next(n for n in census() if n.model == model and n.library == library)


def checkpoint(path: Path, model: str, classes: int | None = 1000, library: str = "timm", counters: bool = False):
    """A file with the census network's tensor names and shapes (zeros, float16 to keep it small): its head
    resized to ``classes``, or left out (None)."""
    net = network(model, library)
    head = head_of(net.tensors)[0] + "."
    tensors = {}
    for name, shape in net.tensors.items():
        if name.startswith(head) and classes is None or name.endswith(COUNTER) and not counters:
            continue
        if name.startswith(head):
            shape = (classes, *shape[1:])
        tensors[name] = np.zeros(shape, np.int64 if name.endswith(COUNTER) else np.float16)
    (write_pth if path.suffix == ".pth" else write_safetensors)(tensors, path)
    return path


def run(*args: str):
    return CliRunner().invoke(main, [*args])


def test_the_census_counts_each_zoo_network_as_archspec_does():
    """Every sourced zoo entry is in the census under its library's name, with archspec's exact parameter count
    from the graph; and the census covers timm's eight residual modules and torchvision's 29 networks."""
    for net in registry():
        counted = network(net.model, net.library)
        assert counted.entry == net.entry
        assert complexity(load_spec(net.entry)).params == counted.params, net.entry
    modules = {n.module for n in census() if n.library == "timm"}
    assert {"resnet", "resnetv2", "regnet", "res2net", "resnest", "sknet", "densenet", "dpn"} <= modules
    assert len([n for n in census() if n.library == "torchvision" and n.module != "vgg"]) == 29


def test_a_checkpoint_is_named_with_the_entry_to_build(tmp_path):
    """Counters or not, another class count: the network is named, with the command that builds it."""
    found = identify(_shapes(checkpoint(tmp_path / "a.pth", "regnetx_002", 10)))
    assert [(m.network.model, m.network.entry, m.num_classes) for m in found.matches] == [
        ("regnetx_002", "regnetx_002", 10)]
    result = run("identify", str(checkpoint(tmp_path / "b.pth", "regnetx_002", 10, counters=True)))
    assert result.exit_code == 0, result.output
    assert "regnetx_002" in result.output and "a 10-class classifier" in result.output
    assert f"Build it: archspec build regnetx_002 --weights {tmp_path / 'b.pth'} --num-classes 10" in result.output


def test_networks_with_the_same_tensors_are_all_named_the_plain_one_first(tmp_path):
    """A blur pool carries no weights: resnet18's tensors are resnetblur18's too, and the file cannot tell; the plain
    network, of fewer layers, comes first, and build picks it, naming the other."""
    path = checkpoint(tmp_path / "r.safetensors", "resnet18", library="torchvision")
    result = run("identify", str(path))
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("  ")]
    assert [r[:2] for r in rows] == [["torchvision", "resnet18"], ["timm", "resnet18"], ["timm", "resnetblur18"]]
    assert "cannot say which one" in result.output
    built = run("build", "--weights", str(path))
    assert built.exit_code == 0, built.output
    assert "holds the weights of zoo entry resnet18 (resnetblur18 has the same tensors" in built.output


def test_a_network_the_zoo_lacks_is_named_and_build_says_so(tmp_path, monkeypatch):
    """The smallest census network, headless, as if the zoo lacked it (today it has them all)."""
    smallest = min(census(), key=lambda n: n.params)
    monkeypatch.setattr(registry_module, "census", lambda: tuple(
        dataclasses.replace(n, entry=None) if n.model == smallest.model else n for n in census()))
    monkeypatch.setattr(registry_module, "_census_without_counters",
                        functools.cache(registry_module._census_without_counters.__wrapped__))
    path = checkpoint(tmp_path / "t.safetensors", smallest.model, classes=None, library=smallest.library)
    result = run("identify", str(path), "--json")
    assert result.exit_code == 0, result.output
    matches = json.loads(result.output)["matches"]
    assert smallest.model in [m["model"] for m in matches]
    assert all(m["entry"] is None and m["num_classes"] == 0 for m in matches if m["model"] == smallest.model)
    if all(m["entry"] is None for m in matches):  # no other network has its tensors
        built = run("build", "--weights", str(path))
        assert built.exit_code == 1 and "The zoo has none of these yet" in built.output


def test_a_file_that_fits_none_gets_the_nearest_network_and_the_first_difference():
    """A narrow torchvision ResNet (the weight fixture): resnet18's names, other widths."""
    result = run("identify", str(FIXTURES / "resnet_basic.pth"))
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert "the nearest is timm's resnet18 (the file has" in result.output
    assert "in the file, [64, 64, 3, 3] in resnet18" in result.output


@pytest.mark.parametrize("name, message", [("spec.yaml", "not a weights file archspec reads"),
                                           ("missing.pth", "does not exist")])
def test_what_is_not_a_checkpoint_gets_one_line(tmp_path, name, message):
    path = tmp_path / name
    if name.endswith(".yaml"):
        path.write_text("# a spec, not weights\nname: resnet18_mine\nextends: resnet18\n" * 4)
    result = run("identify", str(path))
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_build_without_a_spec_builds_the_entry_the_file_holds(tmp_path):
    """torchvision's file layout as archspec writes it for resnet18 with 7 classes, built back by its tensors."""
    exported = tmp_path / "r18.pth"
    result = run("export", "resnet18", "--num-classes", "7", "--format", "torchvision", "--out", str(exported))
    assert result.exit_code == 0, result.output
    built = run("build", "--weights", str(exported), "--json")
    assert built.exit_code == 0, built.output
    assert f"{exported} holds the weights of zoo entry resnet18" in built.output
    figures = json.loads(built.output.strip().splitlines()[-1])
    assert figures["name"] == "resnet18" and figures["num_classes"] == 7



def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with open_tensors(path) as tensors:
        return tensors.shapes
