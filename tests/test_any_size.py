"""Networks that take images of any size (``input_shape: [null, null, C]``, keras-hub's
``image_shape=(None, None, 3)``): built, saved and run at several sizes, giving what a fixed-size
build gives; figures that depend on the size ask for one."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import archspec
from archspec import build_model, load_spec
from archspec.cli import main
from archspec.keras.build import load_model
from archspec.spec.errors import RunError, SpecError
from archspec.train.data import check_fits, open_data

from .helpers import numpy

ANY = {"extends": "cifar_resnet20", "name": "any_resnet20", "input_shape": [None, None, 3]}


@pytest.mark.backend_neutral
def test_a_backbone_of_any_size_gives_the_fixed_size_builds_features():
    spec = load_spec(ANY)
    assert spec.any_size
    anywhere = build_model(spec, features=True, seed=0)
    assert anywhere.input_shape == (None, None, None, 3)
    for height, width in ((32, 32), (40, 56)):
        fixed = build_model(load_spec(ANY, overrides={"input_shape": [height, width, 3]}), features=True, seed=0)
        x = np.random.default_rng(1).uniform(0, 255, (2, height, width, 3)).astype(np.float32)
        ours, theirs = anywhere(x), fixed(x)
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_allclose(numpy(ours[name]), numpy(theirs[name]), rtol=1e-5, atol=1e-5)


@pytest.mark.backend_neutral
def test_a_pooled_classifier_of_any_size_saves_and_loads_safely(tmp_path):
    model = build_model(ANY, seed=0)
    x = np.random.default_rng(2).uniform(0, 255, (1, 48, 36, 3)).astype(np.float32)
    model.save(tmp_path / "any.keras")
    again = load_model(tmp_path / "any.keras")  # safe mode
    assert again.input_shape == (None, None, None, 3)
    np.testing.assert_allclose(numpy(again(x)), numpy(model(x)), rtol=1e-6)


def test_the_size_dependent_figures_ask_for_a_size():
    with pytest.raises(SpecError, match=r"takes images of any size .*complexity\(spec, input_size=N\)"):
        archspec.complexity(ANY)
    assert archspec.complexity(ANY, input_size=32).macs == archspec.complexity("cifar_resnet20").macs
    assert build_model("cifar_resnet20", input_size="any").input_shape == (None, None, None, 3)
    data = open_data("digits", validation_split=0.5, seed=0, synthetic_classes=10)
    with pytest.raises(RunError, match="training feeds batches of one size: pass --input-size N"):
        check_fits(data, load_spec(ANY), batch_size=8)


def test_one_free_side_and_a_flatten_head_are_spec_errors():
    with pytest.raises(SpecError, match="fixes one side only"):
        load_spec({**ANY, "input_shape": [None, 32, 3]})
    with pytest.raises(SpecError, match="head.pooling flatten feeds the classifier a size-dependent number"):
        load_spec({**ANY, "head": {"pooling": "flatten"}})


def test_build_and_validate_report_figures_at_the_reference_size(tmp_path):
    spec = tmp_path / "any.yaml"
    spec.write_text(yaml.safe_dump(ANY))
    built = CliRunner().invoke(main, ["build", str(spec), "--features"])
    assert built.exit_code == 0, built.output
    assert "takes images of any size" in built.output and "at 224x224" in built.output
    checked = CliRunner().invoke(main, ["validate", str(spec)])
    assert checked.exit_code == 0 and "at 224x224 (it takes any size)" in checked.output


def test_sizes_that_cannot_work_are_refused_before_building_naming_the_layer_and_the_sizes_that_do():
    with pytest.raises(SpecError, match=r"it cannot take images of any size: at 225x225, conv5_block1_add: cannot "
                                        r"add tensors .* multiples of 32 \(e.g. 224, 256\)"):
        build_model("lambda_resnet26t", input_size="any")
    with pytest.raises(SpecError, match=r"conv5_block1_add: cannot add tensors of shapes 3x3x2048, 2x2x2048; it "
                                        r"plans at sides that are multiples of 32"):
        load_spec("lambda_resnet26t", overrides={"input_shape": [72, 72, 3]})


def test_any_size_guards_speak_of_any_size_and_a_backbone_ignores_the_heads_constraints():
    wide = build_model("resnext29_8x64d", input_size="any", features=True)  # 4.9 GB of activations at 224
    assert wide.input_shape == (None, None, None, 3)
    with pytest.raises(SpecError, match=r"resnext29_8x64d at any size is too big to build: it would have "
                                        r"[\d,]+ parameters"):
        build_model("resnext29_8x64d", input_size="any", max_params=1000)
    vgg = build_model("vgg11", input_size="any", features=True)  # its flatten head is not built
    assert vgg.input_shape == (None, None, None, 3)
