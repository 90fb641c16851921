"""CPU inference cost of writing each formerly custom layer in its built-in form (archspec.keras.portable), written
to benchmarks/portable_results.md: what a receiver without archspec pays for loading the file.

    python benchmarks/portable.py [--steps 5]

For one zoo entry per layer, the model as archspec builds it (native) against the same model with only that
layer's rewrite applied, so the other rewrites (a grouped conv as ``Conv2D(groups=g)``) do not blur the figure;
``predict_on_batch`` (TensorFlow, float32, batch 8, jit_compile as Keras chooses) after two warm-up calls, then
``--steps`` calls of each, the two forms alternating, and each form's fastest call: the machine is shared, and the
fastest call is the one that other work slowed least.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
from train_steps import cpu_record

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "portable_results.md"
BATCH = 8
# layer class name -> the zoo entry that holds it and the input size measured
ENTRIES = {"RadixSelect": ("resnest50d", 160), "ChannelPool": ("cbam_resnet50", 160),
           "AttentionPool": ("gcresnet50t", 160), "WeightedAdd": ("cifar_weighted_resnet110", 32)}


def measure(layer: str, name: str, size: int, steps: int) -> tuple[float, float, int]:
    """Median seconds of the native and the rewritten model, and how many layers the rewrite added."""
    from archspec import build_model
    from archspec.graph.load import load_spec
    from archspec.keras import portable

    model = build_model(load_spec(load_spec(name), overrides={"input_shape": [size, size, 3]}))
    only = {cls: rewrite for cls, rewrite in portable.REWRITES.items() if cls.__name__ == layer}
    with mock.patch.dict(portable.REWRITES, only, clear=True):
        written = portable.portable(model)
    x = np.random.default_rng(0).uniform(0, 255, (BATCH, size, size, 3)).astype(np.float32)
    forms = (model, written)
    for form in forms * 2:  # the warm-up calls: tracing, compiling
        form.predict_on_batch(x)
    times = [[_seconds(lambda form=form: form.predict_on_batch(x)) for form in forms] for _ in range(steps)]
    return min(t[0] for t in times), min(t[1] for t in times), len(written.layers) - len(model.layers)


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    import tensorflow as tf

    rows = []
    for layer, (name, size) in ENTRIES.items():
        native, written, added = measure(layer, name, size, args.steps)
        rows.append(f"| `{layer}` | {name} | {size} | {added} | {native:.3f} | {written:.3f} | {written / native:.2f} |")
        print(rows[-1], flush=True)
    OUT.write_text("\n".join([
        "## Portable forms: CPU inference, native layer against its built-in form", "",
        f"`python benchmarks/portable.py --steps {args.steps}` on {cpu_record()}, TensorFlow {tf.__version__}, "
        f"{datetime.date.today()}. Batch {BATCH}, float32, `predict_on_batch`; after two warm-up calls, "
        f"{args.steps} calls of each form, alternating; each form's fastest call. The rewritten model has only the "
        "named layer in its built-in form (other rewrites off).", "",
        "| layer | entry | input | layers added | native (s) | built-in form (s) | ratio |",
        "|---|---|---:|---:|---:|---:|---:|", *rows, "",
        "Every layer here is written in its built-in form: the cost is a receiver's without archspec (archspec's "
        "loader turns a WeightedAdd back, and runs the others' built-in forms). WeightedAdd's is the largest "
        "relative cost, on a 32-pixel CIFAR network, where each of its added layers' fixed per-call cost shows. "
        "RelativeSelfAttention, HaloAttention and LambdaAttention stay archspec's (docs/guides/export.md says why).",
        ""]))


if __name__ == "__main__":
    main()
