"""`archspec paths`: the binomial path lengths of Veit et al. 2016."""

from __future__ import annotations

from math import comb

import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.graph.paths import path_lengths


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


# ---- paths --measure: Veit et al.'s gradient per path length ----------------------------------------

NET = {"name": "tiny", "input_shape": [8, 8, 1], "num_classes": 10, "stem": {"type": "cifar", "width": 4},
       "stages": [{"type": "basic", "depth": 2, "width": 4}, {"type": "basic", "depth": 2, "width": 8, "stride": 2}]}


@pytest.fixture(scope="module")
def trained():
    import numpy as np

    from archspec import build_model

    model = build_model(NET, seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(0).random((20, 8, 8, 1), dtype="float32")
    model.fit(x, np.eye(10)[np.arange(20) % 10], epochs=2, verbose=0)  # non-trivial batch-norm statistics
    return model


@pytest.mark.backend_neutral
def test_routes_change_no_output_and_the_paths_gradients_sum_to_the_whole(trained):
    """Every input gradient is a sum over the 2^n paths, one term per path: routing each sample
    down one path and summing over all 16 routes of this 4-block net must give the full gradient."""
    import itertools

    import keras
    import numpy as np

    from archspec.experiments.path_gradients import routed_model
    from archspec.keras.autodiff import input_gradient

    model = routed_model(load_spec(NET), trained)
    x = np.random.default_rng(1).random((3, 8, 8, 1), dtype="float32")
    y = np.eye(10, dtype="float32")[[1, 4, 7]]
    loss = keras.losses.CategoricalCrossentropy(reduction="sum")
    routed = input_gradient(lambda x, route: loss(y, model([x, route], training=False)))

    ones = np.ones((3, 4), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model([x, ones], training=False)),
                                  keras.ops.convert_to_numpy(trained(x, training=False)))
    paths = [routed(x, np.array([route] * 3, "float32")) for route in itertools.product([0.0, 1.0], repeat=4)]
    whole = input_gradient(lambda x: loss(y, trained(x, training=False)))(x)
    np.testing.assert_allclose(sum(paths), whole, rtol=1e-4, atol=1e-6)
    assert not np.allclose(paths[0], whole, atol=1e-6)  # one path alone is not the whole


def _measure(tmp_path, checkpoint_model, spec=NET, *extra):
    import yaml

    from archspec.keras.model_io import save_model

    spec_file, checkpoint = tmp_path / "net.yaml", tmp_path / "net.keras"
    spec_file.write_text(yaml.safe_dump(spec))
    if checkpoint_model is not None:
        save_model(checkpoint_model, checkpoint)
    return CliRunner().invoke(main, ["paths", str(spec_file), "--measure", str(checkpoint), "--samples", "40",
                                     "--out", str(tmp_path / "out"), *extra])


def test_measure_writes_the_gradient_per_length(trained, tmp_path):
    import csv

    result = _measure(tmp_path, trained)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out" / "paths.csv").open()))
    assert [int(r["length"]) for r in rows] == [0, 1, 2, 3, 4]
    assert [int(r["paths"]) for r in rows] == [1, 4, 6, 4, 1]
    assert sum(float(r["gradient_share"]) for r in rows) == pytest.approx(1)
    assert all(float(r["path_gradient"]) > 0 for r in rows)
    assert "90% of the gradient comes down paths through" in result.output and "layers)" in result.output
    assert (tmp_path / "out" / "paths.png").stat().st_size > 1000


@pytest.mark.parametrize("spec, expected", [
    ({**NET, "stem": {"type": "cifar", "width": 8}}, "the checkpoint is not a trained tiny: cannot copy weights "
                                                     "into layer 'conv1_conv'"),
    ({**NET, "stages": [{**s, "type": "plain"} for s in NET["stages"]]}, "tiny has no residual blocks"),
    ({**NET, "stages": [{**s, "shortcut": "highway"} for s in NET["stages"]]}, "tiny has highway merges"),
])
def test_measure_errors_are_one_paragraph_and_write_nothing(trained, tmp_path, spec, expected):
    result = _measure(tmp_path, trained, spec)
    assert result.exit_code == 1, result.output
    assert expected in result.output and result.output.count("error:") == 1
    assert not (tmp_path / "out").exists()


def test_measure_without_a_checkpoint_file_is_one_paragraph(tmp_path):
    result = _measure(tmp_path, None)
    assert result.exit_code == 1 and "no such file" in result.output
    assert not (tmp_path / "out").exists()
