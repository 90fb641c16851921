"""The RegNet generator as a spec field, design-space sampling within a budget, and timm's names as aliases."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from archspec import SpecError, complexity, load_spec
from archspec.cli import main
from archspec.graph.sampling import Budget, Space, sample_regnets
from archspec.spec.design_space import RegNet
from archspec.spec.zoo import aliases, zoo_paths

REGNETS = [name for name in zoo_paths() if name.startswith("regnet")]


@pytest.mark.parametrize("name", REGNETS)
def test_generated_stages_keep_pycls_rules(name):
    spec = load_spec(name)
    generator = spec.regnet
    assert sum(s.depth for s in spec.stages) == generator.depth
    widths = [s.width for s in spec.stages]
    assert widths == sorted(set(widths))  # distinct, growing: one stage per width
    for stage in spec.stages:
        assert stage.inner_width == stage.conv_groups * stage.group_width
        assert stage.group_width <= generator.group_width


def test_block_widths_snap_to_the_quantised_geometric_grid():
    generator = RegNet(w0=24, wa=36.44, wm=2.49, depth=13, group_width=8)
    widths = generator.block_widths()
    assert all(w % 8 == 0 for w in widths) and widths == sorted(widths) and widths[0] == 24



@pytest.mark.parametrize(("width", "group", "pycls", "torchvision"), [
    (40, 16, 32, 48),  # 2.5 groups: pycls rounds half to even, torchvision half up
    (56, 48, 48, 96),  # 48 is more than 10% below 56: torchvision adds a group
    (64, 16, 64, 64),  # a whole number of groups stays
])
def test_torchvision_snaps_3x3_widths_to_groups_by_its_own_rule(width, group, pycls, torchvision):
    generator = RegNet(w0=width, wa=0, wm=2, depth=1, group_width=group)
    assert generator.stages()[0]["width"] == pycls
    assert generator.model_copy(update={"group_min_ratio": 0.9}).stages()[0]["width"] == torchvision

@pytest.mark.parametrize(("fields", "expected"), [
    ({"regnet": {"w0": 20, "wa": 10.0, "wm": 2.0, "depth": 10, "group_width": 8}},
     r"w0 20 must be a multiple of quant 8"),
    ({"regnet": {"w0": 24, "wa": 10.0, "wm": 1.0, "depth": 10, "group_width": 8}}, r"regnet.wm"),
    ({"regnet": {"w0": 24, "wa": 10.0, "wm": 2.0, "depth": 10, "group_width": 8},
      "stages": [{"type": "basic", "depth": 1, "width": 8}]}, r"give either stages or regnet"),
    ({}, r"the network has no stages"),
])
def test_bad_generators_are_spec_errors(fields, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec({"name": "r", **fields})


def test_a_dumped_regnet_reloads_with_the_same_stages():
    spec = load_spec("regnety_016")
    assert load_spec(spec.model_dump()) == spec


def test_validate_prints_the_stages_a_generator_expands_to():
    result = CliRunner().invoke(main, ["validate", "regnetx_002"])
    assert result.exit_code == 0
    assert "stage4" in result.output and "shortcut projection" in result.output


def test_samples_fit_the_budget_are_distinct_and_repeat_with_the_seed():
    budget = Budget(macs=(300e6, 400e6))
    first = sample_regnets(4, Space(), budget, seed=3)
    assert [s.spec for s in first] == [s.spec for s in sample_regnets(4, Space(), budget, seed=3)]
    assert len({s.spec.regnet for s in first}) == 4
    for s in first:
        assert 300e6 <= s.complexity.macs <= 400e6 and len(s.spec.stages) == 4
        assert complexity(s.spec) == s.complexity


def test_sample_cli_writes_specs_that_load(tmp_path):
    result = CliRunner().invoke(main, ["sample", "--space", "regnety", "--params", "2M:6M", "--count", "2",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for path in sorted(tmp_path.glob("*.yaml")):
        spec = load_spec(path)
        assert 2e6 <= complexity(spec).params <= 6e6 and spec.stages[0].attention.type == "se"


@pytest.mark.parametrize(("args", "expected"), [
    (["--macs", "5:3"], "ends below where it starts"),
    (["--params", "lots"], "is no range"),
    (["--params", "1:2"], "fit the budget"),
])
def test_sample_cli_refuses_bad_budgets_in_one_line(args, expected):
    result = CliRunner().invoke(main, ["sample", *args])
    assert result.exit_code != 0 and expected in result.output and "Traceback" not in result.output


def test_timms_names_resolve_to_the_entries_and_zoo_show_says_so():
    assert aliases()["seresnet50"] == "se_resnet50" and aliases()["resnetv2_50"] == "preact_resnet50"
    assert load_spec("seresnet50") == load_spec("se_resnet50")
    result = CliRunner().invoke(main, ["zoo", "show", "seresnet50"])
    assert "seresnet50 is timm's name for the zoo entry se_resnet50" in result.output
