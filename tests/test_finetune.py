"""`archspec reproduce finetune`: its data split, the npz fixed validation set it trains with, its CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.experiments.finetune import epochs_for, parse_shots, save_arrays, task
from archspec.spec.errors import RunError
from archspec.train.data import WHITE, open_data


def _source(tmp_path, classes=6, per_class=12):
    """An npz source whose images carry their index in one pixel, so a split can be traced back."""
    n = classes * per_class
    x = np.zeros((n, 4, 4, 1), np.float32)
    x[:, 0, 0, 0] = np.arange(n)
    np.savez(tmp_path / "ids.npz", x=x, y=np.arange(n) % classes)
    return f"npz:{tmp_path / 'ids.npz'}", np.arange(n) % classes


def _index(images):
    """The index each image carries, a pixel value read back from the pipeline's scale."""
    return np.rint(images[:, 0, 0, 0] * (255 / WHITE)).astype(int)


def _ids(images):
    return set(_index(images))


def test_shot_sets_are_balanced_nested_relabelled_and_disjoint_from_the_held_out_images(tmp_path):
    source, labels = _source(tmp_path)
    split = task(source, (2, 5), seed=0)
    assert split.classes == 6 and sorted(_ids(split.pretrain[0])) == list(np.flatnonzero(labels < 3))
    assert set(split.pretrain[1]) == {0, 1, 2}
    for s, (x, y) in split.shots.items():
        assert np.bincount(y).tolist() == [s, s, s]  # relabelled 3..5 -> 0..2, s of each
        assert all(labels[i] == label + 3 for i, label in zip(_index(x), y))
    assert _ids(split.shots[2][0]) < _ids(split.shots[5][0])
    held_x, held_y = split.held_out
    assert np.bincount(held_y).tolist() == [7, 7, 7] and not _ids(held_x) & _ids(split.shots[5][0])
    assert _ids(held_x) | _ids(split.shots[5][0]) == set(np.flatnonzero(labels >= 3))
    again, other = task(source, (2, 5), seed=0), task(source, (2, 5), seed=1)
    assert _ids(again.shots[2][0]) == _ids(split.shots[2][0]) != _ids(other.shots[2][0])


def test_digits_split_in_halves_keeps_them_flip_free():
    split = task("digits", (5, 50), seed=0)
    assert len(split.pretrain[1]) == 901 and len(split.held_out[1]) == 896 - 250
    assert not split.mirror_safe  # a mirrored digit is no digit, in the npz copies too


@pytest.mark.parametrize("text, shots", [("5,10,20,50", (5, 10, 20, 50)), ("20, 5,5", (5, 20)), ("1", (1,))])
def test_shots_parse(text, shots):
    assert parse_shots(text) == shots


@pytest.mark.parametrize("text", ["0", "", "5,,10", "five", "-3", "2.5"])
def test_bad_shots_say_what_is_expected(text):
    with pytest.raises(RunError, match="must be whole numbers of training images per new class, 1 or more"):
        parse_shots(text)


def test_shots_must_leave_each_new_class_a_held_out_image(tmp_path):
    source, _ = _source(tmp_path)
    with pytest.raises(RunError, match="--shots 12 is too many: class 3 .* has 12 images .* at most 11"):
        task(source, (5, 12), seed=0)
    with pytest.raises(RunError, match="at least 4 classes"):
        task(_source(tmp_path, classes=3)[0], (1,), seed=0)
    with pytest.raises(RunError, match="needs images in memory"):
        task("synthetic", (1,), seed=0)


def test_every_shot_count_trains_about_the_same_number_of_steps():
    assert [epochs_for(5 * s, 25, 60) for s in (5, 10, 20, 50)] == [60, 30, 15, 6]
    assert epochs_for(50, 25, 2) == 1 and epochs_for(30, 25, 2) == 2


def test_arrays_are_named_by_their_contents(tmp_path):
    x, y = np.zeros((4, 8, 8), np.float32), np.array([0, 1, 0, 1])
    a = save_arrays(tmp_path, "d", x=x, y=y, x_val=x[:2], y_val=y[:2])
    assert save_arrays(tmp_path, "d", x=x, y=y, x_val=x[:2], y_val=y[:2]) == a
    assert save_arrays(tmp_path, "d", x=x, y=y[::-1].copy(), x_val=x[:2], y_val=y[:2]) != a
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial files
    data = open_data(a, validation_split=0.1, seed=0, synthetic_classes=10)
    assert (len(data.train), len(data.val), data.shape) == (4, 2, (8, 8, 1))


# ---- npz: a fixed validation set (x_val, y_val) ----------------------------------------------------------

def test_npz_fixed_validation_set_replaces_the_random_split(tmp_path):
    rng = np.random.default_rng(0)
    x, x_val = rng.integers(0, 256, (10, 6, 6), dtype=np.uint8), rng.integers(0, 256, (3, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 4, x_val=x_val, y_val=np.array([[3], [0], [1]]))
    data = open_data(f"npz:{tmp_path / 'd.npz'}", validation_split=0.5, seed=0, synthetic_classes=10)
    assert (len(data.train), len(data.val), data.num_classes, data.shape) == (10, 3, 4, (6, 6, 1))
    assert data.val.labels.tolist() == [3, 0, 1] and data.val.labels.dtype == np.int32
    np.testing.assert_allclose(data.val.images[..., 0], x_val * (WHITE / 255))
    np.testing.assert_allclose(data.train.images[..., 0], x * (WHITE / 255))  # in order, nothing held out of x


@pytest.mark.parametrize("extra, message", [
    ({"x_val": np.zeros((2, 6, 6))}, "holds x_val but no y_val: a fixed validation set needs both"),
    ({"y_val": np.zeros(2, int)}, "holds y_val but no x_val"),
    ({"x_val": np.zeros((2, 5, 6)), "y_val": np.zeros(2, int)}, r"x_val must be at least one image like those of "
                                                                r"x \(float64, 6 x 6 x 1 each\), got float64 \(2, 5, 6\)"),
    ({"x_val": np.zeros((2, 6, 6, 3)), "y_val": np.zeros(2, int)}, "x_val must be at least one image like"),
    ({"x_val": np.zeros((2, 6, 6), np.uint8), "y_val": np.zeros(2, int)},
     r"x holds fractions of full scale \(0 to 1\) but x_val pixel values"),
    ({"x_val": np.zeros((0, 6, 6)), "y_val": np.zeros(0, int)}, "x_val must be at least one image like"),
    ({"x_val": np.zeros((2, 6, 6)), "y_val": np.zeros(3, int)}, r"y_val must be 2 integer labels \(one per image "
                                                                 r"in x_val\)"),
    ({"x_val": np.zeros((2, 6, 6)), "y_val": np.array([1, 7])}, r"y_val holds labels no image of y has \(7\)"),
    ({"x_val": np.zeros((2, 6, 6)), "y_val": np.array([-1, 0])}, "labels must be 0 or more, found -1 in y_val"),
    ({"x_val": np.full((2, 6, 6), np.nan), "y_val": np.zeros(2, int)}, "x_val holds NaN or infinite values"),
])
def test_npz_validation_set_errors_name_the_problem(tmp_path, extra, message):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 6, 6)), y=np.array([0, 1, 3, 1]), **extra)
    with pytest.raises(RunError, match=message):
        open_data(f"npz:{tmp_path / 'd.npz'}", validation_split=0.1, seed=0, synthetic_classes=10)


def test_npz_without_images_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((0, 6, 6)), y=np.zeros(0, int), x_val=np.zeros((1, 6, 6)),
             y_val=np.zeros(1, int))
    with pytest.raises(RunError, match="x holds no images"):
        open_data(f"npz:{tmp_path / 'd.npz'}", validation_split=0.1, seed=0, synthetic_classes=10)


# ---- the command ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--shots", "0"], "--shots '0' must be whole numbers"),
    (["--shots", "5,200"], "--shots 200 is too many: class 8 of data digits has 174 images"),
    (["--data", "synthetic"], "needs images in memory (digits or npz:PATH), not data synthetic"),
])
def test_bad_input_is_one_paragraph_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["reproduce", "finetune", *args, "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and message in result.output
    assert not out.exists()


@pytest.mark.slow
def test_reproduce_finetune_tiny(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "finetune", "--tiny", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "finetune.csv").open()))
    assert [(r["shots"], r["method"]) for r in rows] == [(s, m) for s in ("5", "10")
                                                         for m in ("fine-tune", "frozen", "scratch")]
    assert all(0 <= float(r["val_error"]) <= 100 for r in rows)
    assert [(r["epochs"], r["steps"]) for r in rows] == [("2", "2")] * 3 + [("1", "2")] * 3  # batch 25
    assert (tmp_path / "finetune.png").stat().st_size > 1000
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} == {
        "data", "pretrain", *(f"shots{s}_{m}" for s in (5, 10) for m in ("fine-tune", "frozen", "scratch"))}
    again = CliRunner().invoke(main, ["reproduce", "finetune", "--tiny", "--out", str(tmp_path)])
    assert again.exit_code == 0 and again.output.count("already holds this run, finished") == 7
    assert list(csv.DictReader((tmp_path / "finetune.csv").open())) == rows
