"""`archspec reproduce degradation`: He et al. 2015's Fig. 1 and 6 on small data.

Plain nets of 20 and 56 layers and the residual nets of the same depths and widths
(the zoo's cifar_plain20/56 and cifar_resnet20/56, fitted to the data's images and
classes) train with one recipe. Degradation is the deeper plain net ending with the
higher *training* error, so it is no overfitting; the residual nets should not degrade.
Each net is an ordinary `archspec train` run in its own folder, so an interrupted
experiment resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..graph.complexity import complexity
from ..graph.load import load_spec
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..spec.zoo import Published, published
from ..train.data import open_data
from ..train.run_folder import RunFolder
from ..utils.atomic import write_csv
from ..utils.figures import pyplot, save_figure
from . import fitted

EPOCHS = 20
DEPTHS = (20, 56)  # on small data
PAPER_DEPTHS = (20, 32, 44, 56)  # He et al. 2015, Fig. 6, with a recipe at size
ZOO = {"plain": "cifar_plain{}", "residual": "cifar_resnet{}"}


def recipe(data: str = "digits", epochs: int = EPOCHS, seed: int = 0) -> TrainSpec:
    """The paper's recipe for a small data set: batch 64 (digits' 1617 training images give 25
    steps an epoch) and 2 warm-up epochs (the paper's remedy for its 110-layer net at lr 0.1)."""
    return TrainSpec(data=data, epochs=epochs, seed=seed, batch_size=64, warmup_epochs=min(2, epochs - 1))


@dataclass(frozen=True)
class Net:
    label: str  # plain-20, ResNet-56
    kind: str  # plain or residual
    depth: int
    spec: ModelSpec


def at_size(recipe_name: str, data: str, seed: int, epochs: int | None = None) -> TrainSpec:
    """A named recipe (``archspec/recipes/``) on ``data``: the paper's experiment at its real size."""
    from ..graph.load import load_training
    from ..spec.recipes import recipe_path

    fields = {"data": data, "seed": seed, **({"epochs": epochs} if epochs else {})}
    return load_training("cifar_resnet20", [recipe_path(recipe_name)], {"train": fields}).train


def nets(t: TrainSpec, tiny: bool = False, input_size: int | None = None,
         depths: tuple[int, ...] = DEPTHS) -> list[Net]:
    """Plain and residual nets of ``depths`` (the zoo's CIFAR nets), fitted to the recipe's data;
    ``tiny`` keeps 1, 2, ... blocks per stage instead (nets of 8, 14, ... layers)."""
    data = open_data(t.data, validation_split=t.validation_split, seed=t.seed, synthetic_classes=10)
    out = []
    for kind, (i, depth) in ((kind, pair) for kind in ZOO for pair in enumerate(depths)):
        zoo_name = ZOO[kind].format(depth)
        fields: dict[str, Any] = {"train": t.model_dump()}
        if tiny:
            blocks = i + 1
            depth = 6 * blocks + 2
            fields["stages"] = [{**s, "depth": blocks} for s in load_spec(zoo_name).model_dump()["stages"]]
        label = f"{'plain' if kind == 'plain' else 'ResNet'}-{depth}"
        fields["name"] = label.lower().replace("-", "")
        out.append(Net(label, kind, depth, fitted(zoo_name, data, input_size, **fields)))
    return out


def run(out: Path, t: TrainSpec, *, tiny: bool = False, input_size: int | None = None,
        depths: tuple[int, ...] = DEPTHS, verbose: int | None = None,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train the nets under ``out``, write degradation.csv and degradation.png there, and return one
    summary row per net (final training and validation error, in %, and the paper's test error
    where the zoo's reference data has it)."""
    from ..train.trainer import RunOptions, train

    histories, summary = {}, []
    chosen = nets(t, tiny, input_size, depths)
    paper = published()
    for i, net in enumerate(chosen, start=1):
        log(f"[{i}/{len(chosen)}] {net.label} ({complexity(net.spec).params:,} params)")
        folder = out / net.spec.name
        metrics = train(net.spec, RunOptions(out=folder, verbose=verbose, log=log))
        histories[net.label] = RunFolder(folder).state().history
        summary.append({"net": net.label, "depth": net.depth, "params": complexity(net.spec).params,
                        "train_error": round(100 * (1 - metrics["accuracy"]), 2),
                        "val_error": round(100 * (1 - metrics["val_accuracy"]), 2),
                        "paper_error": None if tiny else _paper_error(paper, net), "seconds": metrics["seconds"]})
    rows = _rows(chosen, histories)
    write_csv(out / "degradation.csv", rows)
    plot(rows, out / "degradation.png", t)
    return summary


def _paper_error(paper: dict[str, Published], net: Net) -> float | None:
    """He et al.'s CIFAR-10 test error of the zoo net this one is, where reference.yaml has it."""
    figures = paper.get(ZOO[net.kind].format(net.depth))
    return figures.error if figures and figures.dataset == "cifar10" else None


def _rows(chosen: list[Net], histories: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """Per net and epoch, errors in %."""
    return [{"net": net.label, "kind": net.kind, "depth": net.depth, "epoch": row["epoch"],
             "train_error": round(100 * (1 - row["accuracy"]), 2),
             "val_error": round(100 * (1 - row["val_accuracy"]), 2), "learning_rate": row["learning_rate"]}
            for net in chosen for row in histories[net.label]]


def plot(rows: list[dict[str, Any]], path: Path, t: TrainSpec) -> None:
    """The paper's layout: plain nets left, residual right; dashed training error, bold validation error."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    depths = sorted({r["depth"] for r in rows})  # the paper's colours: deeper nets redder
    colours = dict(zip(depths, ("tab:orange", "tab:red") if len(depths) == 2 else
                                ("tab:olive", "tab:cyan", "tab:orange", "tab:red", "tab:purple", "tab:brown")))
    for ax, kind in zip(axes, ("plain", "residual")):
        for net in dict.fromkeys(r["net"] for r in rows if r["kind"] == kind):
            mine = [r for r in rows if r["net"] == net]
            epochs, colour = [r["epoch"] for r in mine], colours[mine[0]["depth"]]
            ax.plot(epochs, [r["train_error"] for r in mine], "--", color=colour, linewidth=1, label=f"{net} train")
            ax.plot(epochs, [r["val_error"] for r in mine], "-", color=colour, linewidth=2.2,
                    label=f"{net} validation")
        ax.set_title(f"{kind} nets")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("error (%)")
    fig.suptitle(f"{t.data}: {t.epochs} epochs, batch {t.batch_size}, SGD lr {t.lr:g} ({t.warmup_epochs} warm-up "
                 f"epochs, {t.schedule} schedule); dashed: training error, bold: validation error", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
