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

from ..graph.load import load_spec
from ..spec.train_schema import TrainSpec
from ..spec.zoo import published
from ..train.data import open_data
from ..utils.atomic import write_csv
from ..utils.figures import pyplot, save_figure
from . import fitted
from .compare import LINE_STYLES, Net, plot_curves, recipe_title, train_nets

DEPTHS = (20, 56)  # on small data
PAPER_DEPTHS = (20, 32, 44, 56)  # He et al. 2015, Fig. 6, with a recipe at size
ZOO = {"plain": "cifar_plain{}", "residual": "cifar_resnet{}"}


@dataclass(frozen=True)
class DepthNet(Net):
    kind: str = "plain"  # or residual
    depth: int = 0


def nets(t: TrainSpec, tiny: bool = False, input_size: int | None = None,
         depths: tuple[int, ...] = DEPTHS, paper: bool = False) -> list[DepthNet]:
    """Plain and residual nets of ``depths`` (the zoo's CIFAR nets), fitted to the recipe's data;
    ``tiny`` keeps 1, 2, ... blocks per stage instead (nets of 8, 14, ... layers). With ``paper``,
    each carries He et al.'s CIFAR-10 test error where the zoo's reference data has it."""
    data = open_data(t.data, validation_split=t.validation_split, seed=t.seed, synthetic_classes=10)
    figures = published()
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
        reference = figures.get(zoo_name)
        paper_error = reference.error if paper and not tiny and reference and reference.dataset == "cifar10" else None
        out.append(DepthNet(label, fitted(zoo_name, data, input_size, **fields), paper_error, kind, depth))
    return out


def run(out: Path, t: TrainSpec, *, tiny: bool = False, input_size: int | None = None,
        depths: tuple[int, ...] = DEPTHS, paper: bool = False, verbose: int | None = None,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train the nets under ``out``, write degradation.csv and degradation.png there, and return one
    summary row per net (``compare.train_nets``; with ``paper``, He et al.'s test errors beside them)."""
    chosen = nets(t, tiny, input_size, depths, paper)
    summary, curves = train_nets(out, chosen, verbose=verbose, log=log)
    by_label = {net.label: net for net in chosen}
    rows = [{"net": r["net"], "kind": by_label[r["net"]].kind, "depth": by_label[r["net"]].depth, **r}
            for r in curves]
    write_csv(out / "degradation.csv", rows)
    plot(rows, out / "degradation.png", t)
    return summary


def plot(rows: list[dict[str, Any]], path: Path, t: TrainSpec) -> None:
    """The paper's layout: plain nets left, residual right; dashed training error, bold validation error."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    depths = sorted({r["depth"] for r in rows})  # the paper's colours: deeper nets redder
    palette = ("tab:orange", "tab:red") if len(depths) == 2 else \
        ("tab:olive", "tab:cyan", "tab:orange", "tab:red", "tab:purple", "tab:brown")
    colours = dict(zip(depths, palette))
    for ax, kind in zip(axes, ("plain", "residual")):
        mine = [r for r in rows if r["kind"] == kind]
        plot_curves(ax, mine, {r["net"]: colours[r["depth"]] for r in mine})
        ax.set_title(f"{kind} nets")
    axes[0].set_ylabel("error (%)")
    fig.suptitle(f"{recipe_title(t)}; {LINE_STYLES}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
