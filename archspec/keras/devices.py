"""What Keras's backend computes on, asked of that backend: the device record of runs and benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import keras

GPU_DEVICE_FILES = "/dev/nvidia[0-9]*"  # what NVIDIA's driver creates, one per GPU, wherever one is usable


def accelerators() -> list[str]:
    """The backend's GPU names (empty on CPU)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [tf.config.experimental.get_device_details(d).get("device_name", "GPU")
                for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def device_warnings(device: str, mixed_precision: str | None) -> list[str]:
    """What the backend's own logs (kept quiet) would say about running on ``device``, in archspec's words:
    a GPU the machine has that the backend cannot use, and float16 arithmetic on a CPU."""
    warnings = []
    backend = keras.backend.backend()
    if device == "CPU" and any(Path("/").glob(GPU_DEVICE_FILES.lstrip("/"))):
        warnings.append(f"warning: this machine has an NVIDIA GPU, but Keras's {backend} backend cannot use it (its "
                        f"CUDA libraries are missing or do not match the driver), so this runs on the CPU; "
                        f"--debug shows {backend}'s own messages")
    if device == "CPU" and mixed_precision == "float16":
        warnings.append("warning: --mixed-precision float16 on the CPU is slower than float32 (CPUs have no float16 "
                        "arithmetic); use bfloat16, or leave the option out")
    return warnings


def device_name() -> str:
    """The first GPU's name, or CPU."""
    gpus = accelerators()
    return gpus[0] if gpus else "CPU"


@contextlib.contextmanager
def peak_memory() -> Iterator[Callable[[], float | None]]:
    """The allocator's peak (MiB) over the block, read after it: TensorFlow's on CPU or GPU, JAX's and
    torch's on a GPU; None where the backend keeps no such count (JAX and torch on CPU)."""
    backend, gpu = keras.backend.backend(), bool(accelerators())
    peak: list[float | None] = [None]
    if backend == "tensorflow":
        import tensorflow as tf

        allocator = "GPU:0" if gpu else "CPU:0"
        tf.config.experimental.reset_memory_stats(allocator)
        yield lambda: peak[0]
        peak[0] = tf.config.experimental.get_memory_info(allocator)["peak"] / 2**20
    elif backend == "torch" and gpu:
        import torch

        torch.cuda.reset_peak_memory_stats()
        yield lambda: peak[0]
        peak[0] = torch.cuda.max_memory_allocated() / 2**20
    elif backend == "jax" and gpu:  # JAX's count is the process's peak: it cannot be reset
        import jax

        yield lambda: peak[0]
        peak[0] = jax.devices()[0].memory_stats().get("peak_bytes_in_use", 0) / 2**20
    else:
        yield lambda: peak[0]
