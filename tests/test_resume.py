"""Runs you can trust: a resumed or extended run is the uninterrupted one, bit for bit, on CPU
with op determinism; a killed process (a real SIGKILL) loses only its uncommitted epoch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from archspec.graph.load import load_spec
from archspec.spec.errors import RunError
from archspec.train.data import open_data, pipelines
from archspec.train.sources.pack import pack
from archspec.train.trainer import RunOptions, train

ROOT = Path(__file__).resolve().parents[1]

# Every random stream at once: shuffling and augmentation (digits, pad-and-crop), dropout, drop-path.
NET = {
    "name": "tiny_drop", "input_shape": [8, 8, 1], "num_classes": 10, "defaults": {"drop_path": 0.2},
    "stem": {"type": "cifar", "width": 8},
    "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A", "dropout": 0.2},
               {"type": "basic", "depth": 1, "width": 16, "stride": 2, "shortcut": "A"}],
    "train": {"epochs": 2, "batch_size": 64},
}

# Runs ``train`` in a fresh process with op determinism; KILL = (0-based epoch, step) sends the
# process a SIGKILL after that training step, in the middle of an epoch.
SCRIPT = """
import os, signal, sys, pathlib, keras
from archspec.graph.load import load_spec
from archspec.train.trainer import RunOptions, train

class Kill(keras.callbacks.Callback):
    epoch = -1
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, step, logs=None):
        if (self.epoch, step) == KILL:
            os.kill(os.getpid(), signal.SIGKILL)

for out, train_fields in RUNS:
    spec = load_spec({**NET, "train": {**NET["train"], **train_fields}})
    train(spec, RunOptions(out=pathlib.Path(out), deterministic=True, verbose=0, log=print, callbacks=(Kill(),)))
"""


def run(runs: list[tuple[Path, dict]], kill: tuple[int, int] | None = None) -> subprocess.CompletedProcess:
    """The ``runs`` (folder, train fields) one after the other in a fresh process, killed at ``kill``."""
    code = f"NET = {NET!r}\nRUNS = {[(str(out), fields) for out, fields in runs]!r}\nKILL = {kill!r}\n"
    result = subprocess.run([sys.executable, "-c", code + textwrap.dedent(SCRIPT)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                                                        "PATH": "/usr/bin:/bin"})
    expected = -signal.SIGKILL if kill else 0
    assert result.returncode == expected, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def history(out: Path) -> list[dict]:
    """The committed history without the wall-clock seconds, the one field that may differ."""
    rows = json.loads((out / "state.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def weights(out: Path) -> list[np.ndarray]:
    from archspec.keras.build import load_model

    return load_model(out / "last.keras").get_weights()


def assert_same_run(a: Path, b: Path) -> None:
    assert history(a) == history(b)  # every figure of every epoch, exactly
    for x, y in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_as_the_uninterrupted_run(tmp_path):
    step = {"epochs": 6}  # the lr drops after epochs 3 and 4 (50% and 75%): after the kill, in the resumed process
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run([(straight, step)])
    run([(killed, step)], kill=(2, 10))  # in epoch 3, after 2 were committed
    assert json.loads((killed / "state.json").read_text())["epochs"] == 2
    resumed = run([(killed, step)])
    assert "resuming" in resumed.stdout and "after epoch 2 of 6" in resumed.stdout
    assert [row["learning_rate"] for row in history(killed)] == pytest.approx([0.1] * 3 + [0.01] + [0.001] * 2)
    assert_same_run(straight, killed)


@pytest.mark.slow
def test_an_extended_run_killed_and_resumed_is_the_run_trained_that_long_at_once(tmp_path):
    constant = {"schedule": "constant"}  # so that a 2-epoch run extended to 4 is a 4-epoch run
    extended, straight = tmp_path / "extended", tmp_path / "straight"
    run([(extended, {**constant, "epochs": 2}), (extended, {**constant, "epochs": 4})], kill=(3, 5))
    assert json.loads((extended / "state.json").read_text())["epochs"] == 3
    result = run([(extended, {**constant, "epochs": 4}), (straight, {**constant, "epochs": 4})])
    assert "resuming" in result.stdout
    assert_same_run(straight, extended)


def digits_as(kind: str, tmp_path: Path):
    """scikit-learn's digits in memory, or packed into TFRecord shards (a stream, read in order)."""
    data = open_data("digits", validation_split=0.1, seed=0, synthetic_classes=10)
    if kind == "digits":
        return data
    pack(data, tmp_path / "shards", shard_size=400)
    return open_data(f"tfrecord:{tmp_path}/shards/train-*,{tmp_path}/shards/val-*", validation_split=0.1, seed=0,
                     synthetic_classes=10)


@pytest.mark.parametrize("kind", ["digits", "tfrecord"])
def test_each_epochs_batches_depend_on_the_seed_and_the_epoch_only(kind, tmp_path):
    spec = load_spec({**NET, "train": {**NET["train"], "epochs": 3}})
    data = digits_as(kind, tmp_path)
    steps = len(data.train) // 64

    def images(first_epoch: int, epochs: int = 3) -> np.ndarray:
        t = spec.train.model_copy(update={"epochs": epochs})
        return np.stack([x for x, _ in pipelines(data, spec, t, first_epoch=first_epoch)[0]])

    whole = images(0)
    assert len(whole) == 3 * steps
    np.testing.assert_array_equal(images(2), whole[2 * steps:])  # a resumed run sees epoch 3 as it was
    np.testing.assert_array_equal(images(0, epochs=2), whole[:2 * steps])  # the run's length changes nothing
    assert not np.array_equal(whole[:steps], whole[steps:2 * steps])  # each epoch its own order and crops
    labels = np.stack([np.argmax(y, -1) for _, y in pipelines(data, spec, spec.train)[0]])
    assert not np.array_equal(labels[:steps], labels[steps:2 * steps])  # the order itself changes, not just crops


# ---- extending a run ---------------------------------------------------------------------------


def test_more_epochs_extend_a_finished_run_and_nothing_else_may_change(tmp_path):
    out, lines = tmp_path / "run", []
    options = RunOptions(out=out, verbose=0, log=lines.append)
    tiny = {**NET, "defaults": {}, "stages": [{**NET["stages"][0], "dropout": 0}, NET["stages"][1]]}
    first = train(load_spec({**tiny, "train": {**NET["train"], "epochs": 1}}), options)
    assert train(load_spec({**tiny, "train": {**NET["train"], "epochs": 1}}), options) == first
    assert "already holds this run, finished" in lines[-1] and "--epochs N extends it" in lines[-1]
    metrics = train(load_spec({**tiny, "train": {**NET["train"], "epochs": 2}}), options)
    assert any(f"extending {out} from 1 to 2 epochs after epoch 1: the step schedule now runs over 2 epochs" in line
               for line in lines)
    assert metrics["epochs"] == 2 and [row["epoch"] for row in history(out)] == [1, 2]
    assert json.loads((out / "run.json").read_text())["spec"]["train"]["epochs"] == 2
    with pytest.raises(RunError, match=r"holds a run of 2 epochs \(spec.train.epochs: 2 -> 1\): a run can be "
                                       r"extended, not shortened"):
        train(load_spec({**tiny, "train": {**NET["train"], "epochs": 1}}), options)
    with pytest.raises(RunError, match=r"another configuration \(spec.train.batch_size: 64 -> 32\): only --epochs "
                                       r"may change.*--overwrite"):
        train(load_spec({**tiny, "train": {**NET["train"], "epochs": 3, "batch_size": 32}}), options)
    assert (out / "metrics.json").exists() and history(out)[-1]["epoch"] == 2  # refusals changed nothing


@pytest.mark.slow
def test_ctrl_c_keeps_the_committed_epochs_says_so_and_exits_130(tmp_path):
    import time

    spec, out = tmp_path / "net.yaml", tmp_path / "run"
    spec.write_text(json.dumps({**NET, "train": {**NET["train"], "epochs": 100}}))  # JSON is YAML
    # `python -m archspec.cli` with Ctrl-C raising KeyboardInterrupt even where the test runs in the background,
    # whose processes inherit SIGINT ignored (Python then leaves it ignored)
    command = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "runpy.run_module('archspec.cli', run_name='__main__', alter_sys=True)")
    process = subprocess.Popen([sys.executable, "-c", command, "train", str(spec), "--out", str(out)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.monotonic() + 240
    while not (out / "state.json").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    saved = json.loads((out / "state.json").read_text())["epochs"]
    assert process.returncode == 130, stderr[-3000:]
    assert f"interrupted: {saved} of 100 epochs are saved in {out}; run the same command again" in stdout
    assert "Aborted" not in stdout + stderr and "Traceback" not in stderr and 1 <= saved < 100
