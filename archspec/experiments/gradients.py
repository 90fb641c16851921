"""`archspec gradients`: per-block gradient norms at initialisation, plain against residual.

Through a residual block x_{l+1} = x_l + F(x_l) the gradient is
dL/dx_l = dL/dx_{l+1} (1 + dF/dx_l): the identity path adds a term that no weight can
shrink, so the gradient reaches the first blocks whole, while in a plain net it is
multiplied by every layer's Jacobian on the way down. On one batch of data, at
initialisation, this measures for each block the norm of the gradient of the loss with
respect to the block's output and with respect to its weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..graph.plan import plan
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..train.data import open_data, pipelines
from ..utils.atomic import write_csv
from ..utils.figures import pyplot, save_figure
from . import fitted

DEFAULT_SPECS = ("cifar_plain20", "cifar_resnet20", "cifar_plain56", "cifar_resnet56")
_BLOCK = re.compile(r"^(conv\d+_block\d+)_")  # keras.applications naming: conv3_block2_1_conv


def blocks(spec: ModelSpec) -> dict[str, list[str]]:
    """Block -> its layers, from the stem to the classifier: ``stem``, ``conv2_block1``, ..., ``head``
    (the input and its normalisation are no block)."""
    out: dict[str, list[str]] = {}
    for node in (n for n in plan(spec).nodes if n.scope != "input"):
        match = _BLOCK.match(node.name)
        out.setdefault(match.group(1) if match else node.scope, []).append(node.name)
    return out


def gradient_norms(spec: ModelSpec, x: Any, y: Any, seed: int = 0) -> list[dict[str, Any]]:
    """One row per block (the head excluded): ``block``, ``index``, ``output_grad`` (the norm of
    dL/d(block output) over the batch) and ``weight_grad`` (the norm of dL/d(block weights))."""
    import keras

    from ..keras.autodiff import probed, variable_gradients
    from ..keras.build import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(spec)
    groups = {name: layers for name, layers in blocks(spec).items() if name != "head"}
    probe, offsets = probed(model, [layers[-1] for layers in groups.values()], len(x))
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=spec.head.activation == "linear")
    weights = {name: [w for layer in layers for w in model.get_layer(layer).trainable_weights]
               for name, layers in groups.items()}
    flat_weights = [w for ws in weights.values() for w in ws]
    # batch statistics, as the first SGD step sees them
    grads = variable_gradients(lambda: loss_fn(y, probe(x, training=True)), offsets + flat_weights)
    output_grads, weight_grads = grads[:len(offsets)], iter(grads[len(offsets):])
    rows = []
    for i, (name, g) in enumerate(zip(groups, output_grads)):
        block_grads = [next(weight_grads) for _ in weights[name]]
        rows.append({"net": spec.name, "residual": spec.residual_blocks > 0, "block": name, "index": i,
                     "output_grad": _norm([g]), "weight_grad": _norm(block_grads)})
    return rows


def _norm(arrays: list[Any]) -> float:
    """The Euclidean norm of all of ``arrays`` together, in float64."""
    return math.sqrt(sum(float(np.square(a, dtype="float64").sum()) for a in arrays))


def run(sources: Sequence[str], out: Path, *, data: str = "digits", batch_size: int = 128,
        input_size: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Measure every spec on the same batch; write gradients.csv and gradients.png under ``out``."""
    t = TrainSpec(data=data, batch_size=batch_size, seed=seed, augment="none", flip=False)
    source = open_data(data, validation_split=t.validation_split, seed=seed, synthetic_classes=10)
    rows = []
    for name in sources:
        spec = fitted(name, source, input_size, train=t.model_dump())
        x, y = (np.asarray(tensor) for tensor in next(iter(pipelines(source, spec, t)[0])))
        rows += gradient_norms(spec, x, y, seed)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "gradients.csv", rows)
    plot(rows, out / "gradients.png", data)
    return rows


def plot(rows: list[dict[str, Any]], path: Path, data: str) -> None:
    """Gradient norm against block, log scale: plain nets dashed, residual nets solid."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    nets = list(dict.fromkeys(r["net"] for r in rows))
    for ax, key, title in zip(axes, ("output_grad", "weight_grad"),
                              ("||dL / d block output||", "||dL / d block weights||")):
        for net in nets:
            mine = [r for r in rows if r["net"] == net]
            ax.semilogy([r["index"] for r in mine], [max(r[key], 1e-30) for r in mine],
                        "-" if mine[0]["residual"] else "--", marker=".", label=net)
        ax.set_title(title)
        ax.set_xlabel("block (0: stem, input side)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"gradient norms at initialisation, one batch of {data} (dashed: plain, solid: residual)",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
