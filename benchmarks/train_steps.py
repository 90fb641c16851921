"""What benchmarks/backends.py and benchmarks/gpu.py share: the timed training step of a zoo entry on Keras's
backend, the timing loop, the machine record, and running one measurement in a fresh process.

Imports neither Keras nor TensorFlow at module level: the GPU machine has no TensorFlow, and each measuring
process chooses its Keras backend (KERAS_BACKEND) before Keras is first imported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # archspec from this tree
MODELS = ("resnet50", "resnext50_32x4d", "densenet121")


def median_seconds(step: Callable[[], object], steps: int, warmup: int = 2) -> float:
    """Median wall time of ``step()`` after ``warmup`` untimed calls (tracing, compiling, allocator growth).
    ``step`` must return only once the device has finished its work."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def keras_step_seconds(name: str, size: int, batch: int, steps: int, warmup: int, policy: str = "float32",
                       jit_compile: bool | str = "auto") -> dict:
    """Median seconds of one SGD-momentum training step of zoo entry ``name`` at ``size`` x ``size`` on
    synthetic data, on the Keras backend this process imported, with the device and versions it ran on."""
    import keras
    import numpy as np

    from archspec import build_model, load_spec
    from archspec.keras.devices import device_name

    keras.mixed_precision.set_global_policy(policy)
    model = build_model(load_spec(name, overrides={"input_shape": (size, size, 3)}))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy",
                  jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    classes = model.output_shape[-1]
    x = keras.ops.convert_to_tensor(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"))  # on the device
    y = keras.ops.convert_to_tensor(np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)])
    # train_on_batch returns the loss as a host float, so each timed step has finished on the device
    seconds = median_seconds(lambda: model.train_on_batch(x, y), steps, warmup)
    backend = keras.backend.backend()
    return {"seconds": seconds, "device": device_name(), "jit_compile": model.jit_compile,
            "keras": keras.__version__, "backend": f"{backend} {__import__(backend).__version__}"}


def in_fresh_process(script: Path, request: dict, env: dict[str, str] | None = None) -> dict:
    """Run ``script --leg REQUEST`` in a new interpreter (a backend per process) and return its JSON answer:
    the last line it prints."""
    done = subprocess.run([sys.executable, str(script), "--leg", json.dumps(request)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    if done.returncode:
        raise RuntimeError(f"{request} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_record() -> str:
    """The CPU model and core count, and Python's version, for a results file."""
    model = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"
