"""`archspec reproduce shortcuts` and `archspec reproduce orders`: the papers' ablation tables, their
reference data and the nets they train."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.experiments.ablations import SMALL_NETS, nets, variant
from archspec.experiments.compare import at_size, recipe
from archspec.graph.complexity import complexity
from archspec.graph.load import load_spec
from archspec.spec.errors import RunError
from archspec.spec.zoo import ablations, published

IDENTITY = ("name", "family")  # what may differ between a row's net and the zoo entry it is


def _architecture(spec) -> dict:
    return {k: v for k, v in spec.model_dump().items() if k not in IDENTITY}


@pytest.mark.parametrize("name", sorted(ablations()))
def test_a_row_naming_a_zoo_entry_makes_exactly_that_entry(name):
    table = ablations()[name]
    base = load_spec(table.net)
    named = [row for row in table.rows if row.zoo]
    assert named, "each table names at least one of its rows' zoo entries"
    for row in named:
        made = load_spec(base, overrides=variant(base, row))
        entry = load_spec(row.zoo)
        assert _architecture(made) == _architecture(entry), row.label
        assert complexity(made) == complexity(entry)


def test_the_orders_table_agrees_with_the_zoo_entries_from_the_same_table():
    """The per-entry figures of reference.yaml and the table's come from the same paper's table."""
    rows = [row for row in ablations()["orders"].rows
            if row.zoo and (published()[row.zoo].source or "").startswith("He et al. 2016 Table 2")]
    assert len(rows) == 4  # (b) to (e); (a)'s entry, cifar_resnet110, carries He et al. 2015's 6.43
    assert all(published()[row.zoo].error == row.error for row in rows)


def test_the_rows_change_what_their_papers_compare():
    shortcut_nets = nets("shortcuts", recipe(epochs=1), at_size=False)
    assert [n.label for n in shortcut_nets] == [row.label for row in ablations()["shortcuts"].rows]
    assert [{s.shortcut for s in n.spec.stages} for n in shortcut_nets] == [{"A"}, {"B"}, {"C"}]
    params = [complexity(n.spec).params for n in shortcut_nets]
    assert params[0] < params[1] < params[2]  # projections cost parameters: none in A, some in B, every block in C
    order_nets = nets("orders", recipe(epochs=1), tiny=True)
    assert [next(iter({s.order for s in n.spec.stages})) for n in order_nets] == [
        "post", "bn_after_add", "relu_before_add", "relu_preact", "preact"]
    assert [n.spec.stem.normalize for n in order_nets] == [True, True, True, True, False]
    assert all(len(n.spec.stages) == 3 and {s.depth for s in n.spec.stages} == {1} for n in order_nets)
    assert all(n.spec.input_shape == (8, 8, 1) and n.spec.num_classes == 10 for n in order_nets)


def test_at_size_the_papers_own_net_trains_with_the_recipe(tmp_path, monkeypatch):
    from tests.helpers import fake_cifar

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fake_cifar(tmp_path)
    t = at_size("he2015_cifar", "cifar10", seed=0, warmup_epochs=1)
    chosen = nets("orders", t, at_size=True)
    assert {sum(s.depth for s in n.spec.stages) for n in chosen} == {54}  # ResNet-110: 3 x 18 blocks
    assert all(n.spec.train.epochs == 164 and n.spec.train.warmup_epochs == 1 for n in chosen)
    assert SMALL_NETS["orders"] != ablations()["orders"].net


def test_at_size_on_image_files_the_papers_net_keeps_its_own_input_size(tmp_path):
    from tests.test_sources import write_images

    write_images(tmp_path / "train", ["cat", "dog"])
    write_images(tmp_path / "val", ["cat", "dog"], per_class=1)
    t = at_size("he2015_imagenet", f"folder:{tmp_path}", seed=0)
    chosen = nets("shortcuts", t, at_size=True)
    assert all(n.spec.input_shape == (224, 224, 3) and n.spec.num_classes == 2 for n in chosen)
    assert [sum(s.depth for s in n.spec.stages) for n in chosen] == [16, 16, 16]  # ResNet-34: 3 + 4 + 6 + 3 blocks
    assert [{s.shortcut for s in n.spec.stages} for n in chosen] == [{"A"}, {"B"}, {"C"}]


def test_a_net_without_residual_stages_is_refused():
    with pytest.raises(RunError, match="no residual stage to set shortcut"):
        nets("shortcuts", recipe(epochs=1), "cifar_plain20")


def test_the_paper_data_set_is_needed_where_archspec_cannot_fetch_it(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "shortcuts", "--recipe", "he2015_imagenet",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "imagenet, which archspec cannot fetch: give it with --data" in result.output
    assert not (tmp_path / "out").exists()


def _paper_figures(name: str) -> list[str]:
    return [f"{row.error:.2f}%" for row in ablations()[name].rows]


@pytest.mark.slow
@pytest.mark.parametrize("name, recipe_args", [("shortcuts", []), ("orders", ["--recipe", "he2015_cifar"])])
def test_reproduce_runs_tiny_on_a_fake_cifar(tmp_path, monkeypatch, name, recipe_args):
    from tests.helpers import fake_cifar

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    fake_cifar(tmp_path / "keras", per_batch=30)  # 150 training images: one batch of he2015_cifar's 128
    args = ["reproduce", name, "--data", "cifar10", *recipe_args, "--tiny", "--input-size", "8",
            "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    labels = [row.label for row in ablations()[name].rows]
    with (tmp_path / "out" / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["net"] for r in rows] == labels  # one epoch each
    assert all(0 <= float(r["val_error"]) <= 100 for r in rows)
    table = result.output[result.output.index("\nnet "):]
    assert [line.split()[0] for line in table.splitlines()[2:2 + len(labels)]] == [label.split()[0] for label in labels]
    assert all(figure in table for figure in _paper_figures(name)) and ablations()[name].paper in table
    assert (tmp_path / "out" / f"{name}.png").stat().st_size > 10_000
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and again.output.count("already holds this run") == len(labels)
