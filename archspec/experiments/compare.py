"""What the comparing experiments share (`reproduce degradation`, `shortcuts`, `orders`): their
recipes, training several nets with one recipe, and plotting their error curves.

Each net is an ordinary `archspec train` run in its own folder under the experiment's, so an
interrupted experiment resumes where it stopped and a finished one is not trained again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..graph.complexity import complexity
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..train.run_folder import RunFolder
from ..train.sources.cifar import ARCHIVES

EPOCHS = 20  # on small data
SMALL_DATA = "digits"


def recipe(data: str = SMALL_DATA, epochs: int = EPOCHS, seed: int = 0) -> TrainSpec:
    """The paper's recipe for a small data set: batch 64 (digits' 1617 training images give 25
    steps an epoch) and 2 warm-up epochs (the paper's remedy for its 110-layer net at lr 0.1)."""
    return TrainSpec(data=data, epochs=epochs, seed=seed, batch_size=64, warmup_epochs=min(2, epochs - 1))


def at_size(recipe_name: str, data: str, seed: int, epochs: int | None = None, **fields: Any) -> TrainSpec:
    """A named recipe (``archspec/recipes/``) on ``data``, ``fields`` over it: a paper's experiment at its size."""
    from ..graph.load import load_training
    from ..spec.recipes import recipe_path

    fields = {**fields, "data": data, "seed": seed, **({"epochs": epochs} if epochs else {})}
    return load_training("cifar_resnet20", [recipe_path(recipe_name)], {"train": fields}).train


def chosen_recipe(recipe_name: str | None, data: str | None, seed: int, epochs: int | None, tiny: bool, *,
                  paper_data: str, experiment: str, **fields: Any) -> TrainSpec:
    """The recipe an experiment trains with: ``recipe_name`` at its size on ``data`` (by default the
    paper's data set, where archspec can fetch it), else the small-data recipe; ``tiny``: one epoch."""
    epochs = 1 if tiny else epochs
    if not recipe_name:
        return recipe(data or SMALL_DATA, epochs or EPOCHS, seed)
    if data is None and paper_data not in ARCHIVES:
        raise RunError(f"reproduce {experiment} --recipe {recipe_name} trains on the paper's data set, {paper_data}, "
                       f"which archspec cannot fetch: give it with --data, e.g. --data folder:PATH (a folder with "
                       f"train/ and val/, one subfolder per class in each) or --data 'tfrecord:TRAIN_GLOB,VAL_GLOB'")
    return at_size(recipe_name, data or paper_data, seed, epochs, **fields)


@dataclass(frozen=True)
class Net:
    label: str  # as tables and plots show it: plain-20, full pre-act
    spec: ModelSpec  # its name names its run folder
    paper_error: float | None = None  # the paper's error for this net, in %, where the experiment has one


def error(accuracy: float) -> float:
    return round(100 * (1 - accuracy), 2)


def train_nets(out: Path, nets: list[Net], *, verbose: int | None = None,
               log: Callable[[str], None] = print) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train ``nets`` one after another, each in ``out / spec.name``. Returns one summary row per
    net (final training and validation error, in %, the paper's error, seconds) and one row per
    net and epoch (the curves)."""
    from ..train.trainer import RunOptions, train

    summary, curves = [], []
    for i, net in enumerate(nets, start=1):
        params = complexity(net.spec).params
        log(f"[{i}/{len(nets)}] {net.label} ({params:,} params)")
        folder = out / net.spec.name
        metrics = train(net.spec, RunOptions(out=folder, verbose=verbose, log=log))
        summary.append({"net": net.label, "params": params, "train_error": error(metrics["accuracy"]),
                        "val_error": error(metrics["val_accuracy"]), "paper_error": net.paper_error,
                        "seconds": metrics["seconds"]})
        curves += [{"net": net.label, "epoch": row["epoch"], "train_error": error(row["accuracy"]),
                    "val_error": error(row["val_accuracy"]), "learning_rate": row["learning_rate"]}
                   for row in RunFolder(folder).state().history]
    return summary, curves


def plot_curves(ax: Any, curves: list[dict[str, Any]], colours: dict[str, str]) -> None:
    """The papers' style on one axes: per net (``colours``' keys, in order), dashed training error
    and bold validation error per epoch."""
    from matplotlib.ticker import MaxNLocator

    for net, colour in colours.items():
        mine = [r for r in curves if r["net"] == net]
        epochs = [r["epoch"] for r in mine]
        ax.plot(epochs, [r["train_error"] for r in mine], "--", color=colour, linewidth=1, label=f"{net} train")
        ax.plot(epochs, [r["val_error"] for r in mine], "-", color=colour, linewidth=2.2, label=f"{net} validation")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


LINE_STYLES = "dashed: training error, bold: validation error"


def recipe_title(t: TrainSpec) -> str:
    """The recipe in one line, for a figure's title."""
    return (f"{t.data}: {t.epochs} epochs, batch {t.batch_size}, SGD lr {t.lr:g} ({t.warmup_epochs} warm-up "
            f"epochs, {t.schedule} schedule)")
