"""`archspec reproduce lesion`: Veit et al. 2016's deletion experiments on small data.

A residual net and a plain net of the same depth and widths (the zoo's cifar_resnet20 and
cifar_plain20, fitted to the data) train once each, as ordinary resumable `archspec train`
runs. Then, in this one process and without retraining, each trained model is rebuilt with
blocks left out (``build_model(spec, lesion=..., weights_from=trained)``: a residual block keeps
only its shortcut, a plain block becomes the identity) and evaluated on the validation images:
every single block removed, then k random blocks removed (k = 1 .. all, several draws each).

Veit et al. find residual nets degrade smoothly (they behave like ensembles of shallower paths)
while plain nets collapse. A plain block that changes the map's shape (the first block of a
strided stage) cannot become the identity; it is reported as not removable and never drawn.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..graph.load import load_spec
from ..graph.plan import plan
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..train.data import open_data, pipelines
from ..utils.atomic import write_csv
from ..utils.figures import pyplot, save_figure
from . import fitted

EPOCHS = 10
NETS = (("ResNet", "cifar_resnet20"), ("plain", "cifar_plain20"))
TINY_BLOCKS = 2  # blocks per stage in --tiny mode: nets of 14 layers, 6 blocks


@dataclass(frozen=True)
class Net:
    label: str  # ResNet-20, plain-20
    spec: ModelSpec


def nets(t: TrainSpec, tiny: bool = False, input_size: int | None = None) -> list[Net]:
    data = open_data(t.data, validation_split=t.validation_split, seed=t.seed, synthetic_classes=10)
    out = []
    for kind, zoo_name in NETS:
        stages = load_spec(zoo_name).model_dump()["stages"]
        if tiny:
            stages = [{**s, "depth": TINY_BLOCKS} for s in stages]
        depth = 2 * sum(s["depth"] for s in stages) + 2
        label = f"{kind}-{depth}"
        spec = fitted(zoo_name, data, input_size, stages=stages, train=t.model_dump(),
                      name=f"lesion_{label.lower().replace('-', '')}")
        out.append(Net(label, spec))
    return out


def blocks(spec: ModelSpec) -> list[tuple[int, str, bool]]:
    """The blocks a lesion can name: (1-based index, layer-name prefix, removable)."""
    return [(i, name, removable) for i, (name, removable) in enumerate(plan(spec).units, start=1)]


def run(out: Path, t: TrainSpec, *, tiny: bool = False, draws: int = 5, input_size: int | None = None,
        verbose: int | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train both nets under ``out``, evaluate their lesions, write lesion.csv and lesion.png there
    and return the rows (validation error in % of each lesioned model)."""
    import keras

    from ..keras.build import build_model
    from ..keras.model_io import load_model
    from ..train.trainer import RunOptions, train

    rng = random.Random(t.seed)
    rows: list[dict[str, Any]] = []
    for i, net in enumerate(nets(t, tiny, input_size), start=1):
        log(f"[{i}/{len(NETS)}] training {net.label}")
        folder = out / net.spec.name
        train(net.spec, RunOptions(out=folder, verbose=verbose, log=log))
        trained = load_model(folder / "last.keras", compile=False)
        data = open_data(t.data, validation_split=t.validation_split, seed=t.seed,
                         synthetic_classes=net.spec.num_classes)
        _, val = pipelines(data, net.spec, t)
        images, labels = _arrays(val)

        def error(lesion: list[int], spec: ModelSpec = net.spec, trained: Any = trained,
                  images: np.ndarray = images, labels: np.ndarray = labels) -> float:
            """Validation error in % of ``trained`` with the blocks ``lesion`` left out."""
            model = build_model(spec, lesion=lesion, weights_from=trained) if lesion else trained
            # called eagerly: model.predict would trace a new function for every lesioned model
            predicted = np.concatenate(
                [np.argmax(keras.ops.convert_to_numpy(model(images[i:i + 256], training=False)), axis=-1)
                 for i in range(0, len(images), 256)])
            return round(100 * float(np.mean(predicted != labels)), 2)

        units = blocks(net.spec)
        removable = [b for b, _, ok in units if ok]
        row = {"net": net.label, "kind": "plain" if net.label.startswith("plain") else "residual"}
        rows.append({**row, "lesion": "none", "k": 0, "blocks": "", "block_name": "", "val_error": error([])})
        for b, name, ok in units:
            rows.append({**row, "lesion": "single", "k": 1, "blocks": str(b), "block_name": name,
                         "val_error": error([b]) if ok else "not removable"})
        for k in range(1, len(removable) + 1):
            for _ in range(1 if k == len(removable) else draws):
                chosen = sorted(rng.sample(removable, k))
                rows.append({**row, "lesion": "random", "k": k, "blocks": " ".join(map(str, chosen)),
                             "block_name": "", "val_error": error(chosen)})
        singles = [r["val_error"] for r in rows if r["net"] == net.label and r["lesion"] == "single"
                   and r["val_error"] != "not removable"]
        log(f"{net.label}: intact error {error([]):.2f}%; {len(removable)} of {len(units)} blocks removable, "
            f"error with one removed {min(singles):.2f}% to {max(singles):.2f}%")
    write_csv(out / "lesion.csv", rows)
    plot(rows, out / "lesion.png", t)
    return rows


def _arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """A batched (image, one-hot) dataset as two arrays: images and class indices."""
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(xs), np.argmax(np.concatenate(ys), axis=-1)


def plot(rows: list[dict[str, Any]], path: Path, t: TrainSpec) -> None:
    """Veit et al. 2016, Fig. 3 and 5 in one: error with each single block deleted (left) and with
    k random blocks deleted (right, mean and range over the draws); dashed: the intact net."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for net, colour in zip(dict.fromkeys(r["net"] for r in rows), ("tab:blue", "tab:red")):
        mine = [r for r in rows if r["net"] == net]
        base = mine[0]["val_error"]
        single = [r for r in mine if r["lesion"] == "single" and r["val_error"] != "not removable"]
        axes[0].plot([int(r["blocks"]) for r in single], [r["val_error"] for r in single], "o-", color=colour,
                     label=net)
        ks = sorted({r["k"] for r in mine if r["lesion"] == "random"})
        errors = [[r["val_error"] for r in mine if r["lesion"] == "random" and r["k"] == k] for k in ks]
        axes[1].plot(ks, [float(np.mean(e)) for e in errors], "o-", color=colour, label=net)
        axes[1].fill_between(ks, [min(e) for e in errors], [max(e) for e in errors], color=colour, alpha=0.15)
        for ax in axes:
            ax.axhline(base, color=colour, linestyle="--", linewidth=1)
    axes[0].set_xlabel("block removed")
    axes[1].set_xlabel("blocks removed at random (k)")
    axes[0].set_ylabel("validation error (%)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"lesions after training on {t.data} for {t.epochs} epochs; dashed: the intact net", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
