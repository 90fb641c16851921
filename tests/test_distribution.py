"""--strategy and --deterministic on every Keras backend: JAX's data parallelism on simulated CPU
devices (one process of 4, two processes of 2 on loopback), torch's refusal, repeatable runs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from archspec.spec.errors import RunError
from archspec.train.distribute import check_strategy

from .test_cluster import free_ports, tf_config, tiny_spec, wait_all

ROOT = Path(__file__).resolve().parents[1]


def backend_env(backend: str, devices: int = 1, **extra: str) -> dict[str, str]:
    """A process on Keras's ``backend`` with ``devices`` simulated CPU devices for JAX."""
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **extra}


def train(spec: Path, out: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archspec.cli", "train", str(spec), "--out", str(out), *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def history(out: Path) -> list[dict[str, str]]:
    with (out / "history.csv").open() as rows:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(rows)]


def weights(out: Path) -> list[np.ndarray]:
    arrays: list[np.ndarray] = []
    with h5py.File(next((out / "resume").glob("*.weights.h5")), "r") as f:
        f.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.fixture(scope="module")
def one_device(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The reference: one epoch of the tiny net, global batch 64, on JAX's first CPU device."""
    folder = tmp_path_factory.mktemp("one")
    result = train(tiny_spec(folder, 1), folder / "run", backend_env("jax", 4))
    assert result.returncode == 0, result.stderr
    return metrics(folder / "run")


def assert_same_training(run: dict, reference: dict) -> None:
    """The same figures to float tolerance. JAX's DataParallel shards each global batch over the devices
    and runs one SPMD program, so batch norm's statistics are the global batch's, as on one device (on
    TensorFlow's MirroredStrategy they would be each replica's, and the runs would differ); only the order
    of the sums differs. A batch repeated on each process, not split, would double the global batch and
    change every figure."""
    assert np.isfinite(run["loss"]) and 0.1 < run["accuracy"] <= 1  # 10 classes: above chance after an epoch
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert run[key] == pytest.approx(reference[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_jax_mirrored_splits_each_batch_over_four_devices_as_one_device_trains(tmp_path, one_device):
    started = time.monotonic()
    result = train(tiny_spec(tmp_path, 1), tmp_path / "run", backend_env("jax", 4), "--strategy", "mirrored")
    assert result.returncode == 0, result.stderr
    run = metrics(tmp_path / "run")
    assert (run["replicas"], run["device"], one_device["replicas"]) == (4, "CPU", 1)
    assert_same_training(run, one_device)
    assert time.monotonic() - started < 200


@pytest.mark.slow
def test_two_jax_processes_on_loopback_train_as_one_device_and_only_the_chief_writes(tmp_path, one_device):
    out, ports = tmp_path / "run", free_ports(2)
    spec = tiny_spec(tmp_path, 1)
    workers = [subprocess.Popen([sys.executable, "-m", "archspec.cli", "train", str(spec), "--strategy",
                                 "multiworker", "--out", str(out)], cwd=ROOT,
                                env=backend_env("jax", 2, TF_CONFIG=tf_config(ports, i)),
                                stdout=(tmp_path / f"worker{i}.log").open("w"), stderr=subprocess.STDOUT)
               for i in range(2)]
    assert wait_all(workers) == [0, 0], "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker*.log")))
    run = metrics(out)
    assert (run["replicas"], run["device"]) == (4, "CPU")  # 2 processes x 2 devices
    assert_same_training(run, one_device)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.yaml", "worker0.log", "worker1.log"]


@pytest.mark.slow
def test_a_jax_worker_whose_peers_never_answer_stops_within_the_timeout(tmp_path):
    started = time.monotonic()
    result = train(tiny_spec(tmp_path, 1), tmp_path / "run",
                   backend_env("jax", 2, TF_CONFIG=tf_config(free_ports(2), 1)),  # not the coordinator
                   "--strategy", "multiworker", "--cluster-timeout", "3")
    assert result.returncode == 1 and time.monotonic() - started < 90
    assert "error: --strategy multiworker: not every worker of the cluster" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("strategy", ["mirrored", "multiworker"])
def test_backends_without_distribution_refuse_it_by_name(monkeypatch, strategy):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(RunError, match=f"--strategy {strategy} is not available on Keras's torch backend") as caught:
        check_strategy(strategy)
    assert "KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax" in str(caught.value)
    check_strategy("default")


@pytest.mark.slow
def test_torch_refuses_mirrored_before_writing_anything(tmp_path):
    result = train(tiny_spec(tmp_path, 1), tmp_path / "run", backend_env("torch"), "--strategy", "mirrored")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --strategy mirrored is not available on Keras's torch backend")
    assert not (tmp_path / "run").exists()


SETTINGS = {  # what --deterministic sets, as each backend reports it
    "jax": "import os; print('--xla_gpu_deterministic_ops=true' in os.environ['XLA_FLAGS'])",
    "torch": "import torch; print(torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark)",
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_deterministic_runs_repeat_bit_for_bit(tmp_path, backend):
    spec = tiny_spec(tmp_path, 1)
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        result = train(spec, out, backend_env(backend), "--deterministic")
        assert result.returncode == 0, result.stderr
    assert history(runs[0]) == history(runs[1])
    for first, second in zip(weights(runs[0]), weights(runs[1]), strict=True):
        np.testing.assert_array_equal(first, second)
    assert metrics(runs[0])["device"] == "CPU"
    settings = subprocess.run([sys.executable, "-c", "from archspec.train.distribute import make_deterministic; "
                               f"make_deterministic(); {SETTINGS[backend]}"], cwd=ROOT, env=backend_env(backend),
                              capture_output=True, text=True, timeout=120)
    assert settings.stdout.split()[-1:] == ["True"], settings.stderr
