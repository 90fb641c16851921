"""Weights loaded by layer name (`build_model(weights=...)`, `archspec build --weights`)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from archspec import SpecError, build_model
from archspec.cli import main

NET = {"name": "tiny", "input_shape": [16, 16, 3], "num_classes": 4, "stem": {"type": "cifar", "width": 8},
       "stages": [{"type": "basic", "depth": 1, "width": 8}, {"type": "bottleneck", "depth": 1, "width": 4, "stride": 2}]}
X = np.random.default_rng(0).normal(size=(3, 16, 16, 3)).astype("float32")


@pytest.fixture(scope="module")
def source():
    return build_model(NET, seed=1)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_weights_round_trip_by_layer_name(source, tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    source.save(path)
    loaded = build_model(NET, seed=2, weights=path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), source.predict(X, verbose=0), atol=1e-5)


def test_weights_of_another_architecture_name_the_first_layer_that_does_not_fit(source, tmp_path):
    path = tmp_path / "w.h5"
    source.save(path)
    wider = {**NET, "stem": {"type": "cifar", "width": 16}}
    with pytest.raises(SpecError, match="layer 'conv1_conv' does not fit weights file"):
        build_model(wider, weights=path)
    deeper = {**NET, "stages": [{**NET["stages"][0], "depth": 2}, NET["stages"][1]]}
    with pytest.raises(SpecError, match="has no layer 'conv2_block2_1_conv'"):
        build_model(deeper, weights=path)


def test_a_classifier_for_other_classes_starts_fresh_and_says_so(source, tmp_path):
    path = tmp_path / "w.keras"
    source.save(path)
    result = CliRunner().invoke(main, ["build", "cifar_resnet20", "--weights", str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1  # another backbone is still refused
    with pytest.warns(UserWarning, match="predictions left at initialisation \\(the file's classifier has 4 "
                                         "classes, the model's 7\\)"):
        tuned = build_model({**NET, "num_classes": 7}, weights=path)
    for mine, theirs in zip(tuned.layers[:-1], source.layers[:-1]):
        assert all(np.array_equal(a, b) for a, b in zip(mine.get_weights(), theirs.get_weights()))


def test_build_weights_errors_are_one_paragraph(tmp_path):
    missing = CliRunner().invoke(main, ["build", "cifar_resnet20", "--weights", str(tmp_path / "none.h5")])
    assert missing.exit_code == 1 and missing.output.count("\n") == 1 and "does not exist" in missing.output
    keras3 = tmp_path / "x.weights.h5"
    build_model(NET).save_weights(keras3)
    result = CliRunner().invoke(main, ["build", "cifar_resnet20", "--weights", str(keras3)])
    assert result.exit_code == 1 and "by position only" in result.output


@pytest.mark.slow
def test_keras_applications_resnet50_weights_load_into_the_zoo_entry(tmp_path):
    theirs = keras.applications.ResNet50(weights=None)
    path = tmp_path / "resnet50.h5"
    theirs.save(path)  # Keras's HDF5 format, by layer name, as keras.applications' downloads
    ours = build_model("keras_resnet50", weights=path)
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 224, 224, 3)).astype("float32")
    theirs_in = keras.applications.resnet.preprocess_input(x.copy())  # ours normalises inside the model
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(theirs_in, verbose=0), atol=1e-5)
    result = CliRunner().invoke(main, ["build", "keras_resnet50", "--weights", str(path), "--json"])
    assert result.exit_code == 0, result.output


# ---- archspec train --init-from --freeze ---------------------------------------------------------------

TINY = {"name": "tiny", "input_shape": [8, 8, 1], "num_classes": 10, "stem": {"type": "cifar", "width": 8},
        "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
                   {"type": "basic", "depth": 1, "width": 16, "stride": 2, "shortcut": "A"}],
        "train": {"epochs": 1, "batch_size": 64}}


def test_train_from_a_checkpoint_with_a_fresh_head_and_frozen_stages(tmp_path):
    from archspec.graph.load import load_spec
    from archspec.keras.model_io import load_model
    from archspec.train.trainer import RunOptions, train

    train(load_spec(TINY), RunOptions(out=tmp_path / "source", verbose=0, log=lambda _: None))
    source = load_model(tmp_path / "source" / "last.keras", compile=False)
    target = load_spec(TINY, overrides={"num_classes": 4, "train": {"data": "synthetic:128", "epochs": 1,
                                                                    "batch_size": 32}})
    logs = []
    train(target, RunOptions(out=tmp_path / "target", verbose=0, log=logs.append,
                             init_from=tmp_path / "source" / "last.keras", freeze=1))
    tuned = load_model(tmp_path / "target" / "last.keras", compile=False)
    assert any("initialised from" in line for line in logs)
    assert tuned.get_layer("predictions").get_weights()[0].shape == (16, 4)
    for frozen in ("conv1_conv", "conv1_bn", "conv2_block1_2_conv", "conv2_block1_2_bn"):
        for a, b in zip(tuned.get_layer(frozen).get_weights(), source.get_layer(frozen).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(tuned.get_layer("conv3_block1_1_conv").get_weights()[0],
                              source.get_layer("conv3_block1_1_conv").get_weights()[0])


def test_train_transfer_errors_are_one_paragraph(tmp_path):
    past = CliRunner().invoke(main, ["train", "cifar_resnet20", "--freeze", "4", "--out", str(tmp_path / "a")])
    assert past.exit_code == 1 and past.output.count("\n") == 1
    assert "cannot freeze up to stage 4: cifar_resnet20 has 3 stages" in past.output
    missing = CliRunner().invoke(main, ["train", "cifar_resnet20", "--init-from", str(tmp_path / "no.keras"),
                                        "--out", str(tmp_path / "b")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_fine_tuning_starts_from_a_pytorch_checkpoint_with_a_fresh_classifier():
    from archspec.graph.load import load_spec
    from archspec.keras.weights.load import load_weights

    from .weights_helpers import FIXTURES

    spec = load_spec(FIXTURES / "resnet_basic.yaml")
    full = build_model(spec)
    load_weights(full, spec, FIXTURES / "resnet_basic.pth")
    three = load_spec(spec, overrides={"num_classes": 3})
    tuned = build_model(three, seed=5)
    fresh = [w.copy() for w in tuned.layers[-1].get_weights()]
    loaded = load_weights(tuned, three, FIXTURES / "resnet_basic.pth")  # the classifier does not fit: left fresh
    assert loaded.adapted.fresh == ("predictions",) and "has 10 classes, the model's 3" in loaded.describe()
    for mine, theirs in zip(tuned.layers[:-1], full.layers[:-1]):
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert all(np.array_equal(a, b) for a, b in zip(tuned.layers[-1].get_weights(), fresh))


@pytest.mark.slow
def test_train_init_from_takes_pth_files_and_refuses_another_architecture(tmp_path):
    from .weights_helpers import FIXTURES

    args = ["train", str(FIXTURES / "resnet_basic.yaml"), "--data", "synthetic:48", "--num-classes", "3",
            "--epochs", "1", "--batch-size", "16"]
    result = CliRunner().invoke(main, [*args, "--init-from", str(FIXTURES / "resnet_basic.pth"),
                                       "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "initialised from" in result.output and "resnet_basic.pth" in result.output
    wrong = CliRunner().invoke(main, [*args, "--init-from", str(FIXTURES / "densenet.pth"),
                                      "--out", str(tmp_path / "wrong")])
    error = wrong.output.splitlines()[-1]
    assert wrong.exit_code == 1 and "Traceback" not in wrong.output and error.startswith("error: ")
    assert "densenet.pth" in error and "DenseNet file" in error and not (tmp_path / "wrong").exists()


def test_train_weights_keeps_a_classifier_that_fits_and_says_which_start_fresh(tmp_path):
    """``--weights`` takes the file as build does: all of it where it fits, a fresh head where the classes differ."""
    from .weights_helpers import FIXTURES

    args = ["train", str(FIXTURES / "resnet_basic.yaml"), "--data", "synthetic:48", "--epochs", "1",
            "--batch-size", "16", "--weights", str(FIXTURES / "resnet_basic.pth")]
    same = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "same")])
    assert same.exit_code == 0, same.output
    line = next(line for line in same.output.splitlines() if line.startswith("initialised from"))
    assert "classifier" not in line and "left at initialisation" not in line
    other = CliRunner().invoke(main, [*args, "--num-classes", "3", "--out", str(tmp_path / "other")])
    assert other.exit_code == 0, other.output
    line = next(line for line in other.output.splitlines() if line.startswith("initialised from"))
    assert "predictions left at initialisation" in line and "10 classes, the model's 3" in line
    both = CliRunner().invoke(main, [*args, "--init-from", str(FIXTURES / "resnet_basic.pth")])
    assert both.exit_code == 1 and "not both" in both.output and both.output.count("\n") == 1
