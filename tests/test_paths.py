"""`archspec paths`: the binomial path lengths of Veit et al. 2016."""

from __future__ import annotations

from math import comb

import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.loader import load_spec
from archspec.paths import path_lengths


@pytest.mark.parametrize("name, blocks", [("cifar_resnet20", 9), ("cifar_resnet110", 54), ("resnet50", 16),
                                          ("vgg16", 0)])
def test_path_counts_are_binomial_and_sum_to_two_to_the_n(name, blocks):
    p = path_lengths(load_spec(name))
    assert p.blocks == blocks
    assert p.counts == tuple(comb(blocks, k) for k in range(blocks + 1))
    assert p.total == 2**blocks


def test_paths_command_prints_the_distribution():
    result = CliRunner().invoke(main, ["paths", "cifar_resnet20"])
    assert result.exit_code == 0, result.output
    assert "2^9 = 512 paths" in result.output
    assert result.output.splitlines()[2].split() == ["0", "1", "0.20%"]
    bad = CliRunner().invoke(main, ["paths", "no_such_net"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1
