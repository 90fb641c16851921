"""Block lesions (Veit et al. 2016): a block left out of a trained model, the rest of its weights kept."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

import archspec
from archspec import SpecError, build_model
from archspec.cli import main
from archspec.experiments.lesion import blocks

NET = {"name": "tiny", "input_shape": [8, 8, 1], "num_classes": 3, "stem": {"type": "cifar", "width": 4},
       "stages": [{"type": "basic", "depth": 2, "width": 4}, {"type": "basic", "depth": 2, "width": 8, "stride": 2}]}
X = np.random.default_rng(0).normal(size=(6, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def trained():
    """The tiny net after a few steps of training, so norms hold non-trivial statistics."""
    model = build_model(NET, seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    y = np.eye(3)[np.arange(6) % 3]
    model.fit(X, y, epochs=2, verbose=0)
    return model


def _without(depths):
    return {**NET, "stages": [{**s, "depth": d} for s, d in zip(NET["stages"], depths)]}


@pytest.mark.backend_neutral
@pytest.mark.parametrize("lesion, depths", [([2], [1, 2]), ([4], [2, 1]), ([2, 4], [1, 1])])
def test_a_lesion_equals_the_net_built_without_that_block(trained, lesion, depths):
    lesioned = build_model(NET, lesion=lesion, weights_from=trained)
    shorter = build_model(_without(depths), weights_from=trained)
    np.testing.assert_allclose(lesioned.predict(X, verbose=0), shorter.predict(X, verbose=0), atol=1e-6)
    assert not np.allclose(lesioned.predict(X, verbose=0), trained.predict(X, verbose=0), atol=1e-4)


def test_a_projection_block_keeps_its_shortcut(trained):
    lesioned = build_model(NET, lesion=[3], weights_from=trained)
    names = {layer.name for layer in lesioned.layers}
    assert "conv3_block1_0_conv" in names and "conv3_block1_1_conv" not in names
    np.testing.assert_array_equal(lesioned.get_layer("conv3_block1_0_conv").get_weights()[0],
                                  trained.get_layer("conv3_block1_0_conv").get_weights()[0])


def test_plain_blocks_become_the_identity_where_the_shape_allows():
    plain = {**NET, "stages": [{**s, "type": "plain"} for s in NET["stages"]]}
    assert [(i, ok) for i, _, ok in blocks(archspec.load_spec(plain))] == [(1, True), (2, True), (3, False),
                                                                           (4, True)]
    assert build_model(plain, lesion=[1, 2, 4]).count_params() < build_model(plain).count_params()
    with pytest.raises(SpecError, match="block 3 .conv3_block1. changes the map's shape"):
        build_model(plain, lesion=[3])


@pytest.mark.parametrize("lesion", [[5], [0]])
def test_a_block_that_does_not_exist_is_named(lesion):
    with pytest.raises(SpecError, match=f"cannot remove block {lesion[0]}: this network has 4 .* numbered 1 to 4"):
        build_model(NET, lesion=lesion)


def test_weights_from_another_architecture_name_the_first_layer_that_does_not_fit(trained):
    wider = {**NET, "stem": {"type": "cifar", "width": 8}}
    with pytest.raises(SpecError, match="cannot copy weights into layer 'conv1_conv'"):
        build_model(wider, weights_from=trained)


@pytest.mark.slow
def test_reproduce_lesion_tiny(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "lesion", "--tiny", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "lesion.csv").open()))
    assert {r["net"] for r in rows} == {"ResNet-14", "plain-14"}
    singles = [r for r in rows if r["lesion"] == "single"]
    assert len(singles) == 12
    assert sum(r["val_error"] == "not removable" for r in singles) == 2  # plain-14's strided first blocks
    assert (tmp_path / "lesion.png").stat().st_size > 1000
