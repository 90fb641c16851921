"""Time the default runs of the experiments and write benchmarks/experiment_results.md.

    python benchmarks/experiments.py [--only lesion,finetune,...]

Each experiment runs as a user would run it (`python cli.py ...`, default options) in a fresh
process and a fresh output folder, one after the other, so the wall times are what a user waits
on this machine. `--only` re-times some and keeps the others' rows (each row says when it ran).
`benchmarks/run.py` includes the file in RESULTS.md. The issue's target: `reproduce lesion` within
10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "experiment_results.md"
RECIPE_110 = "epochs: 20\nbatch_size: 64\nwarmup_epochs: 2\n"  # the README's ResNet-110 run

# name -> (what it is, target in minutes or None, commands; {out} is a fresh folder)
EXPERIMENTS: dict[str, tuple[str, float | None, list[list[str]]]] = {
    "degradation": ("reproduce degradation: 4 nets, 20 epochs", None,
                    [["reproduce", "degradation", "--out", "{out}"]]),
    "lesion": ("reproduce lesion: 2 nets, 10 epochs, every lesion", 10,
               [["reproduce", "lesion", "--out", "{out}"]]),
    "finetune": ("reproduce finetune: pre-training and every shot count and method", None,
                 [["reproduce", "finetune", "--out", "{out}"]]),
    "shortcuts": ("reproduce shortcuts: 3 nets (ResNet-20, options A, B, C), 20 epochs", None,
                  [["reproduce", "shortcuts", "--out", "{out}"]]),
    "orders": ("reproduce orders: 5 nets (ResNet-56, the five block orders), 20 epochs", None,
               [["reproduce", "orders", "--out", "{out}"]]),
    "paths": ("train cifar_resnet110 (20 epochs) then paths --measure", None,
              [["train", "cifar_resnet110", "--input-size", "8", "--config", "{out}/recipe.yaml", "--out",
                "{out}/run"],
               ["paths", "cifar_resnet110", "--measure", "{out}/run/last.keras", "--out", "{out}"]]),
}


def run(commands: list[list[str]]) -> float:
    """Wall seconds of ``commands`` run one after another in a fresh folder; a failure stops the script."""
    with tempfile.TemporaryDirectory() as out:
        Path(out, "recipe.yaml").write_text(RECIPE_110)
        start = time.perf_counter()
        for command in commands:
            args = [sys.executable, str(ROOT / "cli.py"), *(a.format(out=out) for a in command)]
            subprocess.run(args, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def _kept_rows() -> dict[str, str]:
    """The table rows of the last run, by experiment (their command cell names it)."""
    if not RESULTS.exists():
        return {}
    rows = [line for line in RESULTS.read_text().splitlines() if line.startswith("| `archspec ")]
    return {name: row for row in rows for name, (_, _, commands) in EXPERIMENTS.items()
            if row.startswith(f"| `{_shown(commands)}`")}


def _shown(commands: list[list[str]]) -> str:
    return " && ".join("archspec " + " ".join(c) for c in commands).replace("{out}", "OUT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"Comma-separated subset of {', '.join(EXPERIMENTS)}.")
    names = parser.parse_args().only
    chosen = names.split(",") if names else list(EXPERIMENTS)
    machine = f"{platform.machine()} CPU, {os.cpu_count()} cores, Python {platform.python_version()}"
    rows = _kept_rows()
    for name in chosen:
        what, target, commands = EXPERIMENTS[name]
        minutes = run(commands) / 60
        verdict = "" if target is None else f"<= {target:g} min: {'met' if minutes <= target else 'MISSED'}"
        rows[name] = f"| `{_shown(commands)}` | {what} | {minutes:.1f} | {verdict} | {datetime.date.today()} |"
        print(rows[name], flush=True)
    lines = ["## Experiments: default runs, wall time (CPU)", "",
             f"`python benchmarks/experiments.py` on {machine}; each experiment with its default options in a "
             "fresh process and folder.", "",
             "| command | what runs | wall time (min) | target | measured |", "|---|---|---:|---|---|",
             *(rows[name] for name in EXPERIMENTS if name in rows)]
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
