"""Where a run computes, on whichever backend Keras runs: its devices, who writes the run folder,
how each process's input is cut, and deterministic arithmetic.

The same ``--strategy`` words mean the same on every backend that can honour them:
``mirrored`` trains on every local device, ``multiworker`` on every device of the processes
TF_CONFIG describes, and ``--batch-size`` is always the global batch. TensorFlow does it with
``tf.distribute`` (``archspec.train.cluster``); JAX with Keras's own ``keras.distribution``
(``DataParallel``, one SPMD program over a device mesh, multi-process through
``jax.distributed``); Keras's torch backend has no distribution, so torch refuses both words.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras

from ..keras.devices import device_name
from ..spec.errors import RunError
from .cluster import (
    HEARTBEAT_TIMEOUT,
    Cluster,
    Strategy,
    is_chief,
    make_strategy,
    multiworker_cluster,
    reachable,
    shard,
    unreachable,
)

if TYPE_CHECKING:
    import tensorflow as tf

DETERMINISTIC_XLA = "--xla_gpu_deterministic_ops=true"


@dataclass(frozen=True)
class Placement:
    """A run's devices as the trainer needs them, whatever the backend."""

    replicas: int  # devices that each take a share of every global batch
    even: int  # every batch must split this many ways (JAX's sharding); 1 where TensorFlow splits any batch
    chief: bool  # whether this process writes the run folder
    device: str  # what the backend computes on: a GPU's name, or CPU
    scope: Callable[[], contextlib.AbstractContextManager[Any]]  # build and compile the model under it
    shard: Callable[["tf.data.Dataset"], "tf.data.Dataset"]  # this process's share of each global batch


def check_strategy(name: Strategy) -> None:
    """Refuse, before anything starts, a strategy that Keras's backend cannot run."""
    backend = keras.backend.backend()
    if name != "default" and backend not in ("tensorflow", "jax"):
        raise RunError(f"--strategy {name} is not available on Keras's {backend} backend: Keras distributes "
                       f"training on TensorFlow (tf.distribute) and JAX (keras.distribution), and its {backend} "
                       f"trainer has neither, so {backend} trains on one device (--strategy default, its first "
                       f"GPU, or the CPU). For data-parallel training over several GPUs or machines, run with "
                       f"KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax; the run folder is the same")


@contextlib.contextmanager
def placement(name: Strategy, batch_size: int, timeout: float) -> Iterator[Placement]:
    """The devices ``--strategy name`` trains on with Keras's backend, for the duration of the block."""
    check_strategy(name)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        strategy = make_strategy(name, timeout)
        yield Placement(strategy.num_replicas_in_sync, 1, is_chief(strategy), device_name(), strategy.scope, shard)
    elif backend == "jax":
        with _jax_placement(name, batch_size, timeout) as where:
            yield where
    else:
        yield _one_device()


def _one_device() -> Placement:
    """The backend's default device (its first GPU, or the CPU), this process alone."""
    return Placement(1, 1, True, device_name(), contextlib.nullcontext, lambda dataset: dataset)


@contextlib.contextmanager
def _jax_placement(name: Strategy, batch_size: int, timeout: float) -> Iterator[Placement]:
    """default: JAX's first device. mirrored: ``DataParallel`` over every local device; multiworker:
    over every device of every process, after ``jax.distributed`` has joined them. Each global batch
    is one array sharded over the devices and the step is one SPMD program: batch statistics (batch
    norm) are those of the global batch, as on one device."""
    cluster = multiworker_cluster() if name == "multiworker" else None
    if cluster is not None:
        _join_jax_processes(cluster, timeout)
    if name == "default":
        yield _one_device()
        return
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices(),
                                                   auto_shard_dataset=False)
    replicas = distribution.num_model_replicas
    if batch_size % replicas:
        raise RunError(f"--batch-size {batch_size} does not split evenly over the {replicas} devices of --strategy "
                       f"{name} on JAX, which gives each device an equal share of every batch: use a multiple "
                       f"of {replicas}")
    processes, index = (len(cluster.processes), cluster.process_id) if cluster else (1, 0)
    with distribution.scope():
        yield Placement(replicas, replicas, cluster is None or cluster.chief, device_name(), contextlib.nullcontext,
                        lambda dataset: _process_share(dataset, processes, index))


def _join_jax_processes(cluster: Cluster, timeout: float) -> None:
    """``jax.distributed`` over TF_CONFIG's processes, the lead (chief, or worker 0) first and JAX's
    coordinator at its address. Its client ends the process (a fatal error, no exception) when the peers
    do not all register in time, so the wait is bounded here first, as on TensorFlow: the leader waits for
    every other process's TF_CONFIG port, on which each of them answers while it waits for the
    coordinator. ``jax.distributed.initialize`` is called directly rather than through
    ``keras.distribution.initialize``, which cannot set the heartbeat that finds a dead peer."""
    import jax

    if cluster.chief:
        ready = reachable(cluster.processes[1:], timeout)
    else:
        with socket.create_server(("", int(cluster.processes[cluster.process_id].rpartition(":")[2]))):
            ready = reachable(cluster.processes[:1], timeout)
    if not ready:
        raise unreachable(cluster, timeout)
    try:
        jax.distributed.initialize(cluster.processes[0], len(cluster.processes), cluster.process_id,
                                   initialization_timeout=max(1, round(timeout)),
                                   heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT)
    except RuntimeError as err:  # "must be called before any JAX computations are executed"
        raise RunError(f"--strategy multiworker must join its peers before JAX computes anything ({err}): train "
                       f"in a fresh process, as `archspec train` does") from None


def _process_share(dataset: "tf.data.Dataset", processes: int, index: int) -> "tf.data.Dataset":
    """This process's slice of every global batch: all processes run the same seeded pipeline (as on
    TensorFlow), and ``jax.make_array_from_process_local_data`` joins the slices into the global batch."""
    if processes == 1:
        return dataset
    import tensorflow as tf

    def share(*batch: tf.Tensor) -> tuple[tf.Tensor, ...]:
        part = tf.shape(batch[0])[0] // processes
        return tuple(t[index * part:(index + 1) * part] for t in batch)

    return dataset.map(share).prefetch(tf.data.AUTOTUNE)


def make_deterministic() -> None:
    """Repeatable arithmetic on Keras's backend, for the rest of the process. TensorFlow: its op
    determinism. JAX: XLA's deterministic GPU kernels (XLA on CPU is deterministic already), a flag
    XLA reads when JAX starts its backend. torch: its deterministic algorithms, cuDNN without autotuning,
    and the cuBLAS workspace they need."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "jax":
        from jax._src import xla_bridge

        flags = os.environ.get("XLA_FLAGS", "")
        if DETERMINISTIC_XLA in flags:
            return
        if xla_bridge.backends_are_initialized() and device_name() != "CPU":
            raise RunError(f"--deterministic on JAX needs XLA_FLAGS={DETERMINISTIC_XLA} before JAX starts its GPU "
                           f"backend, and it has started: set it in the environment, or train in a fresh process "
                           f"as `archspec train` does")
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA}".strip()
    elif backend == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
