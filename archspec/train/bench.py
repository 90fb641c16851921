"""Build time, inference and training throughput, and peak training memory of one model.

Each measurement runs in a fresh Python process, so one model's allocator caches and
compiled functions never flatter or burden the next; ``--compare keras`` measures the
equivalent keras.applications model the same way, in the same run, and reports ratios.
Peak memory is the backend's allocator peak over the timed training steps (TensorFlow's on CPU
or GPU; JAX's and torch's on a GPU; none for them on CPU): weights, optimizer state, activations
kept for the backward pass, and workspace. Runs on Keras's backend, whichever it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

# zoo entries -> the keras.applications builder of the same network
KERAS_EQUIVALENT = {
    "resnet50": "ResNet50", "keras_resnet50": "ResNet50",
    "resnet101": "ResNet101", "keras_resnet101": "ResNet101",
    "resnet152": "ResNet152", "keras_resnet152": "ResNet152",
    "preact_resnet50": "ResNet50V2", "keras_resnet50v2": "ResNet50V2",
    "preact_resnet101": "ResNet101V2", "keras_resnet101v2": "ResNet101V2",
    "preact_resnet152": "ResNet152V2", "keras_resnet152v2": "ResNet152V2",
    "densenet121": "DenseNet121", "keras_densenet121": "DenseNet121",
    "densenet169": "DenseNet169", "keras_densenet169": "DenseNet169",
    "densenet201": "DenseNet201", "keras_densenet201": "DenseNet201",
}


@dataclass(frozen=True)
class Settings:
    batch_size: int = 8
    steps: int = 3
    mixed_precision: str | None = None  # "float16" or "bfloat16"
    jit: bool = False
    input_size: int | None = None
    native_grouped: bool = False  # Keras's Conv2D(groups=g) instead of GroupedConv2D
    train: bool = True
    memory_efficient: bool = False  # every stage recomputes its blocks in the backward pass


@dataclass(frozen=True)
class Result:
    model: str
    device: str
    batch_size: int
    input_shape: tuple[int, ...]
    build_s: float
    inference_img_s: float
    train_step_s: float | None
    train_img_s: float | None
    peak_memory_mb: float | None


def bench(source: str, settings: Settings, keras_application: str | None = None) -> Result:
    """Measure one model in a fresh process: a spec path or zoo name, or a keras.applications name."""
    request = {"source": source, "settings": asdict(settings), "keras_application": keras_application}
    done = subprocess.run([sys.executable, "-m", "archspec.train.bench", json.dumps(request)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {keras_application or source} failed:\n{done.stderr[-3000:]}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def _measure(source: str, settings: Settings, keras_application: str | None) -> Result:
    from ..keras.quiet import import_keras

    backend = import_keras()
    import keras
    import numpy as np

    from ..graph.load import load_spec, resized
    from ..keras.builder import build_spec
    from ..keras.devices import device_name, peak_memory

    if settings.mixed_precision:
        keras.mixed_precision.set_global_policy(f"mixed_{settings.mixed_precision}")
    spec = load_spec(source)
    if settings.input_size:
        spec = load_spec(spec, overrides={"input_shape": (settings.input_size, settings.input_size,
                                                          spec.input_shape[2])})
    if settings.memory_efficient:
        spec = load_spec(spec, overrides=resized(spec, memory_efficient=True))
    start = time.perf_counter()
    if keras_application:
        model = getattr(keras.applications, keras_application)(
            weights=None, input_shape=spec.input_shape, classes=spec.num_classes)
    else:
        model = build_spec(spec, native_grouped=settings.native_grouped)
    build_s = time.perf_counter() - start

    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.uniform(-1, 1, (settings.batch_size, *spec.input_shape)).astype("float32"))
    y = keras.ops.convert_to_tensor(np.eye(spec.num_classes, dtype="float32")[
        rng.integers(0, spec.num_classes, settings.batch_size)])
    if backend == "tensorflow":
        import tensorflow as tf

        infer = tf.function(lambda t: model(t, training=False), jit_compile=settings.jit)
    else:  # Keras compiles predict_on_batch (jax.jit on JAX), with jit_compile as set here
        model.compile(jit_compile=settings.jit)
        infer = model.predict_on_batch
    inference_s = _timed(lambda: infer(x), settings.steps)

    train_step_s = peak = None
    if settings.train:
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss="categorical_crossentropy", jit_compile=settings.jit)
        model.train_on_batch(x, y)  # trace and compile outside the timing
        with peak_memory() as peak_mb:
            train_step_s = _timed(lambda: model.train_on_batch(x, y), settings.steps)
        peak = peak_mb()
    return Result(
        model=keras_application or spec.name, device=device_name(), batch_size=settings.batch_size,
        input_shape=tuple(spec.input_shape), build_s=build_s,
        inference_img_s=settings.batch_size / inference_s,
        train_step_s=train_step_s,
        train_img_s=settings.batch_size / train_step_s if train_step_s else None,
        peak_memory_mb=peak,
    )


def _timed(step: Any, steps: int) -> float:
    """Median seconds per call after one warm-up call; results are forced to the host."""
    import keras
    import numpy as np

    keras.ops.convert_to_numpy(step())
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        out = step()
        keras.ops.convert_to_numpy(out[0] if isinstance(out, (list, tuple)) else out)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    result = _measure(request["source"], Settings(**request["settings"]), request["keras_application"])
    print(json.dumps(asdict(result)))
