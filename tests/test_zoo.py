"""Every zoo entry validates, plans, and matches the published figures it has."""

from __future__ import annotations

import pytest
import yaml

from archspec import complexity, list_zoo, load_spec
from archspec.graph.complexity import graph_complexity
from archspec.graph.load import at_reference_size, load_planned, load_text
from archspec.spec.zoo import published, zoo_paths

from .helpers import shared_reference

ALL = list(zoo_paths())


def test_zoo_has_the_documented_core_entries():
    core = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
            "resnext50_32x4d", "resnext101_32x4d", "resnext101_32x8d", "wide_resnet50_2",
            "wide_resnet101_2", "cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56",
            "cifar_resnet110", "cifar_resnet1202", "cifar_plain20", "cifar_plain32", "cifar_plain44",
            "cifar_plain56", "cifar_plain110", "wrn_28_10", "wrn_40_4", "wrn_16_8", "resnext29_8x64d",
            "resnext29_16x64d", "keras_resnet50", "keras_resnet101", "keras_resnet152", "resnet18d",
            "resnet34d", "resnet50d", "resnet26"}
    assert core <= set(ALL), sorted(core - set(ALL))


@pytest.mark.parametrize("name", ALL)
def test_entry_validates_and_is_filed_under_its_family(name):
    spec = load_spec(name)
    assert spec.name == name
    assert zoo_paths()[name].parent.name == spec.family


@pytest.mark.parametrize("name", ALL)
def test_dump_and_reload_round_trip(name):
    spec = load_spec(name)
    assert load_spec(spec.model_dump()) == spec
    assert load_text(yaml.safe_dump(spec.model_dump(mode="json")), f"{name}.yaml") == spec


def test_package_reference_keeps_every_shared_figure():
    """The package's reference.yaml carries the shared published figures unchanged."""
    shared = shared_reference()
    for dataset, entries in shared.items():
        for name, figures in entries.items():
            ours = vars(published()[name])
            assert ours["dataset"] == dataset
            for key, value in figures.items():
                assert ours[key] == value, (name, key)


@pytest.mark.parametrize("name", [n for n, p in published().items()
                                  if p.params or p.params_millions or p.total_params or p.gmacs])
def test_computed_figures_equal_published(name):
    if name not in zoo_paths():
        pytest.skip(f"{name} is not in the zoo yet")
    pub, c = published()[name], complexity(name)
    if pub.params is not None:
        assert c.params == pub.params
    if pub.params_millions is not None:
        decimals = len(repr(pub.params_millions).split(".")[1])
        assert round(c.params / 1e6, decimals) == pub.params_millions
    if pub.total_params is not None:
        assert c.total_params == pub.total_params
    if pub.gmacs is not None:
        assert c.macs / 1e9 == pytest.approx(pub.gmacs, rel=0.01)


def test_list_zoo_reports_computed_figures_and_published_errors():
    entries = {e.name: e for e in list_zoo()}
    assert entries["resnet50"].params == complexity("resnet50").params
    assert entries["cifar_resnet110"].published.error == 6.43
    assert entries["resnet50"].family == "resnet"


def test_load_planned_keeps_the_graph_the_figures_are_reported_at(tmp_path):
    """list_zoo sums the graph that loading planned, rather than planning each entry a second time."""
    spec, graph = load_planned("resnet50")
    assert graph_complexity(graph) == complexity(spec)
    path = tmp_path / "any.yaml"
    path.write_text("extends: cifar_resnet20\ninput_shape: [null, null, 3]\n")
    spec, graph = load_planned(path)
    assert spec.any_size and graph_complexity(graph) == complexity(at_reference_size(spec))


def test_depth_follows_the_papers_convention():
    """Weighted layers on the main path: the 50 of ResNet-50, the 110 of ResNet-110."""
    assert complexity("resnet50").depth == 50
    assert complexity("cifar_resnet110").depth == 110
    assert complexity("cifar_preact_resnet1001").depth == 1001
    assert complexity("plain34").depth == 34
