"""Training: the recipe, the data sources and their errors, run folders, resume, NaN, determinism."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from archspec.cli import main
from archspec.graph.load import load_spec, load_text, load_training
from archspec.spec.errors import RunError, SpecError
from archspec.spec.train_schema import TrainSpec
from archspec.train.data import WHITE, check_fits, open_data
from archspec.train.run_folder import RunFolder
from archspec.train.schedules import learning_rate, plateau_drops
from archspec.train.trainer import RunOptions, train

ROOT = Path(__file__).resolve().parents[1]

# Two basic blocks on 8x8 grey images: trains an epoch of digits in well under a second.
TINY = {
    "name": "tiny", "input_shape": [8, 8, 1], "num_classes": 10, "stem": {"type": "cifar", "width": 8},
    "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
               {"type": "basic", "depth": 1, "width": 16, "stride": 2, "shortcut": "A"}],
    "train": {"epochs": 2, "batch_size": 64},
}


def tiny(**train_fields) -> object:
    return load_spec({**TINY, "train": {**TINY["train"], **train_fields}})


def quiet(out: Path, **kw) -> RunOptions:
    return RunOptions(out=out, verbose=0, log=lambda line: None, **kw)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


# ---- the recipe ---------------------------------------------------------------------------------


def test_defaults_are_the_papers_recipe():
    t = TrainSpec()
    assert (t.lr, t.momentum, t.weight_decay, t.batch_size, t.schedule, t.milestones, t.gamma) == (
        0.1, 0.9, 1e-4, 128, "step", [0.5, 0.75], 0.1)


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
    t = TrainSpec(epochs=8)
    assert [learning_rate(t, e) for e in range(8)] == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)
    assert learning_rate(TrainSpec(epochs=1), 0) == 0.1  # round(0.5 * 1) is 0: no drop before the first epoch


def test_warm_up_then_cosine_to_zero():
    t = TrainSpec(epochs=10, schedule="cosine", warmup_epochs=2)
    rates = [learning_rate(t, e) for e in range(10)]
    assert rates[:3] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1])
    assert all(a > b for a, b in zip(rates[2:], rates[3:])) and rates[-1] < 0.01


def test_plateau_replays_the_validation_losses():
    assert plateau_drops([3, 2, 2.5, 2.4, 2.1, 1.9], patience=3) == 1
    t = TrainSpec(epochs=10, schedule="plateau", patience=2)
    assert learning_rate(t, 4, [1.0, 1.1, 1.2, 0.9]) == pytest.approx(0.01)  # only epochs before 4 count


def test_train_section_errors_point_at_the_line(tmp_path):
    text = "name: t\nstages: [{type: basic, depth: 1, width: 8}]\ntrain:\n  epochs: 3\n  warmup_epochs: 3\n"
    with pytest.raises(SpecError, match=r"^net.yaml:5:18: train.warmup_epochs: warmup_epochs 3 leaves no"):
        load_text(text, "net.yaml")
    config = tmp_path / "recipe.yaml"
    config.write_text("epochs: 5\nschedule: cosin\n")
    with pytest.raises(SpecError, match=r"recipe.yaml:2:11: train.schedule: .* did you mean 'cosine'"):
        load_training("cifar_resnet20", config)


def test_config_file_and_flags_override_the_spec_in_that_order(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("epochs: 5\nlr: 0.05\n")
    spec = load_training(load_spec(TINY), config, {"train": {"lr": 0.01}})
    assert (spec.train.epochs, spec.train.lr, spec.train.batch_size) == (5, 0.01, 64)


def test_a_quoted_number_is_refused_in_a_config_file_as_in_a_spec(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text('epochs: 5\nlr: "0.05"\n')
    with pytest.raises(SpecError, match=r"recipe.yaml:2:5: train.lr: Input should be a valid number, got .0.05."):
        load_training(load_spec(TINY), config)
    stages = [{**TINY["stages"][0], "dropout": "0.2"}, TINY["stages"][1]]
    with pytest.raises(SpecError, match=r"stages\[0\].dropout: .*valid number"):
        load_spec({**TINY, "stages": stages})
    with pytest.raises(SpecError, match=r"num_classes: .*valid integer"):
        load_spec({**TINY, "num_classes": "5"})


# ---- data --------------------------------------------------------------------------------------


def write_images(folder: Path, classes: int = 2, per_class: int = 3, size: int = 10) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (folder / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size + i, size, 3), dtype=np.uint8)  # sizes differ: resized
            Image.fromarray(pixels).save(folder / f"class{c}" / f"{i}.png")
    return folder


def test_digits_split_is_seeded():
    a = open_data("digits", validation_split=0.1, seed=0, synthetic_classes=10)
    b = open_data("digits", validation_split=0.1, seed=0, synthetic_classes=10)
    assert (len(a.train), len(a.val), a.num_classes, a.shape) == (1617, 180, 10, (8, 8, 1))
    assert np.array_equal(a.val.labels, b.val.labels) and a.train.images.max() == WHITE


@pytest.mark.parametrize("source, message", [
    ("folder:/no/such/dir", "data folder '/no/such/dir' does not exist"),
    ("npz:/no/such.npz", "npz file '/no/such.npz' does not exist"),
    ("imagenet", "unknown data source 'imagenet': use digits, cifar10, cifar100, folder:PATH"),
    ("synthetic:x", "synthetic:N needs a whole number"),
])
def test_bad_sources_say_what_is_wrong(source, message):
    with pytest.raises(RunError, match=message):
        open_data(source, validation_split=0.1, seed=0, synthetic_classes=10)


def test_bad_folders_and_files_are_found_before_training(tmp_path):  # bad images: test_sources.py
    one = tmp_path / "one"
    one.mkdir()
    with pytest.raises(RunError, match="one subfolder of images per class; it has none"):
        open_data(f"folder:{one}", validation_split=0.1, seed=0, synthetic_classes=10)
    (one / "cats" / "a.png").mkdir(parents=True)  # a folder named like an image is skipped
    with pytest.raises(RunError, match="class folder .*cats' holds no images"):
        open_data(f"folder:{one}", validation_split=0.1, seed=0, synthetic_classes=10)
    (one / "cats" / "a.png").rmdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(one / "cats" / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(one / "cats" / "b.png")
    single = open_data(f"folder:{one}", validation_split=0.5, seed=0, synthetic_classes=10)  # evaluate takes it
    with pytest.raises(RunError, match="has one class: training needs two or more"):
        check_fits(single, load_spec("cifar_resnet20"), batch_size=1)
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 8, 8)))
    with pytest.raises(RunError, match="holds arrays images; it needs x"):
        open_data(f"npz:{tmp_path / 'a.npz'}", validation_split=0.1, seed=0, synthetic_classes=10)


def test_npz_images_are_read_by_one_scale_rule_or_refused(tmp_path):
    from archspec.train.data import WHITE

    def opened(x: np.ndarray, **val: np.ndarray):
        np.savez(tmp_path / "d.npz", x=x, y=np.arange(len(x)) % 2, **val)
        return open_data(f"npz:{tmp_path / 'd.npz'}", validation_split=0.5, seed=0, synthetic_classes=2)

    pixels = np.arange(4 * 4 * 4).reshape(4, 4, 4) * 4  # 0 .. 252
    for x, scale, reading in ((pixels.astype(np.uint8), WHITE / 255, "pixel values"),
                              (pixels.astype(np.int64), WHITE / 255, "pixel values"),
                              (pixels / 255.0, WHITE, "fractions of full scale"),
                              (pixels / 16.0, WHITE / 255, "pixel values")):  # digits stored as 0 .. 16
        data = opened(x)
        got = np.concatenate([data.train.images, data.val.images])
        assert sorted(got.ravel().tolist()) == pytest.approx(sorted((x * scale).ravel().tolist()))  # split, scaled
        assert f"values read as {reading}" in data.describe()
    with pytest.raises(RunError, match=r"x holds values from -1 to 1, which are neither pixel values \(0 to 255\) "
                                       r"nor fractions of full scale"):
        opened(np.linspace(-1, 1, 64).reshape(4, 4, 4))
    with pytest.raises(RunError, match="x holds values from 0 to 300"):
        opened(np.linspace(0, 300, 64).reshape(4, 4, 4))
    with pytest.raises(RunError, match=r"x holds fractions of full scale \(0 to 1\) but x_val pixel values"):
        opened(pixels / 255.0, x_val=pixels[:2].astype(np.float32), y_val=np.arange(2))


@pytest.mark.parametrize("augment", ["pad_crop", "resized_crop", "none"])
def test_folders_and_npz_files_feed_batches_at_the_specs_shape(tmp_path, augment):
    from archspec.train.data import WHITE, pipelines

    folder = write_images(tmp_path / "imgs", classes=2, per_class=5)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (10, 12, 12, 3), dtype=np.uint8), y=np.arange(10) % 2)
    spec = load_spec({**TINY, "num_classes": 2, "train": {"batch_size": 4, "augment": augment}})
    for source in (f"folder:{folder}", f"npz:{tmp_path / 'd.npz'}"):
        data = open_data(source, validation_split=0.2, seed=0, synthetic_classes=2)
        check_fits(data, spec, 4)
        train_ds, val_ds = pipelines(data, spec, spec.train)
        for ds, size in ((train_ds, 4), (val_ds, 2)):
            x, y = next(iter(ds))
            assert x.shape == (size, 8, 8, 1) and y.shape == (size, 2)  # resized, grey, one-hot
            assert 0 <= float(np.min(x)) and float(np.max(x)) <= WHITE
            assert float(np.max(x)) > WHITE / 2  # random pixels: some bright ones, on the pipeline's scale


def test_synthetic_data_repeats_one_batch_of_the_specs_shape():
    from archspec.train.data import pipelines

    spec = load_spec({**TINY, "train": {"batch_size": 4, "epochs": 2}})
    data = open_data("synthetic:40", validation_split=0.1, seed=0, synthetic_classes=10)
    train_ds, val_ds = pipelines(data, spec, spec.train)
    batches = list(train_ds)
    assert len(batches) == 2 * 9 and batches[0][0].shape == (4, 8, 8, 1) and len(list(val_ds)) == 1
    np.testing.assert_array_equal(batches[0][0], batches[-1][0])


def test_labels_must_match_the_head_and_a_batch_must_fit():
    data = open_data("digits", validation_split=0.1, seed=0, synthetic_classes=10)
    with pytest.raises(RunError, match="head has 1000 classes but data digits has 10.*--num-classes 10"):
        check_fits(data, load_spec("resnet18"), 128)
    with pytest.raises(RunError, match="batch size 4096 is larger than the 1617 training images"):
        check_fits(data, load_spec("cifar_resnet20"), 4096)


def test_cli_refuses_bad_input_before_writing_anything(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "cifar_resnet20", "--data", f"folder:{tmp_path / 'missing'}", "--out", str(out))
    assert result.exit_code == 1 and result.output.startswith("error: data folder")
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("train", "cifar_resnet20", "--out", str(blocker / "run"))
    assert result.exit_code == 1 and "is a file" in result.output and "Traceback" not in result.output
    result = cli("train", "resnet18", "--out", str(out))
    assert result.exit_code == 1 and "--num-classes 10" in result.output and not out.exists()


# ---- runs --------------------------------------------------------------------------------------


@pytest.mark.backend_neutral
def test_a_run_writes_checkpoints_logs_and_metrics(tmp_path):
    out = tmp_path / "run"
    metrics = train(tiny(), quiet(out))
    assert {p.name for p in out.iterdir()} == {"run.json", "state.json", "history.csv", "metrics.json", "curves.png",
                                               "last.keras", "best.keras", "tensorboard", "resume"}
    assert [p.name for p in (out / "resume").iterdir()] == ["epoch-0002.weights.h5"]  # kept to extend the run
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["epochs"] == 2 and metrics["train_images"] == 1617 and metrics["device"] == "CPU"
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,accuracy,loss,val_accuracy,val_loss,learning_rate") and len(rows) == 3
    model = keras.saving.load_model(out / "best.keras", safe_mode=True)
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert not list(tmp_path.rglob(".*partial*"))


class Interrupt(keras.callbacks.Callback):
    """Stops a run as a kill would, right after epoch ``after`` was committed."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt


@pytest.mark.backend_neutral
def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    out, spec = tmp_path / "run", tiny(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(spec, quiet(out, callbacks=(Interrupt(after=2),)))
    assert RunFolder(out).state().epochs == 2 and not (out / "metrics.json").exists()
    lines: list[str] = []
    train(spec, RunOptions(out=out, verbose=0, log=lines.append))
    assert "resuming" in " ".join(lines) and "after epoch 2 of 3" in " ".join(lines)
    history = RunFolder(out).state().history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["learning_rate"] for row in history] == pytest.approx([0.1, 0.1, 0.001])  # drops at round(1.5), round(2.25)
    steps = 1617 // 64
    model = keras.saving.load_model(out / "last.keras", safe_mode=True)
    assert int(model.optimizer.iterations) == 3 * steps  # the optimizer state came back too


class Poison(keras.callbacks.Callback):
    """Turns every weight into NaN when epoch ``at`` begins."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.at:
            for w in self.model.trainable_weights:
                w.assign(np.full(w.shape, np.nan, dtype=w.dtype))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunError, match=r"the loss became NaN in epoch 2.*last.keras and .*best.keras hold "
                                       r"epochs 1 and 1"):
        train(tiny(epochs=3), quiet(out, callbacks=(Poison(at=2),)))
    assert RunFolder(out).state().epochs == 1 and not (out / "metrics.json").exists()
    model = keras.saving.load_model(out / "last.keras", safe_mode=True)
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.backend_neutral
def test_mixed_precision_computes_in_16_bits_with_a_float32_classifier(tmp_path):
    metrics = train(tiny(epochs=1), quiet(tmp_path / "run", mixed_precision="bfloat16"))
    assert math.isfinite(metrics["loss"]) and keras.mixed_precision.global_policy().name == "float32"
    model = keras.saving.load_model(tmp_path / "run" / "last.keras", safe_mode=True)
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32" and model.output.dtype == "float32"


@pytest.mark.slow
def test_cifar_resnet20_learns_digits(tmp_path):
    spec = load_training("cifar_resnet20", overrides={"input_shape": (8, 8, 1), "train": {"epochs": 6}})
    metrics = train(spec, quiet(tmp_path / "run"))
    assert metrics["best_val_accuracy"] > 0.8  # chance is 0.1


def run_python(code: str) -> subprocess.CompletedProcess:
    """TensorFlow's device and determinism settings hold for a whole process: use a fresh one."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                                                        "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_same_seed_gives_the_same_loss_history(tmp_path):
    result = run_python(f"""
        import json, pathlib
        from archspec.graph.load import load_spec
        from archspec.train.trainer import RunOptions, train
        from archspec.train.run_folder import RunFolder
        spec = load_spec({TINY!r})
        for i in range(2):
            out = pathlib.Path({str(tmp_path)!r}) / str(i)
            train(spec, RunOptions(out=out, deterministic=True, verbose=0, log=lambda s: None))
            print(json.dumps([row["loss"] for row in RunFolder(out).state().history]))
    """)
    first, second = result.stdout.strip().splitlines()
    assert first == second


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    result = run_python(f"""
        import pathlib
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from archspec.graph.load import load_spec
        from archspec.train.trainer import RunOptions, train
        metrics = train(load_spec({TINY!r}), RunOptions(out=pathlib.Path({str(tmp_path)!r}), strategy="mirrored",
                                                        verbose=0, log=lambda s: None))
        print(metrics["replicas"], metrics["val_accuracy"])
    """)
    replicas, accuracy = result.stdout.split()
    assert replicas == "2" and 0 <= float(accuracy) <= 1


def test_train_memory_efficient_recomputes_every_stage_and_records_it(tmp_path):
    result = cli("train", "cifar_resnet20", "--input-size", "8", "--epochs", "1", "--data", "synthetic:64",
                 "--batch-size", "32", "--memory-efficient", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert all(stage["memory_efficient"] for stage in spec["stages"])
