"""Named recipes (--recipe), the scale augmentation and the standard evaluation view."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.load import load_training
from archspec.spec.errors import SpecError
from archspec.spec.recipes import recipe_names, recipe_path
from archspec.spec.train_schema import TrainSpec
from archspec.train.data import _augmenter, evaluation_view
from archspec.train.schedules import learning_rate


def recipe(name: str) -> TrainSpec:
    return load_training("cifar_resnet20", [recipe_path(name)]).train


def rates(t: TrainSpec) -> list[float]:
    return [learning_rate(t, epoch) for epoch in range(t.epochs)]


def test_every_recipe_is_a_valid_train_section():
    assert set(recipe_names()) >= {"he2015_cifar", "he2015_imagenet", "tricks2019_imagenet"}
    for name in recipe_names():
        assert recipe(name).weight_decay == 1e-4 and recipe(name).momentum == 0.9


def test_he2015_cifar_drops_at_32k_and_48k_of_64k_iterations_on_cifar10():
    t = recipe("he2015_cifar")
    steps = 50_000 // t.batch_size  # iterations per epoch on CIFAR-10's training images
    drops = [epoch for epoch in range(1, t.epochs) if rates(t)[epoch] < rates(t)[epoch - 1]]
    assert [round(epoch * steps / 1000) for epoch in drops] == [32, 48]
    assert round(t.epochs * steps / 1000) == 64 and (t.batch_size, t.pad, t.flip, t.augment) == (128, 4, True, "pad_crop")


def test_he2015_imagenet_drops_after_epochs_30_and_60_of_90():
    t = recipe("he2015_imagenet")
    assert (t.batch_size, t.epochs, t.augment) == (256, 90, "scale")
    assert rates(t)[29] == pytest.approx(0.1) and rates(t)[30] == pytest.approx(0.01)
    assert rates(t)[59] == pytest.approx(0.01) and rates(t)[60] == pytest.approx(0.001)


def test_the_modern_recipe_warms_up_then_decays_by_a_cosine():
    t = recipe("tricks2019_imagenet")
    lr = rates(t)
    assert lr[:5] == sorted(lr[:5]) and lr[4] < lr[5] == pytest.approx(0.1) and lr[-1] < 0.001
    assert t.label_smoothing == 0.1 and t.schedule == "cosine"


def test_recipe_flags_and_config_stack_in_order(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 3\nbatch_size: 64\n")
    t = load_training("cifar_resnet20", [recipe_path("he2015_cifar"), config], {"train": {"batch_size": 32}}).train
    assert (t.epochs, t.batch_size, t.pad) == (3, 32, 4)  # config over recipe, flags over both
    with pytest.raises(SpecError, match="unknown recipe 'he2015_cifa': did you mean 'he2015_cifar'"):
        recipe_path("he2015_cifa")
    result = CliRunner().invoke(main, ["train", "cifar_resnet20", "--recipe", "resnet", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and result.output.startswith("error: unknown recipe 'resnet'")


def test_the_evaluation_view_is_the_centre_of_the_shorter_side_at_size_over_0875():
    image = np.zeros((256, 320, 3), np.float32)  # shorter side already 224 / 0.875 = 256: no resize
    image[16:240, 48:272] = 1.0  # the centre 224 x 224, framed by zeros
    view = evaluation_view(tf.constant(image), (224, 224, 3)).numpy()
    assert view.shape == (224, 224, 3) and view.min() == 1.0
    wide = evaluation_view(tf.zeros((100, 400, 3)), (224, 224, 3))
    assert wide.shape == (224, 224, 3)
    small = evaluation_view(tf.zeros((40, 30, 3)), (32, 32, 3))  # small inputs: resized whole
    assert small.shape == (32, 32, 3)


def test_scale_augmentation_crops_a_rescaled_image_by_its_seed():
    augment = _augmenter(TrainSpec(augment="scale", flip=False), (224, 224, 3), mirror_safe=True)
    image = tf.random.stateless_uniform((300, 400, 3), (1, 2))
    a, b, c = (augment(image, tf.constant(s, tf.int64)).numpy() for s in ([1, 2], [1, 2], [3, 4]))
    assert a.shape == (224, 224, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
