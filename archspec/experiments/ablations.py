"""`archspec reproduce shortcuts` and `archspec reproduce orders`: a paper's ablation table, re-run.

A table (the zoo's ``ablations.yaml``) names the paper's net and, per row, the one thing the row
changes in it: He et al. 2015's Table 3 the shortcut option of ResNet-34 (A, B, C), He et al.
2016's Table 2 the block order of ResNet-110 (Fig. 4 (a)-(e)). Each row's net trains with one
recipe (``compare.train_nets``); the experiment writes <table>.csv (errors per net and epoch) and
<table>.png (their curves) and returns each net's final errors beside the paper's.

At its size (a named recipe) the table's own net trains; on small data a smaller zoo net of the
same kind stands in (``SMALL_NETS``), so what compares with the paper is the rows' ranking, not
their values. Any residual spec can be given instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from ..graph.load import load_spec
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..spec.zoo import Ablation, AblationRow, ablations
from ..train.data import open_data
from ..utils.atomic import write_csv
from ..utils.figures import pyplot, save_figure
from . import fitted
from .compare import LINE_STYLES, Net, chosen_recipe, plot_curves, recipe_title, train_nets

# On small data: the nets that stand in for the papers' (ResNet-110's five orders would take an hour on 2 CPU cores).
SMALL_NETS = {"shortcuts": "cifar_resnet20", "orders": "cifar_resnet56"}

# He et al. 2015 (Sec. 4.2), whose CIFAR recipe He et al. 2016 keep, start ResNet-110 at lr 0.01 until the
# training error is below 80% (about 400 iterations), then 0.1: one linear warm-up epoch (391 iterations at
# batch 128 on CIFAR-10) stands in for it when the orders table trains at its size.
AT_SIZE = {"orders": {"warmup_epochs": 1}}

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def table(name: str) -> Ablation:
    return ablations()[name]


def training(name: str, recipe_name: str | None, data: str | None, seed: int, epochs: int | None,
             tiny: bool) -> TrainSpec:
    """Table ``name``'s recipe (``compare.chosen_recipe``; at size on the paper's data set, with the
    paper's own additions, ``AT_SIZE``, except for a one-epoch --tiny check)."""
    extra = AT_SIZE.get(name, {}) if recipe_name and not tiny else {}
    return chosen_recipe(recipe_name, data, seed, epochs, tiny, paper_data=table(name).dataset, experiment=name,
                         **extra)


def variant(base: ModelSpec, row: AblationRow) -> dict[str, Any]:
    """The overrides that make ``row``'s net of ``base``: its fields on every stage that has them (the
    residual ones) and on the stem."""
    dumped = base.model_dump()
    changes = row.stages
    if not any(changes.keys() <= stage.keys() for stage in dumped["stages"]):
        raise RunError(f"'{base.name}' has no residual stage to set {', '.join(changes)} on: give a spec with "
                       f"basic or bottleneck stages")
    stages = [{**stage, **changes} if changes.keys() <= stage.keys() else stage for stage in dumped["stages"]]
    return {"stages": stages, **({"stem": {**dumped["stem"], **row.stem}} if row.stem else {})}


def base_net(name: str, net: str | None, at_size: bool) -> str:
    """The net whose variants are compared: ``net``, else the paper's at size, else ``SMALL_NETS``'."""
    return net or (table(name).net if at_size else SMALL_NETS[name])


def nets(name: str, t: TrainSpec, net: str | None = None, *, at_size: bool = False, tiny: bool = False,
         input_size: int | None = None) -> list[Net]:
    """One net per row of table ``name``: ``net`` (by default the paper's at size, else ``SMALL_NETS``')
    with the row's change, fitted to the recipe's data; ``tiny`` keeps one block per stage."""
    base = load_spec(base_net(name, net, at_size))
    if tiny:
        base = load_spec(base, overrides={"stages": [{**s, "depth": 1} for s in base.model_dump()["stages"]]})
    data = open_data(t.data, validation_split=t.validation_split, seed=t.seed, synthetic_classes=10)
    return [Net(row.label, fitted(base, data, input_size, name=f"{name}_{_slug(row.label)}",
                                  train=t.model_dump(), **variant(base, row)), row.error)
            for row in table(name).rows]


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def run(name: str, out: Path, t: TrainSpec, net: str | None = None, *, at_size: bool = False, tiny: bool = False,
        input_size: int | None = None, verbose: int | None = None,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train table ``name``'s nets under ``out``, write <name>.csv and <name>.png there, and return one
    summary row per net (``compare.train_nets``, the paper's error beside each)."""
    chosen = nets(name, t, net, at_size=at_size, tiny=tiny, input_size=input_size)
    summary, curves = train_nets(out, chosen, verbose=verbose, log=log)
    write_csv(out / f"{name}.csv", curves)
    plot(name, curves, out / f"{name}.png", t, f"{base_net(name, net, at_size)}{' (tiny)' if tiny else ''}")
    return summary


def plot(name: str, curves: list[dict[str, Any]], path: Path, t: TrainSpec, net: str) -> None:
    """All rows on one axes, as the papers plot them: dashed training error, bold validation error."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = list(dict.fromkeys(r["net"] for r in curves))
    plot_curves(ax, curves, dict(zip(labels, COLOURS)))
    ax.set_ylabel("error (%)")
    ax.set_title(f"{net}, as in {table(name).paper}\n{recipe_title(t)}\n{LINE_STYLES}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
