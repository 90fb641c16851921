"""The tfds: source: tfds's mock data end to end, a tiny prepared builder for the splits, the
validation rule and resumption, and each bad input's one paragraph."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest
import tensorflow_datasets as tfds
import yaml
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.spec.errors import RunError
from archspec.train.data import open_data, pipelines
from archspec.train.sources.base import WHITE

TINY = {"name": "tiny", "input_shape": [8, 8, 3], "num_classes": 3, "stem": {"type": "cifar", "width": 4},
        "stages": [{"type": "basic", "depth": 1, "width": 4, "shortcut": "A"}],
        "train": {"epochs": 3, "batch_size": 4}}
TRAIN, TEST, VALIDATION = range(0, 24), range(100, 106), range(200, 209)  # each example's pixel value


class ArchspecTestImages(tfds.core.GeneratorBasedBuilder):
    """8x8 RGB images, each filled with its example's number, labelled number % 3; its configs have
    a test split, a validation split too, or the training split alone."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name) for name in ("train_test", "with_validation", "train_only")]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(builder=self, supervised_keys=("picture", "kind"), features=tfds.features.FeaturesDict(
            {"picture": tfds.features.Image(shape=(8, 8, 3)), "kind": tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
        splits = {"train": self._generate_examples(TRAIN)}
        if self.builder_config.name != "train_only":
            splits["test"] = self._generate_examples(TEST)
        if self.builder_config.name == "with_validation":
            splits["validation"] = self._generate_examples(VALIDATION)
        return splits

    def _generate_examples(self, numbers: range):
        for i in numbers:
            yield i, {"picture": np.full((8, 8, 3), i, np.uint8), "kind": i % 3}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A TFDS data folder holding the three configs of the test builder."""
    root = tmp_path_factory.mktemp("tfds")
    skip_stats = tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
    for config in ArchspecTestImages.BUILDER_CONFIGS:
        tfds.builder(f"archspec_test_images/{config.name}", data_dir=root).download_and_prepare(
            download_config=skip_stats)
    return root


@pytest.fixture
def data_dir(prepared, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(prepared))
    return prepared


def open_source(source: str, validation_split: float = 0.1, seed: int = 0):
    return open_data(source, validation_split=validation_split, seed=seed, synthetic_classes=2)


def numbers(records, channels: int = 3) -> list[int]:
    """The example number of each (image, label) a side reads, checking that the label came with its image."""
    found = []
    for image, label in records.dataset(channels, 3, None).as_numpy_iterator():
        assert image.dtype == np.float32 and image.shape == (8, 8, channels)
        number = round(float(image.max()) * 255 / WHITE)
        assert np.all(image == number * WHITE / 255) and label == number % 3
        found.append(number)
    return found


def write_spec(tmp_path, **fields) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **fields}))
    return str(path)


@pytest.mark.slow
def test_training_on_mock_mnist_runs_end_to_end(tmp_path):
    spec = write_spec(tmp_path, input_shape=[8, 8, 1], num_classes=10, train={"epochs": 1, "batch_size": 4})
    with tfds.testing.mock_data(num_examples=20), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, ["train", spec, "--data", "tfds:mnist", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if "ran out of data" in str(w.message)]  # fit knows the validation stream's length
    assert "data tfds:mnist: 18 training and 2 validation images, 10 classes" in result.output
    assert (tmp_path / "run" / "metrics.json").exists()


def test_the_classes_are_the_label_features(tmp_path):
    with tfds.testing.mock_data(num_examples=4):
        assert open_source("tfds:cifar100").num_classes == 100
        result = CliRunner().invoke(main, ["train", write_spec(tmp_path), "--data", "tfds:mnist",
                                           "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "has 10 (labels 0..9): pass --num-classes 10" in result.output, result.output
    assert not (tmp_path / "run").exists()


def test_images_and_their_labels_are_read_from_the_supervised_keys(data_dir):
    data = open_source("tfds:archspec_test_images/train_test")
    assert data.num_classes == 3 and (len(data.train), len(data.val)) == (24, 6)
    assert sorted(numbers(data.train.records)) == list(TRAIN)
    assert sorted(numbers(data.val.records, channels=1)) == list(TEST)  # grey, as other sources convert


def test_the_split_takes_tfds_slices_and_validation_is_a_split_it_does_not_read(data_dir):
    half = open_source("tfds:archspec_test_images/with_validation:train[:50%]")
    first = numbers(half.train.records)
    assert len(first) == 12 and set(first) < set(TRAIN)
    assert sorted(numbers(half.val.records)) == list(VALIDATION)  # validation before test
    assert sorted(numbers(open_source("tfds:archspec_test_images/train_test").val.records)) == list(TEST)
    both = open_source("tfds:archspec_test_images/train_test:train+test")  # nothing left to validate on: held out
    assert (len(both.train), len(both.val)) == (27, 3)
    fixed = open_source("tfds:archspec_test_images/with_validation:train[:50%],train[50%:]")
    assert sorted(first + numbers(fixed.val.records)) == list(TRAIN)  # the other half, as given


def test_without_another_split_a_seeded_share_is_held_out(data_dir):
    data = open_source("tfds:archspec_test_images/train_only", validation_split=0.25)
    train, val = numbers(data.train.records), numbers(data.val.records)
    assert (len(train), len(val)) == (18, 6) and sorted(train + val) == list(TRAIN)
    assert numbers(open_source("tfds:archspec_test_images/train_only", validation_split=0.25).val.records) == val
    assert numbers(open_source("tfds:archspec_test_images/train_only", 0.25, seed=1).val.records) != val


@pytest.mark.parametrize("config", ["train_test", "train_only"])  # whole files shuffled; a held-out share
def test_each_epochs_batches_depend_on_the_seed_and_the_epoch_only(config, data_dir):
    spec = load_spec(TINY)
    data = open_source(f"tfds:archspec_test_images/{config}")
    steps = len(data.train) // 4

    def batches(first_epoch: int, epochs: int = 3) -> tuple[np.ndarray, np.ndarray]:
        t = spec.train.model_copy(update={"epochs": epochs})
        pairs = list(pipelines(data, spec, t, first_epoch=first_epoch)[0].as_numpy_iterator())
        return np.stack([x for x, _ in pairs]), np.stack([np.argmax(y, -1) for _, y in pairs])

    images, labels = batches(0)
    assert len(images) == 3 * steps
    np.testing.assert_array_equal(batches(2)[0], images[2 * steps:])  # a resumed run sees epoch 3 as it was
    np.testing.assert_array_equal(batches(0, epochs=2)[0], images[:2 * steps])
    assert not np.array_equal(labels[:steps], labels[steps:2 * steps])  # each epoch its own order


@pytest.mark.parametrize("source, message", [
    ("tfds:mnits", r"tfds has no data set 'mnits' \(did you mean mnist, .*\); its catalog lists them"),
    ("tfds:archspec_test_images/train_tset", r"has no config 'train_tset' \(did you mean train_test, train_only\?\)"),
    ("tfds:imdb_reviews", r"archspec trains image classifiers.*imdb_reviews has supervised keys text, label and "
                          r"features text \(Text\), label \(ClassLabel\)"),
    ("tfds:archspec_test_images/train_test:vaal", r"cannot read split 'vaal' \(Unknown split 'vaal'.*\); its splits "
                                                  r"are train \(24\), test \(6\)"),
    ("tfds:archspec_test_images/train_test:train[:50", r"cannot read split 'train\[:50' \(Error parsing split"),
    ("tfds:archspec_test_images/train_test:train[20:10]", r"split 'train\[20:10\]' .* holds no examples"),
])
def test_bad_sources_are_one_paragraph_before_anything_is_built(source, message, data_dir):
    with pytest.raises(RunError, match=message):
        open_source(source)


def test_data_not_prepared_says_where_and_how_to_prepare_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["train", write_spec(tmp_path), "--data", "tfds:archspec_test_images",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"'archspec_test_images' is not prepared in {tmp_path / 'empty'}" in result.output
            and f"`tfds build archspec_test_images/train_test --data_dir {tmp_path / 'empty'}`" in result.output
            and "TFDS_DATA_DIR" in result.output), result.output
    assert not (tmp_path / "run").exists()


def test_without_tensorflow_datasets_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import raises ImportError
    result = CliRunner().invoke(main, ["train", write_spec(tmp_path), "--data", "tfds:mnist",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "data tfds:mnist needs tensorflow-datasets, which is not installed" in result.output, result.output
    assert "pip install 'archspec[tfds]'" in result.output and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_pipeline_is_timed_beside_reading_and_decoding_alone(data_dir):
    from archspec.graph.load import load_training
    from archspec.train.pipeline_bench import measure_pipeline

    spec = load_training("cifar_resnet20", None, {"num_classes": 3, "train": {"batch_size": 4}})
    speed = measure_pipeline(open_source("tfds:archspec_test_images/train_test"), spec, images=16)
    assert speed.pipeline_img_s > 0 and speed.bare_decode_img_s is not None and speed.bare_decode_img_s > 0


def test_evaluate_scores_the_builders_own_test_split(tmp_path, data_dir):
    model = tmp_path / "tiny.keras"
    assert CliRunner().invoke(main, ["build", write_spec(tmp_path), "--save", str(model)]).exit_code == 0
    result = CliRunner().invoke(main, ["evaluate", str(model), "--data", "tfds:archspec_test_images/train_test",
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["images"] == len(TEST)
