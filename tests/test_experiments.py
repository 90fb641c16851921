"""`archspec reproduce degradation` and `archspec gradients`."""

from __future__ import annotations

import csv
import math

import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.experiments.degradation import nets
from archspec.experiments.gradients import blocks, run
from archspec.graph.load import load_spec
from archspec.spec.train_schema import TrainSpec


def test_the_four_nets_are_fitted_to_the_data():
    chosen = nets(TrainSpec(epochs=3))
    assert [(n.label, n.depth) for n in chosen] == [("plain-20", 20), ("plain-56", 56), ("ResNet-20", 20),
                                                     ("ResNet-56", 56)]
    assert all(n.spec.input_shape == (8, 8, 1) and n.spec.num_classes == 10 for n in chosen)
    assert all(n.spec.train.epochs == 3 for n in chosen)
    assert [n.depth for n in nets(TrainSpec(), tiny=True)] == [8, 14, 8, 14]


def test_blocks_follow_the_layer_names():
    groups = blocks(load_spec("cifar_resnet20"))
    assert list(groups)[:3] == ["stem", "conv2_block1", "conv2_block2"] and list(groups)[-1] == "head"
    assert len(groups) == 11 and groups["conv3_block1"][-1] == "conv3_block1_out"


@pytest.mark.backend_neutral
def test_gradients_are_measured_per_block_and_drawn(tmp_path):
    specs = []
    for kind, extra in (("plain", {}), ("basic", {"shortcut": "A"})):
        stages = [{"type": kind, "depth": 1, "width": 8, **extra},
                  {"type": kind, "depth": 1, "width": 16, "stride": 2, **extra}]
        path = tmp_path / f"{kind}.yaml"
        path.write_text(f"name: {kind}\nstem: {{type: cifar, width: 8}}\nstages: {stages}\n")
        specs.append(str(path))
    rows = run(specs, tmp_path / "out", batch_size=32)
    assert [(r["net"], r["block"]) for r in rows] == [("plain", "stem"), ("plain", "conv2_block1"),
                                                     ("plain", "conv3_block1"), ("basic", "stem"),
                                                     ("basic", "conv2_block1"), ("basic", "conv3_block1")]
    assert all(math.isfinite(r["output_grad"]) and r["output_grad"] > 0 and r["weight_grad"] > 0 for r in rows)
    assert (tmp_path / "out" / "gradients.png").stat().st_size > 10_000
    with (tmp_path / "out" / "gradients.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6


@pytest.mark.slow
def test_reproduce_degradation_tiny(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "degradation", "--tiny", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "ResNet-14" in result.output and "degradation.png" in result.output
    with (tmp_path / "degradation.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["net"] for r in rows] == ["plain-8", "plain-14", "ResNet-8", "ResNet-14"]
    assert all(0 <= float(r["train_error"]) <= 100 for r in rows)
    assert (tmp_path / "degradation.png").stat().st_size > 10_000
    again = CliRunner().invoke(main, ["reproduce", "degradation", "--tiny", "--out", str(tmp_path)])
    assert again.exit_code == 0 and again.output.count("already holds this run") == 4


def test_at_size_the_recipe_trains_all_four_depths_of_fig6(tmp_path, monkeypatch):
    from archspec.experiments.compare import at_size
    from archspec.experiments.degradation import PAPER_DEPTHS
    from tests.helpers import fake_cifar

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fake_cifar(tmp_path)
    t = at_size("he2015_cifar", "cifar10", seed=0)
    assert (t.epochs, t.batch_size, t.pad, t.data) == (164, 128, 4, "cifar10")
    chosen = nets(t, depths=PAPER_DEPTHS)
    assert [n.label for n in chosen] == ["plain-20", "plain-32", "plain-44", "plain-56",
                                         "ResNet-20", "ResNet-32", "ResNet-44", "ResNet-56"]
    assert all(n.spec.input_shape == (32, 32, 3) and n.spec.train.epochs == 164 for n in chosen)


@pytest.mark.slow
def test_reproduce_degradation_at_size_runs_tiny_on_a_fake_cifar(tmp_path, monkeypatch):
    from tests.helpers import fake_cifar

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    fake_cifar(tmp_path / "keras", per_batch=30)  # 150 training images: one batch of the recipe's 128
    result = CliRunner().invoke(main, ["reproduce", "degradation", "--data", "cifar10", "--recipe", "he2015_cifar",
                                       "--tiny", "--input-size", "8", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "degradation.csv").open() as f:
        assert [r["net"] for r in csv.DictReader(f)] == ["plain-8", "plain-14", "plain-20", "plain-26",
                                                         "ResNet-8", "ResNet-14", "ResNet-20", "ResNet-26"]
    assert "paper" in result.output and (tmp_path / "out" / "degradation.png").stat().st_size > 10_000
