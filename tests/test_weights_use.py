"""Published weights in use: the zoo's source records, named sources from the cache, `predict`,
`evaluate` with the transform recorded with the weights, and `zoo show`'s weights listing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.keras.weights.sources import cache_path, record_for, resolve
from archspec.keras.weights.torch_pickle import WeightsFileError
from archspec.spec.source_schema import EvalTransform
from archspec.spec.zoo import imagenet_classes, zoo_paths
from archspec.train.inference import Transform

from .weights_helpers import FIXTURES

SOURCES = {name: load_spec(name).source for name in zoo_paths()}


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_records_carry_top1_transform_and_torchvisions_hash_prefix():
    for name, source in SOURCES.items():
        for w in source.weights if source else ():
            assert w.top1 is not None, name
            if source.library == "torchvision":
                assert w.url.rsplit("-", 1)[1] == f"{w.sha256}.pth", name
            if source.library != "keras.applications":
                assert w.eval is not None, name


def test_a_spec_that_extends_an_entry_does_not_inherit_its_source():
    assert SOURCES["resnet50"] is not None
    assert load_spec("specs/resnet50_d.yaml").source is None


def test_imagenet_class_names_are_a_thousand_distinct_names():
    names = imagenet_classes()
    assert len(names) == len(set(names)) == 1000 and names[0] == "tench"


def _sourced_spec(url: str, **digest: str) -> object:
    spec = yaml.safe_load((FIXTURES / "resnet_basic.yaml").read_text())
    spec["source"] = {"library": "torchvision", "model": "fixture",
                      "weights": [{"name": "V1", "url": url, **digest}]}
    return load_spec(spec)


def test_a_named_source_already_in_the_cache_needs_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    data = (FIXTURES / "resnet_basic.pth").read_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    spec = _sourced_spec(f"https://example.invalid/fixture-{prefix}.pth", sha256=prefix)
    cached = cache_path(spec.source.weights[0], "archspec/torchvision")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    assert resolve(spec, "torchvision") == cached
    assert record_for(spec, "torchvision:V1") is record_for(spec, cached) is spec.source.weights[0]


def test_imagenet_loads_keras_applications_file_from_the_keras_cache(tmp_path, monkeypatch):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format  # the format of keras.applications' downloads

    from archspec.keras.build import build_model

    source = build_model("cifar_resnet20", seed=1)
    data_file = tmp_path / "written.h5"
    with h5py.File(data_file, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    data = data_file.read_bytes()
    spec = yaml.safe_load(Path(zoo_paths()["cifar_resnet20"]).read_text())
    spec["source"] = {"library": "keras.applications", "model": "Fixture", "weights": [
        {"name": "imagenet", "url": "https://example.invalid/fixture.h5", "md5": hashlib.md5(data).hexdigest()}]}
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fixture.h5").write_bytes(data)
    model = build_model(load_spec(spec), weights="imagenet", seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), source.get_weights()))


def test_a_cached_file_with_another_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    spec = _sourced_spec("https://example.invalid/fixture-00000000.pth", sha256="00000000")
    cached = cache_path(spec.source.weights[0], "archspec/torchvision")
    cached.parent.mkdir(parents=True)
    cached.write_bytes((FIXTURES / "resnet_basic.pth").read_bytes())
    with pytest.raises(WeightsFileError, match="does not start with 00000000"):
        resolve(spec, "torchvision")


def test_offline_without_the_file_names_the_url_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    spec = _sourced_spec("https://example.invalid/fixture-00000000.pth", sha256="00000000")
    with pytest.raises(WeightsFileError) as error:
        resolve(spec, "torchvision")
    assert "https://example.invalid/fixture-00000000.pth" in str(error.value)
    assert str(tmp_path / "archspec" / "torchvision" / "fixture-00000000.pth") in str(error.value)
    with pytest.raises(WeightsFileError, match="is torchvision's fixture: use --weights torchvision"):
        resolve(spec, "timm")
    with pytest.raises(WeightsFileError, match="no weights 'V9'.*it has V1"):
        resolve(spec, "torchvision:V9")
    with pytest.raises(WeightsFileError, match="no weights 'V11'.*did you mean torchvision:V1"):
        resolve(spec, "torchvision:V11")


def test_the_recorded_transform_is_scaled_to_the_input_size():
    recorded = Transform.of(112, EvalTransform(resize=232, crop=224))
    assert (recorded.size, recorded.resize, recorded.interpolation) == (112, 116, "bilinear")
    assert "recorded with the weights" in recorded.describe()
    default = Transform.of(224, None).describe()
    assert default.startswith("shorter side resized to 256") and "the weights record no view" in default
    assert Transform.of(32, None).describe().startswith("whole image resized to 32x32")
    changed = Transform.of(224, EvalTransform(resize=256, crop=224), resize=235, interpolation="bicubic")
    assert (changed.resize, changed.interpolation) == (235, "bicubic") and "changed as given" in changed.describe()


def test_resize_and_crop_keeps_the_centre():
    import tensorflow as tf

    from archspec.train.eval_transform import resize_and_crop

    image = np.zeros((300, 400, 3), np.uint8)
    image[:, 150:250] = 255  # a vertical band in the middle survives the centre crop, the sides do not
    out = resize_and_crop(tf.constant(image), 224).numpy()
    assert out.shape == (224, 224, 3)
    assert out[:, 112].min() > 250 and out[:, 0].max() < 5 and out[:, -1].max() < 5


def _write_images(folder: Path) -> list[Path]:
    import tensorflow as tf

    reference = np.load(FIXTURES / "reference.npz")["resnet_basic_images"]
    files = []
    for i, image in enumerate(reference):
        path = folder / str(i) / f"image{i}.png"  # class folders named by output index
        path.parent.mkdir(parents=True)
        tf.io.write_file(str(path), tf.io.encode_png(image))
        files.append(path)
    return files


def test_predict_and_evaluate_agree(tmp_path):
    files = _write_images(tmp_path / "images")
    spec, weights = FIXTURES / "resnet_basic.yaml", FIXTURES / "resnet_basic.pth"
    predicted = [json.loads(line) for line in run("predict", spec, *files, "--weights", weights, "--json")
                 .output.splitlines()]
    assert [p["file"] for p in predicted] == [str(f) for f in files] and predicted[0]["names"] is None
    result = run("evaluate", spec, "--weights", weights, "--data", f"folder:{tmp_path / 'images'}", "--json")
    assert result.exit_code == 0, result.output
    accuracy = json.loads(result.output.splitlines()[-1])
    hits = [p["classes"][0] == label for label, p in enumerate(predicted)]
    assert accuracy["images"] == 2 and accuracy["top1"] == sum(hits) / 2


def test_predict_names_imagenet_classes(tmp_path):
    saved = tmp_path / "net.keras"
    assert run("build", "cifar_resnet20", "--num-classes", "1000", "--save", saved).exit_code == 0
    files = _write_images(tmp_path / "images")
    result = run("predict", "cifar_resnet20", "--num-classes", "1000", "--weights", saved, files[0], "--top", "2")
    assert result.exit_code == 2  # predict takes the spec's classes; a 1000-class spec is needed
    spec = tmp_path / "net.yaml"
    spec.write_text("extends: cifar_resnet20\nnum_classes: 1000\n")
    result = run("predict", spec, "--weights", saved, files[0], "--top", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("view: whole image resized to 32x32 (the default")
    assert len(lines) == 4 and any(name in lines[2] for name in imagenet_classes())
    direct = run("predict", saved, files[0], "--top", "2")  # the .keras file as the model
    assert direct.exit_code == 0 and direct.output == result.output, direct.output


def test_predict_refuses_a_file_that_is_no_image(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = run("predict", FIXTURES / "resnet_basic.yaml", "--weights", FIXTURES / "resnet_basic.pth", bad)
    assert result.exit_code == 1 and result.output.startswith(f"error: cannot read image '{bad}'")


def test_zoo_show_lists_the_weight_sources():
    result = run("zoo", "show", "resnet50")
    for w in SOURCES["resnet50"].weights:
        assert f"torchvision:{w.name}" in result.output and f"top-1 {w.top1:.2f}%" in result.output
    assert "imagenet" in run("zoo", "show", "keras_resnet50").output
    assert "none recorded" in run("zoo", "show", "cifar_resnet20").output


def test_timm_weights_without_huggingface_hub_say_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    with pytest.raises(WeightsFileError, match=r"needs huggingface_hub \(pip install 'archspec\[hub\]'\).*"
                                               r"https://huggingface.co/timm/seresnet50.a1_in1k"):
        resolve(load_spec("se_resnet50"), "timm")


def test_a_hand_downloaded_file_is_recognised_by_its_sha256(tmp_path):
    """timm's files are all named model.safetensors: a full SHA-256 in the record finds the view for it."""
    data = (FIXTURES / "resnet_basic.pth").read_bytes()
    spec = _sourced_spec("hf://timm/fixture.a1_in1k", sha256=hashlib.sha256(data).hexdigest(),
                         eval={"resize": 235, "crop": 224, "interpolation": "bicubic"})
    downloaded = tmp_path / "model.safetensors"
    downloaded.write_bytes(data)
    assert record_for(spec, downloaded) is spec.source.weights[0]
    other = tmp_path / "other" / "model.safetensors"
    other.parent.mkdir()
    other.write_bytes(data + b"\0")
    assert record_for(spec, other) is None


def test_an_unrecognised_file_says_which_view_it_used_and_how_to_get_the_records(tmp_path):
    spec = yaml.safe_load((FIXTURES / "resnet_basic.yaml").read_text())
    spec["source"] = {"library": "timm", "model": "fixture", "weights": [
        {"name": "a1_in1k", "url": "hf://timm/fixture.a1_in1k", "eval": {"resize": 235, "crop": 224,
                                                                          "interpolation": "bicubic"}}]}
    (tmp_path / "net.yaml").write_text(yaml.safe_dump(spec))
    weights = tmp_path / "downloaded.pth"
    weights.write_bytes((FIXTURES / "resnet_basic.pth").read_bytes())
    image = _write_images(tmp_path / "images")[0]
    result = run("predict", tmp_path / "net.yaml", "--weights", weights, image)
    assert result.exit_code == 0, result.output
    assert "is none of the weights" in result.output
    assert "a1_in1k: --resize 235 --interpolation bicubic" in result.output
