"""LiteRT exports measured, written to benchmarks/litert.md.

    python benchmarks/litert.py [--epochs 4] [--size 32]

Three tables. (1) Trained: each entry trained here for a few epochs on scikit-learn's digits (8x8 grey,
scaled to pixels 0..255, resized to --size, three channels; 1,437 training and 360 held-out images), then
exported in float32 and int8 (calibrated on 100 training images) and run in the LiteRT interpreter on the
held-out images: top-1 accuracy of Keras, the float file and the int8 file, file sizes, LiteRT time per image.
(2) Formats: entries with fresh weights at --size, each quantization run back against the float model on
100 digits images, as `archspec export` reports it. (3) Families: the smallest zoo entry of each family, and
every attention entry, converted to int8 at a size it plans at, or the reason it cannot be.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import sys
import tempfile
import typing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
OUT = ROOT / "benchmarks" / "litert.md"

TRAINED = ("resnet18", "densenet121", "regnety_002", "botnet26t_256")
FORMATS = ("resnet50", "ecaresnet50d", "skresnet18", "regnety_016", "densenet121", "botnet26t_256")
CALIBRATION = 100


@functools.cache
def digits(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``size`` x ``size`` RGB pixels 0..255: training images and labels, held-out ones."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    data = load_digits()
    grey = tf.image.resize(data.images[..., None] * (255 / 16), (size, size)).numpy()
    images = np.repeat(np.clip(grey, 0, 255), 3, axis=-1).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1437], order[1437:]
    return images[train], data.target[train], images[test], data.target[test]


def built(name: str, size: int):
    from archspec import build_model
    from archspec.graph import load

    spec = load.load_spec(name)
    return build_model(load.load_spec(spec, overrides=load.resized(spec, size, 10)), seed=0)


def trained_rows(size: int, epochs: int, folder: Path) -> list[str]:
    from archspec.keras import litert

    rows = []
    for name in TRAINED:
        entry_size = max(size, 64) if name.startswith("botnet") else size  # its attention needs a map wider than 1
        x, y, x_test, y_test = digits(entry_size)
        model = built(name, entry_size)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
        keras_top1 = float(np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test))
        measured = {}
        for quantize in ("none", "int8"):
            path = folder / f"{name}_{quantize}.tflite"
            path.write_bytes(litert.convert(model, quantize, x[:CALIBRATION]))
            run = litert.interpret(path, x_test)
            top1 = float(np.mean(np.argmax(run.outputs[next(iter(run.outputs))], -1) == y_test))
            measured[quantize] = (top1, path.stat().st_size / 2**20, run.seconds * 1e3)
        (f_top1, f_mb, f_ms), (q_top1, q_mb, q_ms) = measured["none"], measured["int8"]
        rows.append(f"| {name} | {entry_size} | {keras_top1:.1%} | {f_top1:.1%} | {q_top1:.1%} | {f_mb:.2f} | "
                    f"{q_mb:.2f} | {f_ms:.2f} | {q_ms:.2f} |")
        print(rows[-1], flush=True)
    return rows


def format_rows(size: int, folder: Path) -> list[str]:
    from archspec.keras import litert

    calibration = digits(size)[0][:CALIBRATION]
    rows = []
    for name in FORMATS:
        model = built(name, size)
        cells = []
        for quantize in typing.get_args(litert.Quantization):
            try:
                report = litert.write(model, quantize, folder / f"{name}_{quantize}.tflite", calibration)
            except litert.RunError as error:
                cells.append(f"fails: {error}")
                continue
            mb = report.path.stat().st_size / 2**20
            cells.append(f"{report.difference:.1g} ({mb:.1f} MB)" if report.agreement is None else
                         f"{report.agreement:.0%}, {report.difference:.3f} ({mb:.1f} MB)")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def family_rows(folder: Path) -> list[str]:
    from helpers import small_size, smallest_of_each_family

    from archspec import list_zoo
    from archspec.graph.load import load_spec
    from archspec.keras import litert

    families = {entry.name: entry.family for entry in list_zoo()}
    names = sorted(set(smallest_of_each_family()) | {name for name, family in families.items() if family == "attention"})
    rows = []
    for name in names:
        spec = load_spec(name)
        size = small_size(spec) or spec.input_shape[0]
        model = built(name, size)
        calibration = np.random.default_rng(0).uniform(0, 255, (8, *model.input_shape[1:])).astype(np.float32)
        try:
            report = litert.write(model, "int8", folder / f"{name}.tflite", calibration)
            result = f"runs (input {report.input_type}, output {report.output_type})"
        except litert.RunError as error:
            result = f"no: {error}"
        rows.append(f"| {name} | {families[name]} | {size} | {result} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--formats-size", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        trained = trained_rows(args.size, args.epochs, Path(folder))
        formats = format_rows(args.formats_size, Path(folder))
        families = family_rows(Path(folder))
    command = " ".join(["python benchmarks/litert.py", *sys.argv[1:]])
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}"
    OUT.write_text("\n".join([
        "# LiteRT exports", "",
        f"`{command}` on {datetime.date.today()}: {machine}; ai-edge-litert's interpreter with its default "
        "(XNNPACK) delegate, one image at a time. The machine is shared with other jobs: times vary between "
        "runs (int8 up to 3x), file sizes and top-1 do not.", "",
        "## Trained on digits", "",
        f"{args.epochs} epochs of Adam (batch 32) on 1,437 of scikit-learn's digits at the size shown (grey "
        "scaled to 0..255, three channels); top-1 on the 360 held-out images; int8 calibrated on 100 training "
        "images. Time: mean LiteRT milliseconds per image over the held-out images.", "",
        "| entry | size | Keras top-1 | float .tflite top-1 | int8 top-1 | float MB | int8 MB | float ms | int8 ms |",
        "|---|---|---|---|---|---|---|---|---|", *trained, "",
        "## Each quantization against the float model", "",
        f"Fresh weights at {args.formats_size}x{args.formats_size} (the full sizes convert, but take minutes each "
        f"on this CPU), run back on {CALIBRATION} digits images as `archspec export --format litert` reports it. "
        "float32: largest output difference from Keras; quantized: top-1 agreement with the float model and the "
        "largest probability difference; file size in brackets. A float cell that says `fails` is the check "
        "refusing the file: fresh weights leave a deep residual network's logits in the thousands (resnet50's "
        "reach +-1,900 here), its softmax saturated, and XNNPACK's float32 summation order alone then moves a "
        "probability by about 1e-4 (and a quantized file's by up to 0.9); the trained float files above give "
        "Keras's top-1 on every image.", "",
        "| entry | none (float32) | float16 | dynamic | int8 |", "|---|---|---|---|---|", *formats, "",
        "## int8 across the zoo", "",
        "The smallest entry of each family and every attention entry, fresh weights, at 64x64 where it plans "
        "there (else its own size), calibrated on 8 random images.", "",
        "| entry | family | size | int8 |", "|---|---|---|---|", *families, "",
    ]))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
