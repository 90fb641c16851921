"""The example specs in specs/ validate, build, and say what the docs say they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspec import build_model, complexity, load_spec
from archspec.keras.stats import model_stats

SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").glob("*.yaml"))
IDENTITY = {"name", "family", "description", "source"}  # who a network is, not what it computes


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_example_spec_builds_with_its_analytic_figures(path):
    spec = load_spec(path)
    size = min(spec.input_shape[0], 64)
    small = load_spec(spec, overrides={"input_shape": (size, size, spec.input_shape[2])})
    built, analytic = model_stats(build_model(small)), complexity(small)
    assert (built.params, built.macs) == (analytic.params, analytic.macs)


def test_resnext50_tour_is_structurally_resnext50_32x4d():
    tour, zoo = load_spec(SPECS[0].parent / "resnext50.yaml"), load_spec("resnext50_32x4d")
    assert tour.model_dump(exclude=IDENTITY) == zoo.model_dump(exclude=IDENTITY)


def test_resnet50_d_changes_only_stem_shortcuts_and_zero_init():
    d, base = load_spec(SPECS[0].parent / "resnet50_d.yaml"), load_spec("resnet50")
    assert d.stem.type == "deep" and {s.shortcut for s in d.stages} == {"D"}
    assert d.defaults.zero_init_last_norm and d.defaults.norm == base.defaults.norm
    assert [s.depth for s in d.stages] == [s.depth for s in base.stages]


def test_mixed_stages_example_mixes_dense_and_residual_blocks():
    spec = load_spec(SPECS[0].parent / "dense_then_residual.yaml")
    assert [s.type for s in spec.stages] == ["dense", "dense", "bottleneck", "bottleneck"]
    shapes = {p.scope: p.output_shape for p in complexity(spec).parts}
    assert shapes["stage1"] == (32, 32, 120) and shapes["stage2"] == (16, 16, 156)
