"""Training across processes and machines: TF_CONFIG checked up front, the distribution
strategy, who writes the run folder, how input is sharded, and what a lost worker means.

TF_CONFIG is read and checked without TensorFlow (``cluster_config``), so a malformed one
fails in one paragraph before anything starts. A multi-worker run waits a bounded time for
its peers (``--cluster-timeout``), and TensorFlow's peer health check aborts a worker's
collectives when another dies; both become a ``RunError`` that says how to continue.
Restarting every worker with the same command resumes from the last epoch the chief
committed to the shared run folder (``archspec.train.run_folder``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..spec.errors import RunError, reason
from .run_folder import RunFolder

if TYPE_CHECKING:
    import tensorflow as tf

Strategy = Literal["default", "mirrored", "multiworker"]
CLUSTER_TIMEOUT = 120.0  # seconds a worker waits for all the others at start-up
HEARTBEAT_TIMEOUT = 10  # seconds of silence after which a worker counts as dead
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


@dataclass(frozen=True)
class Cluster:
    """The cluster TF_CONFIG describes, and this process's place in it."""

    jobs: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def processes(self) -> list[str]:
        """Every training process's address, the chief (or worker 0) first: JAX's process ids."""
        return [address for job in ("chief", "worker") for address in self.jobs.get(job, [])]

    @property
    def process_id(self) -> int:
        """This process's place in ``processes``."""
        return self.task_index + (len(self.jobs.get("chief", [])) if self.task_type == "worker" else 0)

    @property
    def chief(self) -> bool:
        """The one process that writes the run folder: the chief, or worker 0 where there is no chief."""
        lead = "chief" if "chief" in self.jobs else "worker"
        return self.task_type == lead and self.task_index == 0


def cluster_config(environ: dict[str, str] | None = None) -> Cluster | None:
    """TF_CONFIG, checked: None when it is unset or empty (a single worker)."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except ValueError as err:
        raise _malformed(f"it is not JSON ({err})") from None
    if not isinstance(config, dict):
        raise _malformed("it must be a JSON object")
    jobs, task = config.get("cluster"), config.get("task")
    if not isinstance(jobs, dict) or not jobs:
        raise _malformed("it has no 'cluster' object naming each job's addresses")
    for job, addresses in jobs.items():
        if job not in ("chief", "worker", "evaluator", "ps"):
            raise _malformed(f"cluster job '{job}' is unknown (chief, worker)")
        if job in ("evaluator", "ps"):
            raise _malformed(f"cluster job '{job}' is not used by --strategy multiworker (chief and worker only)")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and _is_address(a) for a in addresses)):
            raise _malformed(f"cluster.{job} must be a list of 'host:port' addresses, got {addresses!r}")
    if len(jobs.get("chief", [])) > 1:
        raise _malformed("a cluster has at most one chief")
    if not isinstance(task, dict) or not isinstance(task.get("type"), str):
        raise _malformed("it has no 'task' object saying which of the cluster's processes this one is")
    task_type, index = task["type"], task.get("index", 0)
    if task_type not in jobs:
        raise _malformed(f"task type '{task_type}' is not one of the cluster's jobs ({', '.join(jobs)})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(jobs[task_type]):
        raise _malformed(f"task index {index!r} is not one of cluster.{task_type}'s 0..{len(jobs[task_type]) - 1}")
    return Cluster(jobs, task_type, index)


def _is_address(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def _malformed(problem: str) -> RunError:
    return RunError(f"TF_CONFIG is malformed: {problem}. --strategy multiworker reads the cluster from it, the same "
                    f"JSON on every worker but for the task index, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'")


def multiworker_cluster() -> Cluster:
    """TF_CONFIG's cluster, which ``--strategy multiworker`` needs: unset, the run would silently train alone."""
    cluster = cluster_config()
    if cluster is None:
        raise RunError(f"--strategy multiworker trains on the cluster TF_CONFIG describes, and TF_CONFIG is not set: "
                       f"set it on every worker (the same JSON but for the task index), e.g. "
                       f"TF_CONFIG='{TF_CONFIG_EXAMPLE}'; on one machine use --strategy mirrored")
    return cluster


def make_strategy(name: Strategy, timeout: float = CLUSTER_TIMEOUT) -> Any:
    """default: one device; mirrored: every GPU, or every logical CPU when there is none;
    multiworker: the cluster TF_CONFIG describes (an error when it is unset), once every worker has
    answered, within ``timeout`` seconds."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    cluster = multiworker_cluster()
    if not _wait_for_peers(cluster, timeout):
        raise unreachable(cluster, timeout)
    _bound_waits(cluster, timeout)
    try:
        return _multi_worker_strategy()
    except tf.errors.DeadlineExceededError:
        raise unreachable(cluster, timeout) from None
    except RuntimeError as err:  # "Collective ops must be configured at program startup"
        raise RunError(f"--strategy multiworker must start before TensorFlow does ({err}): train in a fresh "
                       f"process, as `archspec train` does") from None
    except (ValueError, KeyError) as err:
        raise RunError(f"--strategy multiworker: TF_CONFIG does not describe a cluster: {err}") from None


def _wait_for_peers(cluster: Cluster, timeout: float) -> bool:
    """On the leader (the chief, or worker 0), whether every other worker's port accepts a connection
    within ``timeout`` seconds. The others start their servers, then wait a bounded time for the
    leader; the leader itself would wait for them, inside TensorFlow, for ever."""
    return not cluster.chief or reachable(cluster.processes[1:], timeout)


def unreachable(cluster: Cluster, timeout: float) -> RunError:
    return RunError(f"--strategy multiworker: not every worker of the cluster ({', '.join(cluster.processes)}) "
                    f"answered within {timeout:g} s: start all of them (each with its own task index in TF_CONFIG), "
                    f"check that this machine can reach their ports, or wait longer with --cluster-timeout")


def reachable(addresses: list[str], timeout: float) -> bool:
    """Whether every one of ``addresses`` accepts a connection within ``timeout`` seconds."""
    waiting = list(addresses)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        host, _, port = waiting[0].rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.2)
    return not waiting


def _bound_waits(cluster: Cluster, timeout: float) -> None:
    """Have TensorFlow's coordination service give up on workers that do not register within ``timeout``
    (its default waits forever), and detect a dead one by its missed heartbeats. The strategy configures
    the service this way itself when nothing has; there is no public setting for the timeouts."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    jobs = [job for job in ("chief", "worker") if job in cluster.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{jobs[0]}/replica:0/task:0",
        cluster_register_timeout_in_ms=int(timeout * 1000), heartbeat_timeout_in_ms=HEARTBEAT_TIMEOUT * 1000,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(cluster.jobs[job]))
                          for job in jobs])


def _multi_worker_strategy() -> Any:
    """A strategy over TF_CONFIG's cluster (its class is made here, so that importing this module needs no TF)."""
    import tensorflow as tf

    class MultiWorker(tf.distribute.MultiWorkerMirroredStrategy):
        """MultiWorkerMirroredStrategy that reduces as Keras 3's ``fit`` asks it to. Keras reduces a nested
        (images, labels) sample batch, which TensorFlow's collective reduce refuses ('Attempt to convert a
        value (PerReplica...) to a Tensor'), and each step's scalar metrics along axis 0, which a scalar
        lacks: here each value of a structure is reduced alone, a scalar across replicas only."""

        def reduce(self, reduce_op: Any, value: Any, axis: Any) -> Any:
            def one(v: Any) -> Any:
                scalar = self.experimental_local_results(v)[0].shape.rank == 0
                return parent.reduce(reduce_op, v, None if scalar else axis)

            parent = super()
            return tf.nest.map_structure(one, value)

    return MultiWorker()


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the run folder: always, but on the other workers of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    cluster = Cluster(resolver.cluster_spec().as_dict(), resolver.task_type, resolver.task_id or 0)
    return cluster.chief


@contextlib.contextmanager
def output_folder(folder: RunFolder, chief: bool) -> Iterator[RunFolder]:
    """The run folder for the chief; for any other worker, a temporary one (removed after) that takes
    the same writes, so that every worker runs the same code but only the chief's files count."""
    if chief:
        yield folder
        return
    scratch = Path(tempfile.mkdtemp(prefix="archspec-worker-"))
    try:
        yield RunFolder(scratch / folder.path.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shard(dataset: "tf.data.Dataset") -> "tf.data.Dataset":
    """Each worker keeps its own share of every global batch: all run the same seeded pipeline over the
    whole source (TensorFlow's DATA auto-sharding), and ``fit`` splits each batch between the replicas.
    Splitting whole files between workers (FILE) would read less, but TensorFlow's auto-sharder cannot
    find the files behind the pipeline's per-image seed stream (a zip with ``Dataset.random``)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def lost_worker(error: Exception, epochs: int, out: Path) -> RunError:
    """A peer that died or became unreachable mid-run (TensorFlow aborts this worker's collectives)."""
    return RunError(f"a worker of the cluster stopped or became unreachable during training ({reason(error)}). "
                    f"{epochs} epoch(s) are committed in {out}: restart every worker with the same command and "
                    f"the run continues from there")
