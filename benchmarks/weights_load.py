"""Loading ResNet-50's published-format weights: a torchvision .pth and a timm-style .safetensors file
through archspec, against keras.applications loading its .h5 into ResNet50; written to
benchmarks/weights_results.md.

    ARCHSPEC_TORCH_PYTHON=/path/to/venv-with-torch/bin/python python benchmarks/weights_load.py [--repeats 5]

The .pth comes from torch itself (scripts/torch_reference.py, seeded weights), the .safetensors holds the
same tensors, the .h5 is keras.applications' format (layer_names attributes, as its downloads) written
from a ResNet50 with random weights. Each load runs in a fresh process on a model built beforehand; the
time is the median of the repeats, the memory the peak resident growth during the load (VmHWM after
resetting it through /proc/self/clear_refs) beside the size of the weights.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "weights_results.md"

MEASURE = r"""
import json, sys, time
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
import keras
if kind == "h5":
    model = keras.applications.ResNet50(weights=None)
    load = lambda: model.load_weights(path)
else:
    from archspec.keras.build import build_model
    from archspec.keras.weights.transfer import load_source_weights
    model = build_model("resnet50")
    load = lambda: load_source_weights(model, path)

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
Path("/proc/self/clear_refs").write_text("5")  # peak resident size := current
before = status("VmRSS")
start = time.perf_counter()
load()
seconds = time.perf_counter() - start
peak = status("VmHWM") - before
del load, model  # the safetensors handle, and with it its map of the file, goes with them
print(json.dumps({"seconds": seconds, "peak_mb": peak}))
"""


def write_files(folder: Path, torch_python: str) -> dict[str, Path]:
    subprocess.run([torch_python, str(ROOT / "scripts" / "torch_reference.py"), "full", "resnet50", str(folder)],
                   check=True, capture_output=True)
    script = f"""
import keras, numpy as np, h5py
from safetensors.numpy import save_file
from archspec.keras.weights.tensors import open_tensors
with open_tensors({str(folder / "resnet50.pth")!r}) as t:
    save_file({{k: t.read(k) for k in t.shapes}}, {str(folder / "resnet50.safetensors")!r})
from keras.src.legacy.saving import legacy_h5_format
model = keras.applications.ResNet50(weights=None)
with h5py.File({str(folder / "resnet50.h5")!r}, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return {kind: folder / f"resnet50.{kind}" for kind in ("h5", "pth", "safetensors")}


def measure(files: dict[str, Path], repeats: int) -> dict[str, dict]:
    """Per kind: median seconds and largest peak growth over ``repeats`` rounds, the kinds interleaved in
    each round so that load from other work on the machine falls on all of them alike."""
    runs: dict[str, list[dict]] = {kind: [] for kind in files}
    for _ in range(repeats):
        for kind, path in files.items():
            out = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path)], check=True, capture_output=True,
                                 text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
            runs[kind].append(json.loads(out.strip().splitlines()[-1]))
    return {kind: {"seconds": statistics.median(r["seconds"] for r in rs), "peak_mb": max(r["peak_mb"] for r in rs)}
            for kind, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch_python = os.environ.get("ARCHSPEC_TORCH_PYTHON")
    if not torch_python:
        sys.exit("set ARCHSPEC_TORCH_PYTHON to a Python with torch, torchvision and timm (it writes the .pth)")
    import keras
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), torch_python)
        sizes = {kind: path.stat().st_size / 2**20 for kind, path in files.items()}
        results = measure(files, args.repeats)
    base = results["h5"]["seconds"]
    lines = [
        "## Loading ResNet-50's weights: .pth and .safetensors (archspec) / .h5 (keras.applications)",
        "",
        f"`ARCHSPEC_TORCH_PYTHON=... python benchmarks/weights_load.py --repeats {args.repeats}` on "
        f"{platform.machine()} CPU, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow "
        f"{tf.__version__}, Keras {keras.__version__}, {datetime.date.today()}. Median of {args.repeats} fresh "
        f"processes per file, interleaved, each loading into a model built beforehand; peak memory is the largest "
        f"resident growth during a load. Target: time ratio <= 1.0 and peak growth under one copy of the weights.",
        "",
        "| file | loader | file MB | load (s) | ratio to .h5 | peak growth MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    loaders = {"h5": "keras.applications.ResNet50 load_weights", "pth": "archspec load_source_weights (resnet50)",
               "safetensors": "archspec load_source_weights (resnet50)"}
    for kind in ("h5", "pth", "safetensors"):
        r = results[kind]
        lines.append(f"| .{kind} | {loaders[kind]} | {sizes[kind]:.1f} | {r['seconds']:.3f} | "
                     f"{r['seconds'] / base:.2f} | {r['peak_mb']:.0f} |")
    lines += ["", "Resident growth counts the file pages a loader maps: the safetensors package maps the whole file "
              "(page cache, shared and reclaimable, not a copy archspec holds), so its figure is about the file's "
              "size plus one layer's converted tensors; the .pth reader reads one tensor at a time with pread."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
