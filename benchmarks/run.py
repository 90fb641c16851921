"""Regenerate benchmarks/RESULTS.md: every performance target, measured side by side in one run.

    python benchmarks/run.py [--repeats 5] [--quick]
    python benchmarks/run.py --include-only   # after another script below re-measured
    python benchmarks/run.py --section checkpointing   # one section re-measured, the others kept

Build times are measured in this process, interleaved with keras.applications (alternating
who goes first, each build from a cleared Keras session, after a warm-up build of each).
Training steps and peak memory come from `archspec.train.bench`, one fresh process per model;
compared pairs run twice each (a, b, b, a) and keep each side's faster run.
The GPU section is written by benchmarks/gpu.py on a GPU machine, the experiments' run times by
benchmarks/experiments.py, their cost at size by benchmarks/experiment_cost.py, the data sources'
figures by benchmarks/data.py, the weight loading times by benchmarks/weights_load.py and the
attention families against timm by benchmarks/attention.py, the Keras backends side by side by
benchmarks/backends.py and the portable files' built-in forms by benchmarks/portable.py; all are included as
they are.
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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspec.keras.quiet import import_tensorflow  # noqa: E402

import_tensorflow()
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from archspec import (
    build_model,
    complexity,  # noqa: E402
    load_spec,
)
from archspec.train.bench import Settings, bench  # noqa: E402

BUILD_PAIRS = [("keras_resnet50", "ResNet50"), ("keras_resnet152", "ResNet152"),
               ("keras_densenet121", "DenseNet121")]
DEEPEST = ["cifar_resnet1202", "cifar_preact_resnet1001", "cifar_weighted_resnet1202"]
INCLUDED = [ROOT / "benchmarks" / "experiment_results.md", ROOT / "benchmarks" / "data_results.md",
            ROOT / "benchmarks" / "gpu_results.md", ROOT / "benchmarks" / "experiment_cost.md",
            ROOT / "benchmarks" / "weights_results.md", ROOT / "benchmarks" / "attention_results.md",
            ROOT / "benchmarks" / "backends_results.md", ROOT / "benchmarks" / "portable_results.md",
            ROOT / "benchmarks" / "litert.md"]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
INCLUDED_MARK = "<!-- Below: the other benchmark scripts' files, included as they are (benchmarks/run.py INCLUDED). -->"


def _build_seconds(build) -> float:
    keras.backend.clear_session()
    gc.collect()
    start = time.perf_counter()
    build()
    return time.perf_counter() - start


def build_section(repeats: int) -> list[str]:
    rows = ["| zoo entry | keras.applications | archspec (s) | keras (s) | ratio (target <= 1.0) |",
            "|---|---|---:|---:|---:|"]
    for name, application in BUILD_PAIRS:
        spec = load_spec(name)
        ours, theirs = (lambda: build_model(spec)), (lambda: getattr(keras.applications, application)(weights=None))
        ours(), theirs()
        a, b = [], []
        for i in range(repeats):  # alternate who goes first, so drift in machine load hits both
            pair = [(a, ours), (b, theirs)]
            for times, build in (pair if i % 2 == 0 else pair[::-1]):
                times.append(_build_seconds(build))
        ma, mb = statistics.median(a), statistics.median(b)
        rows.append(f"| {name} | {application} | {ma:.3f} | {mb:.3f} | {ma / mb:.2f} |")
    return rows


def validate_section() -> list[str]:
    lines = []
    for spec in ("resnet50", "cifar_resnet1202"):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "validate", "-q", spec], check=True, cwd=ROOT)
        lines.append(f"- `archspec validate {spec}` in a fresh interpreter: {time.perf_counter() - start:.2f} s")
    return lines


def _row(label: str, r, reference=None) -> str:
    ratio = f"{r.train_step_s / reference.train_step_s:.2f}" if reference else ""
    return (f"| {label} | {r.batch_size} | {'x'.join(map(str, r.input_shape))} | {r.train_step_s:.3f} | "
            f"{r.train_img_s:.1f} | {r.inference_img_s:.1f} | {r.peak_memory_mb:.0f} | {ratio} |")


HEADER = ["| model | batch | input | train step (s) | train img/s | inference img/s | peak MB | step ratio |",
          "|---|---:|---|---:|---:|---:|---:|---:|"]


def paired(a: tuple, b: tuple) -> tuple:
    """Each side measured twice in the order a, b, b, a; the faster run of each is kept, so a
    passing load on the machine costs neither side its figure."""
    runs = {0: [bench(*a)], 1: [bench(*b)]}
    runs[1].append(bench(*b))
    runs[0].append(bench(*a))
    return tuple(min(runs[i], key=lambda r: r.train_step_s) for i in (0, 1))


def training_section(quick: bool) -> list[str]:
    steps = 2 if quick else 3
    s = Settings(batch_size=8, steps=steps)
    theirs, ours = paired(("keras_resnet50", s, "ResNet50"), ("keras_resnet50", s))
    rows = ["Training step of keras_resnet50 / keras.applications.ResNet50 (target <= 1.0):", "", *HEADER,
            _row("keras.applications.ResNet50", theirs), _row("archspec keras_resnet50", ours, theirs), ""]
    resnet, resnext = paired(("resnet50", s), ("resnext50_32x4d", s))
    native = bench("resnext50_32x4d", Settings(batch_size=8, steps=1, native_grouped=True))
    macs = complexity("resnext50_32x4d").macs / complexity("resnet50").macs
    rows += [f"CPU training step of resnext50_32x4d / resnet50 (target <= 1.5; MACs ratio {macs:.3f}), "
             "with archspec's GroupedConv2D and with Keras's native `Conv2D(groups=32)` (XLA on CPU):", "",
             *HEADER, _row("resnet50", resnet), _row("resnext50_32x4d, GroupedConv2D", resnext, resnet),
             _row("resnext50_32x4d, Keras Conv2D(groups)", native, resnet), ""]
    return rows


CHECKPOINTED = [("densenet_bc_100_k12", 64, None), ("resnet152", 8, None), ("cifar_resnet1202", 32, None)]


def checkpointing_section(quick: bool) -> list[str]:
    """Peak training memory and step time, plain and with every stage ``memory_efficient`` (gradient
    checkpointing), measured as a pair per entry."""
    rows = ["Peak training memory with every stage `memory_efficient: true` / plain, at a fixed batch "
            "(target for the dense blocks <= 0.6):", "", *HEADER]
    notes = []
    for name, batch, size in CHECKPOINTED:
        s = Settings(batch_size=batch, steps=2 if quick else 3, input_size=size)
        plain, efficient = paired((name, s), (name, replace(s, memory_efficient=True)))
        rows += [_row(name, plain), _row(f"{name}, memory_efficient", efficient, plain)]
        notes.append(f"- {name}: memory ratio **{efficient.peak_memory_mb / plain.peak_memory_mb:.2f}**, time "
                     f"overhead **{100 * (efficient.train_step_s / plain.train_step_s - 1):.0f}%** per step")
    return [*rows, "", *notes, "", "Only each block's inputs and outputs stay alive between the passes; what is "
            "inside a block is recomputed in the backward pass (a dense layer's concatenation, norm and 1x1 conv, "
            "Pleiss et al. 2017, who report 15-25% more time on GPU).", ""]


def deepest_section() -> list[str]:
    rows = ["| zoo entry | depth | Keras layers | build (s) | train step, batch 8 (s) | peak MB |",
            "|---|---:|---:|---:|---:|---:|"]
    for name in ["cifar_resnet110", *DEEPEST]:
        r, c = bench(name, Settings(batch_size=8, steps=1)), complexity(name)
        rows.append(f"| {name} | {c.depth} | {c.layers} | {r.build_s:.1f} | {r.train_step_s:.2f} | "
                    f"{r.peak_memory_mb:.0f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="Fewer repeats and steps (a smoke run).")
    parser.add_argument("--include-only", action="store_true",
                        help="Measure nothing: re-read the included files into RESULTS.md, keeping its own sections.")
    parser.add_argument("--section", choices=sorted(SECTIONS),
                        help="Measure one section and replace it in RESULTS.md, keeping the others.")
    args = parser.parse_args()
    machine = (f"{platform.machine()} CPU, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    if args.section:
        heading, measure = SECTIONS[args.section]
        command = f"python benchmarks/run.py --section {args.section}" + (" --quick" if args.quick else "")
        lines = [f"This section measured by itself: `{command}` on {machine}, {datetime.date.today().isoformat()}.", "",
                 *measure(args.quick)]
        write(_replaced(RESULTS.read_text().split(INCLUDED_MARK)[0], heading, lines))
        return
    if args.include_only:
        write([*RESULTS.read_text().split(INCLUDED_MARK)[0].rstrip().splitlines(), ""])
        return
    repeats = 2 if args.quick else args.repeats
    command = "python benchmarks/run.py" + (" --quick" if args.quick else f" --repeats {args.repeats}")
    lines = [
        "# Benchmarks", "",
        f"CPU figures: `{command}` on {machine}, {datetime.date.today().isoformat()}. "
        "Ratios compare figures measured side by side in that one run; absolute times vary with the machine.",
        "", "## Build time: zoo entry / keras.applications building the same network", "",
        *build_section(repeats), "", *validate_section(), "",
        "## Training step and grouped convolutions (CPU)", "", *training_section(args.quick),
        "## Gradient checkpointing: memory_efficient stages (CPU)", "", *checkpointing_section(args.quick),
        "## The deepest zoo entries: how cost grows with depth (CPU)", "", *deepest_section(), "",
    ]
    write(lines)


SECTIONS = {"checkpointing": ("## Gradient checkpointing: memory_efficient stages (CPU)", checkpointing_section)}


def _replaced(text: str, heading: str, lines: list[str]) -> list[str]:
    """RESULTS.md's own sections with the one under ``heading`` re-measured (appended if it is new)."""
    parts = text.rstrip().split("\n## ")
    section = "\n".join([heading.removeprefix("## "), "", *lines]).rstrip()
    kept = [section if part.startswith(heading.removeprefix("## ")) else part for part in parts]
    return "\n## ".join(kept if section in kept else [*kept, section]).splitlines() + [""]


def write(measured: list[str]) -> None:
    """RESULTS.md: this script's sections, then the included files."""
    lines = [*measured, INCLUDED_MARK, ""]
    lines += [line for part in INCLUDED if part.exists() for line in (part.read_text().rstrip(), "")]
    text = "\n".join(lines)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
