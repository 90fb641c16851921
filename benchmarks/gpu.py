"""GPU training throughput of archspec's resnet50, resnext50_32x4d and densenet121 on Keras's JAX and torch
backends against torchvision's own models, side by side in one run; appended to benchmarks/gpu_results.md.

    python benchmarks/gpu.py [--batch-size 256] [--steps 20] [--precision bfloat16|float16] [--torch-compile]
    python benchmarks/gpu.py --dry-run [--models resnet50]   # CPU, tiny sizes, one step; prints only (CI)

Each model and leg runs in a fresh process: archspec's built model with KERAS_BACKEND=jax (``jit_compile``:
XLA) and KERAS_BACKEND=torch (Keras's default there is eager; ``--torch-compile`` sets ``jit_compile=True``,
which Keras turns into ``torch.compile`` of the train step), under Keras's ``mixed_<precision>`` policy; and
``torchvision.models.<name>`` under ``torch.autocast`` with the same precision (float16 with a gradient scaler,
as Keras's mixed_float16 has a loss scale), channels-last on a GPU. All: synthetic 224x224 images on the device,
SGD with momentum, the same batch and steps, the median step. Nothing here imports TensorFlow, which the GPU
machine lacks; Keras must be installed (torch, torchvision and JAX legs that cannot import are reported).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

from train_steps import MODELS, ROOT, cpu_record, in_fresh_process, keras_step_seconds, median_seconds

OUT = ROOT / "benchmarks" / "gpu_results.md"
LEGS = {"archspec, Keras on JAX": ("jax",), "archspec, Keras on torch": ("torch",),
        "torchvision": ("torch", "torchvision")}  # leg -> the modules it needs


def torchvision_step_seconds(name: str, size: int, batch: int, steps: int, warmup: int, precision: str) -> dict:
    """Median seconds of a training step of torchvision's own ``name`` under torch.autocast."""
    import torch
    import torchvision

    device = "cuda" if torch.cuda.is_available() else "cpu"
    layout = torch.channels_last if device == "cuda" else torch.contiguous_format
    dtype = getattr(torch, precision)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).to(device, memory_format=layout).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device, enabled=precision == "float16")
    x = torch.rand(batch, 3, size, size, device=device).to(memory_format=layout) * 2 - 1
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss.item()  # waits for the device, as Keras's train_on_batch does

    return {"seconds": median_seconds(step, steps, warmup),
            "device": torch.cuda.get_device_name() if device == "cuda" else "CPU", "jit_compile": False,
            "torch": torch.__version__, "torchvision": torchvision.__version__}


def run_leg(request: dict) -> dict:
    """One measurement, in this (fresh) process."""
    args = (request["model"], request["size"], request["batch"], request["steps"], request["warmup"])
    if request["leg"] == "torchvision":
        return torchvision_step_seconds(*args, request["precision"])
    jit = True if request["leg"].endswith("JAX") else request["torch_compile"]
    return keras_step_seconds(*args, policy=f"mixed_{request['precision']}", jit_compile=jit)


def gpu_record() -> str | None:
    """The GPUs' names and driver, from nvidia-smi; None without one."""
    if not shutil.which("nvidia-smi"):
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                          capture_output=True, text=True)
    names = done.stdout.strip().replace("\n", "; ")
    return names if done.returncode == 0 and names else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="timed steps; the median is reported")
    parser.add_argument("--precision", choices=("bfloat16", "float16"), default="bfloat16")
    parser.add_argument("--torch-compile", action="store_true", help="Keras on torch with jit_compile=True")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--dry-run", action="store_true", help="CPU, 32x32, batch 2, one step; writes nothing")
    parser.add_argument("--out", type=Path, default=None, help=f"default {OUT.relative_to(ROOT)} (none in a dry run)")
    parser.add_argument("--leg", help=argparse.SUPPRESS)  # one measurement, in a fresh process
    args = parser.parse_args()
    if args.leg:
        print(json.dumps(run_leg(json.loads(args.leg))))
        return
    if not importlib.util.find_spec("keras"):
        sys.exit("benchmarks/gpu.py needs Keras 3 (pip install keras) beside JAX and/or torch: "
                 "archspec's models are Keras models.")
    gpu = gpu_record()
    if not gpu and not args.dry_run:
        sys.exit("no GPU found (nvidia-smi): run on a GPU machine, or use --dry-run to check the script on CPU.")
    size, batch, steps, warmup = (32, 2, 1, 1) if args.dry_run else (224, args.batch_size, args.steps, 3)
    env = {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"} if args.dry_run else {}
    request = {"size": size, "batch": batch, "steps": steps, "warmup": warmup, "precision": args.precision,
               "torch_compile": args.torch_compile}
    rows, ran, missing = [], [], set()
    for model in args.models:
        measured: dict[str, dict | None] = {}
        for leg, needs in LEGS.items():
            absent = [m for m in needs if not importlib.util.find_spec(m)]
            missing.update(absent)
            backend = {"KERAS_BACKEND": needs[0]} if leg.startswith("archspec") else {}
            measured[leg] = None if absent else in_fresh_process(
                Path(__file__), {**request, "model": model, "leg": leg}, env={**env, **backend})
        ran += [r for r in measured.values() if r]
        base = batch / measured["torchvision"]["seconds"] if measured["torchvision"] else None
        for leg, r in measured.items():
            rate = batch / r["seconds"] if r else None
            rows.append(f"| {model} | {leg} | {r['device']} | {rate:,.1f} | {f'{rate / base:.2f}' if base else 'n/a'} |"
                        if r else f"| {model} | {leg} | | not installed | |")
        print("\n".join(rows[-len(LEGS):]), flush=True)
    versions = {key: r[key] for r in ran for key in ("keras", "backend", "torch", "torchvision") if key in r}
    keras_runs = sorted({r["backend"] for r in ran if "backend" in r})
    command = "python benchmarks/gpu.py " + " ".join(sys.argv[1:])
    text = "\n".join([
        f"## GPU training throughput: archspec on JAX and torch against torchvision (issue 21, {args.precision})",
        "",
        f"`{command.strip()}` on {gpu or 'no GPU (dry run on CPU)'}; host {cpu_record()}; "
        f"Keras {versions.get('keras', '-')} on {', '.join(keras_runs) or '-'}; torchvision "
        f"{versions.get('torchvision', '-')} on torch {versions.get('torch', '-')}; {datetime.date.today().isoformat()}.",
        f"Batch {batch}, {size}x{size} synthetic images on the device, SGD with momentum, median of {steps} steps "
        f"after {warmup} warm-up; Keras's `mixed_{args.precision}` policy, `jit_compile` XLA on JAX and "
        f"{'torch.compile' if args.torch_compile else 'eager (Keras default)'} on torch; torchvision under "
        f"`torch.autocast({args.precision})`{', channels-last' if gpu else ''}."
        + (f" Not installed here: {', '.join(sorted(missing))}." if missing else ""), "",
        "| model | run | device | training img/s | / torchvision |", "|---|---|---|---:|---:|", *rows, "",
    ])
    print(text)
    out = args.out or (None if args.dry_run else OUT)
    if out:
        previous = out.read_text().rstrip() + "\n\n" if out.exists() else ""
        out.write_text(previous + text)  # earlier runs' sections stay above


if __name__ == "__main__":
    main()
