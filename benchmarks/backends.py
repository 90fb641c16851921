"""CPU training step of resnet50, resnext50_32x4d and densenet121 on Keras's TensorFlow, JAX and torch
backends, side by side in one run, written to benchmarks/backends_results.md.

    python benchmarks/backends.py [--size 128] [--batch-size 8] [--steps 3]
    python benchmarks/backends.py --dry-run [--models resnext50_32x4d]   # tiny input, one step, prints only

Every (model, backend) pair runs in its own fresh process with KERAS_BACKEND set, the same built archspec
model, synthetic data, SGD with momentum, and Keras's default ``jit_compile`` ("auto": XLA on JAX, none on
TensorFlow's CPU or on torch), as a user's ``model.fit`` would; the figure is the median step after warm-up.
Target (issue 21): no backend above 1.5x TensorFlow's step for any entry. A backend that is not installed
is reported as such.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import sys
from pathlib import Path

from train_steps import MODELS, ROOT, cpu_record, in_fresh_process, keras_step_seconds

OUT = ROOT / "benchmarks" / "backends_results.md"
BACKENDS = ("tensorflow", "jax", "torch")
TARGET = 1.5


def measure(model: str, backends: list[str], size: int, batch: int, steps: int, warmup: int) -> dict[str, dict | None]:
    """Each installed backend's step on ``model``, None for a backend that is not installed."""
    return {backend: in_fresh_process(Path(__file__), {"model": model, "size": size, "batch": batch,
                                                       "steps": steps, "warmup": warmup},
                                      env={"KERAS_BACKEND": backend})
            if importlib.util.find_spec(backend) else None
            for backend in backends}


def table(figures: dict[str, dict[str, dict | None]]) -> list[str]:
    rows = ["| model | " + " | ".join(f"{b} (s)" for b in BACKENDS) + " | "
            + " | ".join(f"{b} / tensorflow" for b in BACKENDS[1:]) + " |",
            "|---|" + "---:|" * (2 * len(BACKENDS) - 1)]
    for model, by_backend in figures.items():
        seconds = {b: by_backend[b]["seconds"] if by_backend.get(b) else None for b in BACKENDS}
        base = seconds["tensorflow"]
        times = [f"{s:.3f}" if s is not None else "not installed" if b in by_backend else "not run"
                 for b, s in seconds.items()]
        ratios = [f"**{s / base:.2f}**" if s and base and s / base > TARGET else f"{s / base:.2f}" if s and base
                  else "n/a" for s in list(seconds.values())[1:]]
        rows.append(f"| {model} | " + " | ".join(times + ratios) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="input height and width")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed steps; the median is reported")
    parser.add_argument("--dry-run", action="store_true", help="32x32, batch 2, one step; prints, writes nothing")
    parser.add_argument("--out", type=Path, default=None, help=f"default {OUT.relative_to(ROOT)} (none in a dry run)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--leg", help=argparse.SUPPRESS)  # one measurement, in a fresh process
    args = parser.parse_args()
    if args.leg:
        r = json.loads(args.leg)
        print(json.dumps(keras_step_seconds(r["model"], r["size"], r["batch"], r["steps"], r["warmup"])))
        return
    size, batch, steps, warmup = (32, 2, 1, 1) if args.dry_run else (args.size, args.batch_size, args.steps, 2)
    figures = {}
    for model in args.models:
        figures[model] = measure(model, args.backends, size, batch, steps, warmup)
        print(table({model: figures[model]})[-1], flush=True)
    ran = [r for f in figures.values() for r in f.values() if r]
    versions = ", ".join(dict.fromkeys([f"Keras {ran[0]['keras']}", *(r["backend"] for r in ran)]))
    missing = [b for b in args.backends if figures[args.models[0]][b] is None]
    command = "python benchmarks/backends.py " + " ".join(sys.argv[1:])
    text = "\n".join([
        "## CPU training step on each Keras backend (issue 21)", "",
        f"`{command.strip()}` on {cpu_record()}; {versions}; {datetime.date.today().isoformat()}.",
        f"Batch {batch}, {size}x{size} synthetic images, SGD with momentum, median of {steps} steps after "
        f"{warmup} warm-up, each model and backend in a fresh process, Keras's default `jit_compile` (XLA on "
        f"JAX only). Bold: above the target of {TARGET}x TensorFlow's step."
        + (f" Not installed here: {', '.join(missing)}." if missing else ""), "",
        *table(figures), "",
    ])
    print(text)
    out = args.out or (None if args.dry_run else OUT)
    if out:
        out.write_text(text)


if __name__ == "__main__":
    main()
