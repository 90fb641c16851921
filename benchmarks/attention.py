"""CPU training step of each attention / design-space family against timm's own model, written to
benchmarks/attention_results.md (benchmarks/run.py includes it).

    python benchmarks/attention.py --torch-python ../torchenv/bin/python [--steps 3]

Each pair is measured in fresh processes in the order archspec, timm, timm, archspec, and each side keeps
its faster run, so a passing load costs neither side. archspec runs its zoo entry through
`archspec.train.bench` (TensorFlow, SGD with momentum, batch 8); timm runs `timm.create_model` of the same
network in PyTorch with the same batch, input size, optimizer and loss, on as many threads as TensorFlow
uses. The interpreter given by --torch-python (torch and timm, kept out of archspec's environment) runs
this file with --timm-step.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from train_steps import median_seconds

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "attention_results.md"
BATCH = 8

# archspec zoo entry (or spec file) -> timm's model name and create_model keyword arguments for the same network
PAIRS = {
    "ecaresnet26t": ("ecaresnet26t", {}),
    "seresnext26d_32x4d": ("seresnext26d_32x4d", {}),
    "cbam_resnet50": ("resnet50", {"block_args": {"attn_layer": "cbam"}}),
    "benchmarks/gcresnet50.yaml": ("resnet50", {"block_args": {"attn_layer": "gc"}}),
    "resnetrs50": ("resnetrs50", {}),
    "gcresnet50t": ("gcresnet50t", {}),
    "botnet26t_256": ("botnet26t_256", {}),
    "halonet26t": ("halonet26t", {}),
    "lambda_resnet26t": ("lambda_resnet26t", {}),
    "skresnet18": ("skresnet18", {}),
    "skresnext50_32x4d": ("skresnext50_32x4d", {}),
    "resnest50d": ("resnest50d", {}),
    "res2net50_26w_4s": ("res2net50_26w_4s", {}),
    "regnetx_016": ("regnetx_016", {}),
    "regnety_016": ("regnety_016", {}),
}


def timm_step(name: str, kwargs: dict, size: int, steps: int) -> float:
    """Median seconds of a timm training step (runs under --torch-python)."""
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(BATCH, 3, size, size), torch.randint(0, 1000, (BATCH,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return median_seconds(step, steps, warmup=1)


def measure_timm(torch_python: str, name: str, kwargs: dict, size: int, steps: int) -> float:
    request = json.dumps({"name": name, "kwargs": kwargs, "size": size, "steps": steps})
    done = subprocess.run([torch_python, __file__, "--timm-step", request], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"timm's {name} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch-python", help="An interpreter with torch and timm.")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--timm-step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timm_step:
        request = json.loads(args.timm_step)
        print(timm_step(request["name"], request["kwargs"], request["size"], request["steps"]))
        return
    if not args.torch_python:
        parser.error("--torch-python is required: an interpreter with torch and timm")

    sys.path.insert(0, str(ROOT))
    from archspec import complexity, load_spec
    from archspec.train.bench import Settings, bench

    settings = Settings(batch_size=BATCH, steps=args.steps)
    rows = []
    for entry, (timm_name, kwargs) in PAIRS.items():
        source = str(ROOT / entry) if entry.endswith(".yaml") else entry
        spec = load_spec(source)
        size = spec.input_shape[0]
        ours = [bench(source, settings).train_step_s]
        theirs = [measure_timm(args.torch_python, timm_name, kwargs, size, args.steps) for _ in range(2)]
        ours.append(bench(source, settings).train_step_s)
        a, b = min(ours), min(theirs)
        label = f"timm.create_model({timm_name!r}{', ' + json.dumps(kwargs) if kwargs else ''})"
        rows.append(f"| {spec.name} | {label} | {size} | {complexity(spec).params / 1e6:.2f}M | {a:.3f} | {b:.3f} "
                    f"| {a / b:.2f} |")
        print(rows[-1], flush=True)
    from archspec.keras.quiet import import_tensorflow

    import_tensorflow()
    import keras
    import tensorflow as tf

    probe = "import torch, timm; print(torch.__version__, timm.__version__)"
    versions = subprocess.run([args.torch_python, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    OUT.write_text("\n".join([
        "## Attention and design-space families: CPU training step against timm",
        "",
        f"`python benchmarks/attention.py --torch-python ../torchenv/bin/python --steps {args.steps}` on "
        f"{platform.machine()} CPU, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow "
        f"{tf.__version__}, Keras {keras.__version__}, PyTorch {versions[0]}, timm {versions[1]}, "
        f"{datetime.date.today()}. Batch {BATCH}, SGD with momentum, the median step of {args.steps} after a "
        f"warm-up; each side the faster of two fresh processes (archspec, timm, timm, archspec). Aim: ratio <= 1.0. "
        f"The 5-minute load average at the end: {os.getloadavg()[1]:.1f} on {os.cpu_count()} cores (nothing else ran).",
        "",
        "| archspec | timm | input | params | archspec step (s) | timm step (s) | ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows, ""]))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
