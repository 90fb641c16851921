"""`evaluate` and `predict` count what the model means: labels matched to its outputs (ImageNet synsets,
class names, output indices) or refused, the source's own validation side, every training source, and
trained models (a .keras file, a run folder with its class names) as the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from archspec.cli import main
from archspec.spec.errors import RunError
from archspec.spec.zoo import imagenet_classes, imagenet_synsets
from archspec.train.data import open_data
from archspec.train.inference import label_mapping
from archspec.train.sources.base import Data, Split

from .test_sources import write_images


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def named(*classes: str, source: str = "folder:x") -> Data:
    labels = np.arange(len(classes), dtype=np.int32)
    return Data(source, "folder", len(classes), None, Split(labels), Split(labels), classes=classes)


def test_synset_folders_map_to_imagenet_indices():
    synsets = imagenet_synsets()
    assert len(synsets) == 1000 and synsets[0] == "n01440764" and list(synsets) == sorted(synsets)
    mapping = label_mapping(named("n02105641", "n03127925"), 1000)
    assert [synsets[i] for i in mapping] == ["n02105641", "n03127925"]
    with pytest.raises(RunError, match="not among ImageNet-1k synsets: n09999999"):
        label_mapping(named("n02105641", "n09999999"), 1000)
    with pytest.raises(RunError, match="by ImageNet synset .* but the model has 10 outputs"):
        label_mapping(named("n02105641", "n03127925"), 10)


def test_class_names_and_output_indices_map_to_their_outputs():
    names = imagenet_classes()
    assert list(label_mapping(named("goldfish", "tench"), 1000, names)) == [1, 0]
    assert list(label_mapping(named("3", "7"), 10)) == [3, 7]
    assert label_mapping(named("ant", "bee"), 2) is None  # unnamed outputs: the sorted folders are the indices
    assert list(label_mapping(named("dog", "cat"), 2, ("cat", "dog"))) == [1, 0]


def test_classes_that_cannot_match_the_outputs_are_refused():
    digits = open_data("digits", validation_split=0.5, seed=0, synthetic_classes=1000)
    with pytest.raises(RunError, match=r"digits has 10 labels 0\.\.9, which cannot be matched with the model's "
                                       r"1000 outputs: name its class folders by ImageNet synset"):
        label_mapping(digits, 1000, imagenet_classes())
    with pytest.raises(RunError, match="has 2 classes ant, bee, which cannot be matched.*the model's class names"):
        label_mapping(named("ant", "bee"), 2, ("cat", "dog"))


def test_synset_folders_score_what_predict_says(tmp_path):
    """The issue's case: two synset folders whose images predict classifies correctly scored 0%."""
    model = tmp_path / "net.keras"
    assert run("build", "cifar_resnet20", "--num-classes", "1000", "--seed", "1", "--save", model).exit_code == 0
    images = sorted(write_images(tmp_path / "loose", ["x"], per_class=3).glob("x/*.png"))
    predicted = [json.loads(line)["classes"][0] for line in run("predict", model, *images, "--json").output.splitlines()]
    for image, index in zip(images, predicted):
        folder = tmp_path / "subset" / imagenet_synsets()[index]
        folder.mkdir(parents=True, exist_ok=True)
        image.rename(folder / image.name)
    result = run("evaluate", model, "--data", f"folder:{tmp_path / 'subset'}", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["top1"] == 1.0
    assert run("evaluate", model, "--data", "digits").exit_code == 1  # 10 unnamed classes on 1000 outputs
    refused = run("evaluate", model, "--weights", "torchvision", "--data", "digits")
    assert refused.exit_code == 1 and "holds its own weights: leave out --weights" in refused.output


def test_an_imagenet_layout_evaluates_its_val_side_and_tfrecords_evaluate_the_same(tmp_path):
    root = tmp_path / "imagenet"
    write_images(root / "train", ["0", "1"], per_class=3)
    write_images(root / "val", ["0", "1"], per_class=2)
    model = tmp_path / "net.keras"
    assert run("build", "cifar_resnet20", "--num-classes", "2", "--save", model).exit_code == 0
    folder = run("evaluate", model, "--data", f"folder:{root}", "--json")
    assert folder.exit_code == 0, folder.output
    scored = json.loads(folder.output.splitlines()[-1])
    assert scored["images"] == 4  # val/ only
    assert run("data", "pack", f"folder:{root}", "--out", tmp_path / "shards").exit_code == 0
    records = run("evaluate", model, "--data", f"tfrecord:{tmp_path}/shards/train-*,{tmp_path}/shards/val-*", "--json")
    assert records.exit_code == 0, records.output
    assert json.loads(records.output.splitlines()[-1]) == scored


@pytest.mark.slow
def test_a_run_folder_is_a_model_with_its_class_names(tmp_path):
    data = write_images(tmp_path / "photos", ["cat", "dog"], per_class=4)
    spec = tmp_path / "net.yaml"
    spec.write_text(yaml.safe_dump({"extends": "cifar_resnet20", "num_classes": 2,
                                    "train": {"epochs": 1, "batch_size": 4}}))
    out = tmp_path / "run"
    assert run("train", spec, "--data", f"folder:{data}", "--out", out).exit_code == 0
    assert json.loads((out / "classes.json").read_text()) == ["cat", "dog"]
    result = run("predict", out, data / "dog" / "0.png", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)["names"]) == {"cat", "dog"}
    flipped = tmp_path / "flipped"  # the same classes, folders named as the run's classes
    for name in ("cat", "dog"):
        (flipped / name).mkdir(parents=True)
        for image in (data / name).iterdir():
            (flipped / name / image.name).write_bytes(image.read_bytes())
    assert run("evaluate", out, "--data", f"folder:{flipped}").exit_code == 0
    no_spec = run("evaluate", "cifar_resnet20", "--data", f"folder:{flipped}")
    assert no_spec.exit_code == 1 and "pass its weights with --weights" in no_spec.output
