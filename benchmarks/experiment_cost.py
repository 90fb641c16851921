"""What the papers' experiments cost at their size, written to benchmarks/experiment_cost.md.

    python benchmarks/experiment_cost.py

For `reproduce degradation`, `shortcuts` and `orders` with their papers' recipes: the nets, the
training images they see and their training multiply-accumulates (3x the forward MACs per image,
forward and backward, a standard estimate), all computed from the specs and recipes. GPU hours
are an estimate, not a measurement: the work divided by the rate ResNet-50 trained at on one GPU
in benchmarks/gpu_results.md (its MACs per second). Small CIFAR nets keep a GPU less busy than
ResNet-50 does, so for them the hours are a lower bound. `benchmarks/run.py` includes the file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspec import complexity, load_spec  # noqa: E402
from archspec.experiments.ablations import table, variant  # noqa: E402
from archspec.experiments.degradation import PAPER_DEPTHS, ZOO  # noqa: E402
from archspec.graph.load import load_training  # noqa: E402
from archspec.spec.recipes import recipe_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "experiment_cost.md"
GPU_RESULTS = ROOT / "benchmarks" / "gpu_results.md"
TRAINING_IMAGES = {"cifar10": 50_000, "imagenet": 1_281_167}  # CIFAR-10's training set; ImageNet-1k's (ILSVRC 2012)
REFERENCE_NET = "resnet50"
SMALL = 0.1  # nets under this fraction of the reference net's MACs per image: their hours are lower bounds (>=)


def experiments() -> dict[str, tuple[str, str, list[str | dict]]]:
    """Experiment -> (recipe, data set, the nets it trains: zoo names or override dicts of a table's net)."""
    degradation = [ZOO[kind].format(depth) for kind in ZOO for depth in PAPER_DEPTHS]
    return {"degradation": ("he2015_cifar", "cifar10", degradation),
            "shortcuts": ("he2015_imagenet", "imagenet", _rows("shortcuts")),
            "orders": ("he2015_cifar", "cifar10", _rows("orders"))}


def _rows(name: str) -> list[str | dict]:
    base = load_spec(table(name).net)
    return [load_spec(base, overrides=variant(base, row)) for row in table(name).rows]


def gpu_rates() -> tuple[str, dict[str, float]]:
    """The GPU benchmark's machine line and ResNet-50's training img/s per precision policy."""
    text = GPU_RESULTS.read_text()
    machine = re.search(r" on (.+?), \d{4}-\d\d-\d\d", text).group(1).split(",")[0]
    rates = {m.group(1): float(m.group(2).replace(",", ""))
             for m in re.finditer(rf"^\| {REFERENCE_NET} \| (\S+) \| \d+ \| ([\d,]+) \|$", text, re.M)}
    return machine, rates


def main() -> None:
    machine, rates = gpu_rates()
    reference_macs = complexity(load_spec(REFERENCE_NET)).macs
    lines = ["## The papers' experiments at their size: cost on one GPU (estimated)", "",
             f"`python benchmarks/experiment_cost.py`. Training images and MACs are computed from the specs and "
             f"recipes (training MACs = 3 x forward MACs per image). GPU hours are estimated, not measured: that "
             f"work at the MACs per second {REFERENCE_NET} trained at on one {machine} (Keras on JAX, XLA; "
             f"benchmarks/gpu_results.md). Nets of under {SMALL:.0%} of its MACs per image (the CIFAR nets) keep a "
             f"GPU less busy, so their hours are lower bounds (>=); "
             f"ImageNet runs also need an input pipeline that keeps up (see the data section).", "",
             "| experiment | training | nets | training images | training PMACs | "
             + " | ".join(f"GPU hours, {policy}" for policy in rates) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(rates)]
    for name, (recipe, dataset, chosen) in experiments().items():
        epochs = load_training(REFERENCE_NET, [recipe_path(recipe)]).train.epochs
        images = epochs * TRAINING_IMAGES[dataset]
        per_image = [complexity(load_spec(net)).macs for net in chosen]
        macs = sum(3 * m * images for m in per_image)
        hours = [macs / (3 * reference_macs * rate) / 3600 for rate in rates.values()]
        bound = ">= " if max(per_image) < SMALL * reference_macs else "~"
        lines.append(f"| `reproduce {name} --recipe {recipe}` | {epochs} epochs of {dataset} | "
                     f"{len(chosen)} | {images * len(chosen):,} | {macs / 1e15:,.0f} | "
                     + " | ".join(f"{bound}{h:,.1f}" for h in hours) + " |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
