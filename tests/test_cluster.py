"""Training across processes: TF_CONFIG checks, and real worker processes on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from archspec.cli import main
from archspec.spec.errors import RunError
from archspec.train.cluster import cluster_config

ROOT = Path(__file__).resolve().parents[1]

# Two basic blocks on 8x8 grey digits: an epoch takes well under a second per worker.
TINY = {
    "name": "tiny", "input_shape": [8, 8, 1], "num_classes": 10, "stem": {"type": "cifar", "width": 8},
    "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
               {"type": "basic", "depth": 1, "width": 16, "stride": 2, "shortcut": "A"}],
}


def tf_config(ports: list[int], index: int, job: str = "worker") -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": job, "index": index}})


@pytest.mark.parametrize("text, reason", [
    ("{not json", "it is not JSON"),
    ("[1, 2]", "it must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster' object"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "'host:port' addresses"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', "no 'task' object"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "task index 2"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "'ps'"),
])
def test_a_malformed_tf_config_is_named_in_one_paragraph(text, reason):
    with pytest.raises(RunError, match="TF_CONFIG is malformed") as caught:
        cluster_config({"TF_CONFIG": text})
    assert reason in str(caught.value) and "e.g. TF_CONFIG=" in str(caught.value)


def test_tf_config_names_the_chief():
    assert cluster_config({}) is None
    worker0 = cluster_config({"TF_CONFIG": tf_config([1, 2], 0)})
    assert worker0.processes == ["127.0.0.1:1", "127.0.0.1:2"] and worker0.chief and worker0.process_id == 0
    assert not cluster_config({"TF_CONFIG": tf_config([1, 2], 1)}).chief
    with_chief = {"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}
    worker = cluster_config({"TF_CONFIG": json.dumps(with_chief)})
    assert not worker.chief and worker.process_id == 1  # worker 0 is not the chief here: JAX's process 1


def test_train_refuses_a_malformed_tf_config_before_tensorflow_starts(tmp_path):
    result = CliRunner(env={"TF_CONFIG": '{"cluster": {}}'}).invoke(
        main, ["train", "cifar_resnet20", "--strategy", "multiworker", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and result.output.startswith("error: TF_CONFIG is malformed")
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


# ---- real worker processes ---------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """Ports free on 127.0.0.1 now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_worker(spec: Path, out: Path, ports: list[int], index: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CONFIG": tf_config(ports, index), "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    log = (out.parent / f"worker{index}.log").open("a")
    return subprocess.Popen([sys.executable, "-m", "archspec.cli", "train", str(spec), "--strategy", "multiworker",
                             "--out", str(out), *extra], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            text=True)


def wait_all(workers: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            raise AssertionError("a worker hung") from None
    return codes


def tiny_spec(tmp_path: Path, epochs: int, batch_size: int = 64) -> Path:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "train": {"epochs": epochs, "batch_size": batch_size}}))
    return spec


def logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker*.log")))


def committed_epochs(out: Path) -> int:
    try:
        return json.loads((out / "state.json").read_text())["epochs"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("source", ["digits", "tfrecord"])
def test_two_worker_processes_train_and_only_the_chief_writes(tmp_path, source):
    out, ports = tmp_path / "run", free_ports(2)
    data = []
    if source == "tfrecord":  # digits as shards: every worker reads them all and keeps its share of each batch
        from archspec.train.data import open_data
        from archspec.train.sources.pack import pack

        pack(open_data("digits", validation_split=0.1, seed=0, synthetic_classes=10), tmp_path / "s", shard_size=500)
        data = ["--data", f"tfrecord:{tmp_path}/s/train-*,{tmp_path}/s/val-*"]
    workers = [start_worker(tiny_spec(tmp_path, 2), out, ports, i, *data) for i in range(2)]
    assert wait_all(workers) == [0, 0], logs(tmp_path)
    history = (out / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["replicas"] == 2 and metrics["epochs"] == 2
    assert "archspec-worker-" not in " ".join(os.listdir(out))


@pytest.mark.slow
def test_a_killed_worker_stops_the_other_and_a_restart_continues_gap_free(tmp_path):
    out, ports, epochs = tmp_path / "run", free_ports(2), 6
    spec = tiny_spec(tmp_path, epochs, batch_size=256)  # 6 steps an epoch: collectives on loopback are slow
    workers = [start_worker(spec, out, ports, i) for i in range(2)]
    deadline = time.monotonic() + 180
    while committed_epochs(out) < 1 and time.monotonic() < deadline and workers[1].poll() is None:
        time.sleep(0.05)
    assert workers[1].poll() is None, "the run ended before worker 1 could be killed:\n" + logs(tmp_path)
    workers[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert workers[0].wait(120) == 1, logs(tmp_path)  # the survivor gives up on its own, in bounded time
    assert time.monotonic() - killed_at < 90
    done = committed_epochs(out)
    assert 1 <= done < epochs
    assert "a worker of the cluster stopped or became unreachable" in logs(tmp_path)
    assert f"{done} epoch(s) are committed" in logs(tmp_path) and "Traceback" not in logs(tmp_path)

    ports = free_ports(2)
    assert wait_all([start_worker(spec, out, ports, i) for i in range(2)]) == [0, 0], logs(tmp_path)
    assert f"resuming {out} after epoch {done} of {epochs}" in logs(tmp_path)
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, epochs + 1))


@pytest.mark.slow
def test_a_worker_whose_peers_never_answer_stops_within_the_timeout(tmp_path):
    out, ports = tmp_path / "run", free_ports(2)
    started = time.monotonic()
    worker = start_worker(tiny_spec(tmp_path, 2), out, ports, 0, "--cluster-timeout", "3")
    assert wait_all([worker], timeout=120) == [1]
    assert time.monotonic() - started < 90
    log = logs(tmp_path)
    assert "error: --strategy multiworker: not every worker of the cluster" in log and "within 3 s" in log, log
    assert "Traceback" not in log and committed_epochs(out) == 0 and not (out / "history.csv").exists()
