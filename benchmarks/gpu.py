"""GPU training throughput of built zoo models, written to benchmarks/gpu_results.md.

    KERAS_BACKEND=jax python benchmarks/gpu.py --out benchmarks/gpu_results.md

The models are the same `archspec.build_model` outputs as everywhere else; only Keras's
backend differs. On the GPU machine lent to this project TensorFlow cannot be installed
(no network there, and TensorFlow with its CUDA libraries is gigabytes), while JAX with CUDA
is, so these figures run the built Keras models under XLA through Keras 3's JAX backend.
Synthetic 224x224 images live on the device; each step is a full SGD training step.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from archspec import (
    build_model,
    complexity,  # noqa: E402
)

NVIDIA_A100_TF_AMP_XLA = 2375  # img/s, NVIDIA's published TensorFlow ResNet-50 v1.5 figure for one A100


def train_img_s(name: str, batch: int, policy: str, steps: int) -> float:
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    model = build_model(name)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="categorical_crossentropy", jit_compile=True)
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.uniform(-1, 1, (batch, 224, 224, 3)).astype("float32"))
    y = jax.device_put(np.eye(1000, dtype="float32")[rng.integers(0, 1000, batch)])
    for _ in range(3):  # compile, then settle
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)  # returns host floats, so the step has finished
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
    rows, figures = [], {}
    for name in ("resnet50", "resnext50_32x4d"):
        for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
            figures[name, policy] = rate = train_img_s(name, args.batch_size, policy, args.steps)
            rows.append(f"| {name} | {policy} | {args.batch_size} | {rate:,.0f} |")
            print(rows[-1], flush=True)
    best = max(figures["resnet50", p] for p in ("mixed_bfloat16", "mixed_float16"))
    ratio = {p: figures["resnet50", p] / figures["resnext50_32x4d", p] for p in ("float32", "mixed_float16")}
    macs = complexity("resnext50_32x4d").macs / complexity("resnet50").macs
    text = "\n".join([
        "## GPU training throughput (issue 6)", "",
        f"`KERAS_BACKEND=jax python benchmarks/gpu.py --batch-size {args.batch_size} --steps {args.steps}` "
        f"on {gpu}, JAX {jax.__version__}, Keras {keras.__version__}, {datetime.date.today().isoformat()}. "
        "XLA (`jit_compile=True`), synthetic 224x224 images on the device, SGD with momentum, median step.",
        "TensorFlow could not be installed on the lent GPU machine (no network; TensorFlow and its CUDA "
        "libraries are far over what can be carried there), so the same built Keras models ran on Keras's "
        "JAX backend. The `train` command's TensorFlow GPU path is therefore not measured here.", "",
        "| model | precision policy | batch | training img/s |", "|---|---|---:|---:|", *rows, "",
        f"- ResNet-50 with mixed precision and XLA: **{best:,.0f} img/s**, next to NVIDIA's published "
        f"TensorFlow ResNet-50 figure of about {NVIDIA_A100_TF_AMP_XLA:,} img/s on one A100 with AMP and XLA "
        "(a different GPU and framework: a sanity check, not a like-for-like comparison).",
        f"- ResNeXt-50 / ResNet-50 training-step time on this GPU: {ratio['float32']:.2f} in float32, "
        f"{ratio['mixed_float16']:.2f} with mixed float16 (MACs ratio {macs:.3f}).", "",
    ])
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
