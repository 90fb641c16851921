"""Outputs that overflow in inference mode are named in one line, with the reason and the remedies, by predict,
evaluate and the trainer's validation, instead of NaN being printed or averaged."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from archspec import build_model
from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.keras.model_io import save_model
from archspec.spec.errors import RunError
from archspec.train.trainer import train

from .test_train import quiet, tiny
from .test_weights_use import _write_images


def _overflowing(model: keras.Model) -> keras.Model:
    """The classifier's kernel at float32's largest values: logits of inf, probabilities of NaN."""
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, 3e38), bias])
    return model


def test_predict_and_evaluate_name_an_overflow_instead_of_printing_nan(tmp_path):
    saved = tmp_path / "net.keras"
    save_model(_overflowing(build_model("cifar_resnet20")), saved)
    files = _write_images(tmp_path / "images")
    for args in (["predict", str(saved), str(files[0])],
                 ["evaluate", str(saved), "--data", f"folder:{tmp_path / 'images'}"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert all(line.startswith(("view:", "error:")) for line in lines), result.output  # no NaN printed
        assert "overflow to inf or NaN" in lines[-1] and "zero_init_last_norm: true" in lines[-1]
        assert "Train it first" in lines[-1]


def test_validation_that_overflows_while_training_is_finite_is_named(tmp_path):
    class Scale(keras.callbacks.Callback):  # validation of epoch 1 runs with an overflowing classifier
        def on_test_begin(self, logs=None):
            _overflowing(self.model)

    with pytest.raises(RunError, match=r"overflow to inf or NaN in epoch 1's validation \(training's loss was "
                                       r"finite\)"):
        train(tiny(epochs=2), quiet(tmp_path / "run", callbacks=(Scale(),)))


def test_under_mixed_float16_the_message_names_float16_and_its_remedy():
    from archspec.train.inference import overflow_error

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(load_spec("cifar_resnet20"))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    message = str(overflow_error(model, "for 'x.png'"))
    assert "float16 range (65,504)" in message and "use float32 or mixed_bfloat16" in message
