"""TFRecord shards: `archspec data pack`, the tfrecord: source, and their bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner
from PIL import Image

from archspec.cli import main
from archspec.spec.errors import RunError
from archspec.train.data import open_data
from archspec.train.sources.base import WHITE
from archspec.train.sources.pack import pack
from archspec.train.sources.tfrecord import records_dataset


def open_source(source: str, classes: int = 3):
    return open_data(source, validation_split=0.25, seed=0, synthetic_classes=classes)


def imagenet_layout(root, per_class: int = 3):
    rng = np.random.default_rng(0)
    for side, count in (("train", per_class), ("val", 1)):
        for name in ("ant", "bee", "cow"):
            (root / side / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / side / name / f"{i}.png")
    return root


def test_pack_then_read_back_gives_the_same_images_and_labels(tmp_path):
    source = open_source(f"folder:{imagenet_layout(tmp_path / 'imgs')}")
    out = tmp_path / "shards"
    shards = pack(source, out, shard_size=4)
    assert [p.name for p in shards][:2] == ["train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord"]
    assert not list(out.glob("*.partial"))
    data = open_source(f"tfrecord:{out}/train-*,{out}/val-*")
    assert (len(data.train), len(data.val), len(data.val.records.shards)) == (9, 3, 1)
    read = list(records_dataset(data.val.records, 3, 3, shuffle_seed=None).as_numpy_iterator())
    for (image, label), path, expected in zip(read, source.val.files, source.val.labels):
        assert label == expected and np.array_equal(np.round(image * (255 / WHITE)), np.asarray(Image.open(path)))


def test_one_glob_holds_out_a_seeded_share_of_the_records(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (40, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    pack(open_source(f"npz:{tmp_path / 'd.npz'}"), tmp_path / "s", shard_size=7)
    data = open_source(f"tfrecord:{tmp_path}/s/*.tfrecord")
    assert (len(data.train), len(data.val), data.train.records.keep.sum()) == (30, 10, 30)
    train = list(records_dataset(data.train.records, 1, 3, shuffle_seed=None).as_numpy_iterator())
    val = list(records_dataset(data.val.records, 1, 3, shuffle_seed=None).as_numpy_iterator())
    seen = {img.tobytes() for img, _ in train} | {img.tobytes() for img, _ in val}
    assert len(train) == 30 and len(val) == 10 and len(seen) == 40  # every record on exactly one side
    assert np.array_equal(open_source(f"tfrecord:{tmp_path}/s/*.tfrecord").val.records.keep, data.val.records.keep)


def write_records(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for features in examples:
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def test_bad_shards_are_named_before_anything_is_built(tmp_path):
    with pytest.raises(RunError, match="no file matches"):
        open_source(f"tfrecord:{tmp_path}/none-*")
    label = tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))
    write_records(tmp_path / "a.tfrecord", [{"label": label}])
    with pytest.raises(RunError, match="lacks image/encoded and image/class/label: .*its first record has label"):
        open_source(f"tfrecord:{tmp_path}/a.tfrecord")
    pack(open_source(f"folder:{imagenet_layout(tmp_path / 'imgs')}"), tmp_path / "s", shard_size=100)
    shard = tmp_path / "s" / "train-00000-of-00001.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-50])
    with pytest.raises(RunError, match="train-00000-of-00001.tfrecord' is truncated"):
        open_source(f"tfrecord:{tmp_path}/s/train-*")
    (tmp_path / "text.tfrecord").write_text("not a record file at all, just some text")
    with pytest.raises(RunError, match="truncated or not a TFRecord file"):
        open_source(f"tfrecord:{tmp_path}/text.tfrecord")


def test_pack_refuses_a_folder_of_shards_and_says_how_to_train(tmp_path):
    imagenet_layout(tmp_path / "imgs")
    runner = CliRunner()
    result = runner.invoke(main, ["data", "pack", f"folder:{tmp_path / 'imgs'}", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0 and f"--data 'tfrecord:{tmp_path / 's'}/train-*," in result.output
    again = runner.invoke(main, ["data", "pack", f"folder:{tmp_path / 'imgs'}", "--out", str(tmp_path / "s")])
    assert again.exit_code == 1 and "already holds .tfrecord shards" in again.output


@pytest.mark.slow
def test_training_reads_shards_and_refuses_a_head_of_another_class_count(tmp_path):
    imagenet_layout(tmp_path / "imgs", per_class=4)
    pack(open_source(f"folder:{tmp_path / 'imgs'}"), tmp_path / "s", shard_size=5)
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "small", "input_shape": [8, 8, 3], "num_classes": 3, "stem": {"type": "cifar", "width": 4},
        "stages": [{"type": "basic", "depth": 1, "width": 4, "shortcut": "A"}], "train": {"epochs": 1, "batch_size": 4}}))
    data = f"tfrecord:{tmp_path}/s/train-*,{tmp_path}/s/val-*"
    result = CliRunner().invoke(main, ["train", str(spec), "--data", data, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["train", str(spec), "--data", data, "--num-classes", "2",
                                       "--out", str(tmp_path / "run2")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "head has 2 classes but data tfrecord:" in result.output and "has 3" in result.output, result.output
    assert not (tmp_path / "run2").exists()
    # without data pack's class record, the labels are counted: one glob, a 10-class head, 3-class data
    (tmp_path / "s" / "classes.json").unlink()
    result = CliRunner().invoke(main, ["train", str(spec), "--data", f"tfrecord:{tmp_path}/s/train-*",
                                       "--num-classes", "10", "--out", str(tmp_path / "run3")])
    assert result.exit_code == 1 and "head has 10 classes" in result.output and "has 3" in result.output


def test_data_pack_records_the_classes_beside_the_shards(tmp_path):
    imagenet_layout(tmp_path / "imgs", per_class=2)
    pack(open_source(f"folder:{tmp_path / 'imgs'}"), tmp_path / "s", shard_size=5)
    data = open_source(f"tfrecord:{tmp_path}/s/train-*,{tmp_path}/s/val-*")
    assert data.num_classes == 3 and data.classes == tuple(sorted(p.name for p in (tmp_path / "imgs" / "train").iterdir()))
    (tmp_path / "s" / "classes.json").write_text('{"num_classes": "many"}')
    with pytest.raises(RunError, match="cannot read the class record"):
        open_source(f"tfrecord:{tmp_path}/s/train-*")


def test_the_pipeline_is_timed_beside_a_bare_decode_of_its_files(tmp_path):
    from archspec.graph.load import load_training
    from archspec.train.pipeline_bench import measure_pipeline

    source = f"folder:{imagenet_layout(tmp_path / 'imgs', per_class=4)}"
    spec = load_training("cifar_resnet20", None, {"num_classes": 3, "train": {"batch_size": 4}})
    speed = measure_pipeline(open_source(source), spec, images=16)
    assert speed.pipeline_img_s > 0 and speed.bare_decode_img_s > 0 and speed.ratio == pytest.approx(
        speed.pipeline_img_s / speed.bare_decode_img_s)
    assert speed.whole_decode_img_s > 0
    cropped = load_training("cifar_resnet20", None, {"num_classes": 3, "input_shape": [72, 72, 3],
                                                     "train": {"batch_size": 4}})  # random-resized crops
    assert measure_pipeline(open_source(source), cropped, images=16).bare_decode_img_s > 0
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 8, 8), np.uint8), y=np.arange(20) % 3)
    in_memory = measure_pipeline(open_source(f"npz:{tmp_path / 'd.npz'}"), spec, images=16)
    assert in_memory.bare_decode_img_s is None and in_memory.ratio is None
