"""Model files: custom layers round-trip, loading refuses code-carrying files, writes are atomic, seeds repeat."""

from __future__ import annotations

import inspect
import json
import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import archspec
from archspec import build_model
from archspec.cli import main
from archspec.keras import layers
from archspec.keras.model_io import ModelFileError
from archspec.spec.errors import RunError

from .helpers import numpy

pytestmark = pytest.mark.backend_neutral  # CI runs these on every Keras backend

# One instance and input shape per archspec layer: a new layer without an entry here fails the test below.
LAYER_EXAMPLES = {
    "ChannelPad": (lambda: layers.ChannelPad(6), (2, 4, 4, 3)),
    "ChannelSlice": (lambda: layers.ChannelSlice(1, 3), (2, 4, 4, 5)),
    "WeightedAdd": (lambda: layers.WeightedAdd(0.5), [(2, 4, 4, 3), (2, 4, 4, 3)]),
    "HighwayMerge": (lambda: layers.HighwayMerge(), [(2, 4, 4, 3)] * 3),
    "DropPath": (lambda: layers.DropPath(0.2, seed=3), (2, 4, 4, 3)),
    "GradientRoute": (lambda: layers.GradientRoute(1, shortcut=True), [(2, 4, 4, 3), (2, 5)]),
    "LowestPadding2D": (lambda: layers.LowestPadding2D(1), (2, 4, 4, 3)),
    "GroupedConv2D": (lambda: layers.GroupedConv2D(4, 3, groups=2, padding="same"), (2, 4, 4, 4)),
    "InputNormalization": (lambda: layers.InputNormalization(1 / 255, [0.4, 0.5, 0.6], [0.2, 0.3, 0.4], True),
                           (2, 4, 4, 3)),
    "Recompute": (lambda: layers.Recompute([keras.layers.BatchNormalization(), keras.layers.Activation("relu"),
                                             keras.layers.Conv2D(4, 1)]), (2, 4, 4, 3)),
    "ChannelConv": (lambda: layers.ChannelConv(3), (2, 1, 1, 8)),
    "ChannelPool": (lambda: layers.ChannelPool(), (2, 4, 4, 3)),
    "AttentionPool": (lambda: layers.AttentionPool(), [(2, 4, 4, 3), (2, 4, 4, 1)]),
    "RadixSelect": (lambda: layers.RadixSelect(2, 2), [(2, 4, 4, 8), (2, 1, 1, 8)]),
    "StridedDilatedConv2D": (lambda: layers.StridedDilatedConv2D(4, 3, strides=2, dilation_rate=2, groups=2),
                             (2, 9, 9, 4)),
    "RelativeSelfAttention": (lambda: layers.RelativeSelfAttention(2, 4, 3), (2, 3, 4, 22)),
    "HaloAttention": (lambda: layers.HaloAttention(2, 4, 3, 2, 1), [(2, 4, 4, 8), (2, 4, 4, 14)]),
    "LambdaAttention": (lambda: layers.LambdaAttention(2, 3), [(2, 4, 4, 8), (2, 4, 4, 4), (2, 4, 4, 3)]),
    "BlurPool2D": (lambda: layers.BlurPool2D(3, 2), (2, 5, 6, 3)),
    "StandardizedConv2D": (lambda: layers.StandardizedConv2D(4, 3, epsilon=1e-8, padding="same"), (2, 4, 4, 3)),
    "FilterResponseNorm": (lambda: layers.FilterResponseNorm(1e-5, activated=True), (2, 4, 4, 3)),
    "EvoNormB0": (lambda: layers.EvoNormB0(0.9, epsilon=1e-3, activated=True), (2, 4, 4, 3)),
    "EvoNormS0": (lambda: layers.EvoNormS0(2, epsilon=1e-5, activated=True), (2, 4, 4, 6)),
}


def archspec_layer_classes() -> dict[str, type]:
    return {name: cls for name, cls in inspect.getmembers(layers, inspect.isclass)  # a private base is no layer
            if issubclass(cls, keras.layers.Layer) and cls.__module__ == layers.__name__ and not name.startswith("_")}


def as_json(config: dict) -> dict:
    return json.loads(json.dumps(config))


def sample(shape):
    rng = np.random.default_rng(0)
    if isinstance(shape, list):
        return [rng.normal(size=s).astype("float32") for s in shape]
    return rng.normal(size=shape).astype("float32")


# ---- custom layers -------------------------------------------------------------------------------


def test_every_archspec_layer_is_registered_and_has_an_example():
    classes = archspec_layer_classes()
    registered = {name for name in keras.saving.get_custom_objects() if name.startswith("archspec>")}
    assert registered == {f"archspec>{name}" for name in classes}
    assert set(LAYER_EXAMPLES) == set(classes)
    for name, cls in classes.items():
        assert keras.saving.get_registered_object(f"archspec>{name}") is cls


@pytest.mark.parametrize("name", sorted(LAYER_EXAMPLES))
def test_layer_round_trips_through_its_config(name):
    make, shape = LAYER_EXAMPLES[name]
    layer = make()
    x = sample(shape)
    expected = layer(x, training=False)
    config = as_json(layer.get_config())  # what a .keras file holds (tuples become lists)
    assert as_json(layer.__class__.from_config(config).get_config()) == config
    copy = keras.saving.deserialize_keras_object(as_json(keras.saving.serialize_keras_object(layer)), safe_mode=True)
    assert type(copy) is type(layer) and as_json(copy.get_config()) == config
    copy(x, training=False)  # builds its weights
    copy.set_weights(layer.get_weights())
    np.testing.assert_allclose(numpy(copy(x, training=False)), numpy(expected), rtol=1e-6)


# ---- loading .keras files ------------------------------------------------------------------------


def lambda_model_file(folder: Path) -> Path:
    """A tiny model with a Lambda layer: loading it in full would unmarshal and run Python bytecode."""
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(keras.layers.Lambda(lambda t: t * 2, name="double")(inputs))
    path = folder / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def rewritten(source: Path, target: Path, change) -> Path:
    """A copy of a .keras file whose config.json went through ``change`` (as a crafted file would)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            new.writestr(item, json.dumps(change(json.loads(data))) if item.filename == "config.json" else data)
    return target


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, keras.Model]:
    model = build_model("cifar_highway_resnet56", input_size=16, num_classes=3)
    path = tmp_path_factory.mktemp("model") / "net.keras"
    model.save(path)
    return path, model


def test_archspec_models_load_safely_with_identical_outputs(saved):
    path, model = saved
    x = sample((2, 16, 16, 3))
    np.testing.assert_array_equal(numpy(archspec.load_model(path)(x, training=False)), numpy(model(x, training=False)))


def test_a_lambda_layer_is_refused_unless_unsafe(tmp_path):
    path = lambda_model_file(tmp_path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)  # what Keras itself says
    with pytest.raises(ModelFileError) as info:
        archspec.load_model(path)
    message = str(info.value)
    assert message == (f"{path}: refusing to load: layer 'double' is a Lambda layer, which runs a Python function, "
                       f"and loading it could run arbitrary Python code (see SECURITY.md); pass unsafe=True only "
                       f"if you trust the file")
    model = archspec.load_model(path, unsafe=True)
    assert keras.ops.convert_to_numpy(model.get_layer("double")(np.ones((1, 4), "float32"))).tolist() == [[2.0] * 4]


def test_a_module_outside_keras_and_archspec_is_refused(saved, tmp_path):
    """CVE-2025-1550's shape: a crafted config naming any importable callable."""
    def point_at_os(config):
        conv = next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "conv1_conv")
        conv.update(module="os", class_name="system")
        return config

    path = rewritten(saved[0], tmp_path / "crafted.keras", point_at_os)
    with pytest.raises(ModelFileError, match=r"refusing to load: system 'conv1_conv' comes from module 'os', which"):
        archspec.load_model(path)


def test_an_unregistered_archspec_object_is_refused(saved, tmp_path):
    def point_at_loader(config):
        config["config"]["layers"][1].update(module="archspec.spec.loader", registered_name="archspec>read_text")
        return config

    path = rewritten(saved[0], tmp_path / "crafted.keras", point_at_loader)
    with pytest.raises(ModelFileError, match="comes from module 'archspec.spec.loader'"):
        archspec.load_model(path)


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    (b"not a zip at all", "not a .keras file (a zip archive with a config.json)"),
    ({"weights.h5": b""}, "not a .keras file (a zip archive with a config.json)"),
    ({"config.json": b"{not json"}, "its config.json is not valid JSON"),
    ({"config.json": b"{}"}, "Keras cannot load it"),
])
def test_unreadable_files_are_model_file_errors(tmp_path, content, fragment):
    path = tmp_path / "m.keras"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in content.items():
                archive.writestr(name, data)
    with pytest.raises(ModelFileError) as info:
        archspec.load_model(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)
    assert isinstance(info.value, RunError)  # so the CLI reports it as one paragraph, exit 1


# ---- determinism ---------------------------------------------------------------------------------


def test_same_spec_and_seed_give_identical_weights():
    def weights(seed):
        return build_model("cifar_resnet20", input_size=8, seed=seed).get_weights()

    first, again, other = weights(7), weights(7), weights(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


# ---- writing model files atomically ----------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_save_into_a_read_only_folder_fails_before_building(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root ignores mode bits: answer os.access as for anyone else
        monkeypatch.setattr(os, "access", lambda path, mode: not (Path(path) == folder and mode & os.W_OK))
    try:
        result = run("build", "cifar_resnet20", "--save", str(folder / "net.keras"))
    finally:
        folder.chmod(0o700)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == f"error: cannot save to '{folder / 'net.keras'}': folder '{folder}' is not writable\n"
    assert list(folder.iterdir()) == []


def full_disk(*_) -> None:
    raise OSError(28, "No space left on device")


def test_a_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", full_disk)
    result = run("build", "cifar_resnet20", "--input-size", "8", "--save", str(tmp_path / "net.keras"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == f"error: cannot write '{tmp_path / 'net.keras'}': No space left on device\n"
    assert list(tmp_path.iterdir()) == []


def test_schema_out_is_atomic_too(tmp_path, monkeypatch):
    out = tmp_path / "schema.json"
    out.write_text("old")
    monkeypatch.setattr(os, "replace", full_disk)
    result = run("schema", "--out", str(out))
    assert result.exit_code == 1 and result.stderr == f"error: cannot write '{out}': No space left on device\n"
    assert [p.name for p in tmp_path.iterdir()] == ["schema.json"] and out.read_text() == "old"
