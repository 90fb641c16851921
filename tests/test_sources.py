"""Data sources: CIFAR from keras.datasets' archives, image folders (ImageNet's layout, bad images)."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from archspec.cli import main
from archspec.spec.errors import RunError
from archspec.train.data import open_data
from archspec.train.sources import cifar
from archspec.train.sources.base import WHITE
from tests.helpers import fake_cifar


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


def open_source(source: str):
    return open_data(source, validation_split=0.1, seed=0, synthetic_classes=10)


@pytest.mark.parametrize("name, classes, train, val", [("cifar10", 10, 100, 20), ("cifar100", 100, 100, 20)])
def test_cifar_reads_the_archive_into_the_keras_cache_layout(keras_home, name, classes, train, val):
    fake_cifar(keras_home, name)
    data = open_source(name)
    assert (data.num_classes, len(data.train), len(data.val), data.shape) == (classes, train, val, (32, 32, 3))
    assert data.train.images.dtype == np.float32 and 0 <= data.train.images.min() and data.train.images.max() <= WHITE
    archive = cifar.ARCHIVES[name]
    unpacked = keras_home / "datasets" / archive.folder / archive.inner
    assert (unpacked / archive.test).is_file()  # where keras.datasets looks, so each reuses the other's copy
    (keras_home / "datasets" / f"{archive.inner}.tar.gz").unlink(missing_ok=True)
    assert len(open_source(name).train) == train  # the unpacked copy is enough from now on


def test_cifar_pixels_keep_their_channel_order(keras_home):
    tarball = fake_cifar(keras_home)
    with tarfile.open(tarball) as tar:
        batch = pickle.loads(tar.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
    first = batch[b"data"][0]  # 1024 red, 1024 green, 1024 blue values, row by row
    image = open_source("cifar10").train.images[0]
    assert np.allclose(image[0, 1] * (255 / WHITE), [first[1], first[1024 + 1], first[2048 + 1]])


def unreachable(monkeypatch, name: str) -> None:
    """The archive's URL on a closed loopback port: tests never reach the internet."""
    archive = cifar.ARCHIVES[name]
    monkeypatch.setitem(cifar.ARCHIVES, name, dataclasses.replace(archive, url=f"http://127.0.0.1:9/{archive.inner}.tar.gz"))


def test_cifar_offline_names_the_url_and_the_path(keras_home, monkeypatch):
    unreachable(monkeypatch, "cifar10")
    with pytest.raises(RunError) as caught:
        open_source("cifar10")
    message = str(caught.value)
    assert "cannot download http://127.0.0.1:9/" in message and "copy it to" in message
    assert str(keras_home / "datasets" / "cifar-10-batches-py.tar.gz") in message
    assert not list((keras_home / "datasets").glob("*.partial"))


def test_a_truncated_cifar_archive_is_named(keras_home):
    tarball = fake_cifar(keras_home)
    tarball.write_bytes(tarball.read_bytes()[:300])
    with pytest.raises(RunError, match="cannot unpack .*cifar-10-python.tar.gz.*truncated"):
        open_source("cifar10")
    assert not (keras_home / "datasets" / "cifar-10-batches-py-target").exists()


class Exploit:
    def __reduce__(self):
        return (print, ("code ran",))


def test_a_cifar_batch_that_would_run_code_is_refused(keras_home, capsys):
    tarball = keras_home / "datasets" / "cifar-10-python.tar.gz"
    tarball.parent.mkdir(parents=True)
    with tarfile.open(tarball, "w:gz") as tar:
        for part in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            payload = pickle.dumps({b"data": Exploit(), b"labels": []})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{part}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(RunError, match="refused builtins.print"):
        open_source("cifar10")
    assert "code ran" not in capsys.readouterr().out


def test_train_on_cifar_says_what_is_wrong_in_one_paragraph(keras_home, tmp_path, monkeypatch):
    fake_cifar(keras_home, "cifar100")
    result = CliRunner().invoke(main, ["train", "cifar_resnet20", "--data", "cifar100", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "has 100 (labels 0..99): pass --num-classes 100" in result.output
    unreachable(monkeypatch, "cifar10")
    result = CliRunner().invoke(main, ["train", "cifar_resnet20", "--data", "cifar10", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and result.output.startswith("error: data cifar10: cannot download")
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


# ---- image folders ------------------------------------------------------------------------------

SMALL = {
    "name": "small", "input_shape": [8, 8, 3], "num_classes": 2, "stem": {"type": "cifar", "width": 4},
    "stages": [{"type": "basic", "depth": 1, "width": 4, "shortcut": "A"}],
    "train": {"epochs": 2, "batch_size": 4},
}


def write_images(folder: Path, classes: list[str], per_class: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")
    return folder


def test_an_imagenet_layout_is_a_fixed_validation_set(tmp_path):
    write_images(tmp_path / "train", ["cat", "dog", "eel"])
    write_images(tmp_path / "val", ["dog", "eel"], per_class=2)  # a class may lack validation images
    data = open_source(f"folder:{tmp_path}")
    assert (data.num_classes, len(data.train), len(data.val)) == (3, 12, 4)
    assert list(data.val.labels) == [1, 1, 2, 2] and all("/val/" in f for f in data.val.files)
    write_images(tmp_path / "val", ["emu"], per_class=1)
    with pytest.raises(RunError, match="named as the training classes; 'emu' is not one of them"):
        open_source(f"folder:{tmp_path}")


def test_a_folder_is_listed_not_opened(tmp_path):
    folder = write_images(tmp_path / "imgs", ["a", "b"])
    (folder / "b" / "9.png").write_bytes(b"")  # unreadable, but only listed at start-up
    assert len(open_source(f"folder:{folder}").train) + len(open_source(f"folder:{folder}").val) == 9



def encoded(image: np.ndarray, format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format, **({"quality": 90} if format == "JPEG" else {}))
    return buffer.getvalue()


def smooth_photo(rng: np.random.Generator) -> np.ndarray:
    """500x375 (ImageNet's most common size), smooth as a photo is, so JPEG keeps its detail."""
    return np.asarray(Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((500, 375)))


def test_a_jpeg_decodes_only_its_crop_window_and_gives_the_pixels_a_full_decode_would():
    import tensorflow as tf

    from archspec.spec.train_schema import TrainSpec
    from archspec.train.data import _augmenter, resized_crop_window
    from archspec.train.sources.base import decode

    jpeg = tf.constant(encoded(smooth_photo(np.random.default_rng(0)), "JPEG"))
    whole = decode(jpeg, 3)
    for seed in range(8):
        window = resized_crop_window(tf.constant([seed, 1], tf.int64))
        cropped, sliced = decode(jpeg, 3, window).numpy(), tf.slice(whole, *window(tf.shape(whole))).numpy()
        assert cropped.shape == sliced.shape and cropped.shape[:2] != (375, 500)  # a real window, the same one
        # the same pixels, up to the decoder's chroma upsampling along the window's edges
        np.testing.assert_array_equal(cropped[1:-1, 1:-1], sliced[1:-1, 1:-1])
        assert np.abs(cropped - sliced).mean() < 0.5
    augment = _augmenter(TrainSpec(augment="resized_crop"), (224, 224, 3), mirror_safe=True)
    for seed in ([1, 2], [3, 4]):  # the training augmentation: the same crop and flip from the file as from pixels
        seed = tf.constant(seed, tf.int64)
        from_file, from_pixels = augment(jpeg, seed).numpy(), augment(whole, seed).numpy()
        assert from_file.shape == (224, 224, 3) and np.abs(from_file - from_pixels).mean() < 0.5


def test_a_jpeg_truncated_below_the_window_is_met_when_a_window_reaches_the_damage(tmp_path):
    import tensorflow as tf

    from archspec.train.sources.base import decode
    from archspec.train.sources.images import unreadable_image

    full = encoded(smooth_photo(np.random.default_rng(0)), "JPEG")
    path = tmp_path / "half.jpg"
    path.write_bytes(full[:len(full) // 2])
    half = tf.constant(path.read_bytes())
    top = decode(half, 3, lambda shape: (tf.constant([0, 0, 0]), tf.constant([50, 50, -1])))
    assert top.shape == (50, 50, 3)  # the window lies in the bytes that are there
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode(half, 3, lambda shape: (tf.constant([300, 0, 0]), tf.constant([50, 50, -1])))
    assert unreadable_image([str(path)], 3)[0] == str(path)  # the run's error then names the file

@pytest.mark.parametrize("format", ["PNG", "GIF", "BMP"])
def test_other_formats_decode_whole_then_crop_to_the_same_window(format):
    import tensorflow as tf

    from archspec.train.data import resized_crop_window
    from archspec.train.sources.base import decode

    pixels = np.random.default_rng(1).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    contents = tf.constant(encoded(pixels, format))
    window = resized_crop_window(tf.constant([5, 1], tf.int64))
    for channels in (1, 3) if format == "PNG" else (3,):  # TensorFlow decodes GIF and BMP to colour only
        whole = decode(contents, channels)
        cropped = decode(contents, channels, window).numpy()
        assert cropped.shape[2] == channels and cropped.shape[:2] != (50, 60)
        np.testing.assert_array_equal(cropped, tf.slice(whole, *window(tf.shape(whole))))

@pytest.mark.slow
def test_an_image_that_does_not_decode_is_refused_before_training_naming_it(tmp_path):
    folder = write_images(tmp_path / "imgs", ["a", "b"])
    (folder / "a" / "2.png").write_bytes((folder / "a" / "2.png").read_bytes()[:40])  # truncated
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--data", f"folder:{folder}", "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"1 of the 8 images of folder:{folder} cannot be used: '{folder / 'a' / '2.png'}'" in result.output
    assert "--skip-broken" in result.output and not out.exists()
