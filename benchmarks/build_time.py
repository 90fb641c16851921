"""Build time of zoo models against keras.applications building the same network.

Measured side by side in one process, interleaved (alternating which goes
first), each build from a cleared Keras session, after one warm-up build of each. Also times `validate` (load +
plan, no TensorFlow) in a fresh interpreter, since that is what a user waits for.

    python benchmarks/build_time.py [--repeats 5] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from archspec import build_model, load_spec  # noqa: E402

PAIRS = [  # (zoo entry, keras.applications builder of the same network)
    ("keras_resnet50", keras.applications.ResNet50),
    ("keras_resnet152", keras.applications.ResNet152),
]
ROOT = Path(__file__).resolve().parents[1]


def _seconds(build) -> float:
    """One build from a clean slate: no models held from earlier builds, garbage collected."""
    keras.backend.clear_session()
    gc.collect()
    start = time.perf_counter()
    build()
    return time.perf_counter() - start


def build_ratios(repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    for name, application in PAIRS:
        spec = load_spec(name)
        ours, theirs = lambda: build_model(spec), lambda: application(weights=None)
        ours(), theirs()  # warm-up: first builds pay for tracing and imports
        a, b = [], []
        for i in range(repeats):  # alternate who goes first, so drift in machine load hits both
            if i % 2:
                b.append(_seconds(theirs))
                a.append(_seconds(ours))
            else:
                a.append(_seconds(ours))
                b.append(_seconds(theirs))
        rows.append((name, statistics.median(a), statistics.median(b)))
    return rows


def validate_seconds(spec: str) -> float:
    """Wall time of `archspec validate` in a fresh interpreter, the way a user runs it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "validate", "-q", spec], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()

    rows = build_ratios(args.repeats)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, " \
              f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    lines = [
        "# Benchmarks",
        "",
        "## Build time (issue 3): zoo entry / keras.applications, same network, target <= 1.0",
        "",
        f"Command: `python benchmarks/build_time.py --repeats {args.repeats}`  ",
        f"Machine: {machine}  ",
        f"Date: {datetime.date.today().isoformat()}",
        "",
        "| zoo entry | archspec build (s, median) | keras.applications (s, median) | ratio |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |" for name, ours, theirs in rows]
    lines += ["", "`archspec validate` in a fresh interpreter (load, check, plan; no TensorFlow import):", ""]
    lines += [f"- `validate {spec}`: {validate_seconds(spec):.2f} s" for spec in ("resnet50", "cifar_resnet1202")]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
