"""Training curves as a picture: a run's ``curves.png``, and several runs on one figure (``archspec plot RUN...``).

Three panels per figure: loss and accuracy per epoch (training solid, validation dashed) and the
learning rate, one colour per run, so plain-56 beside plain-20 (He et al.'s Figure 1) is one command
on anyone's runs. Drawn from the committed history (``history.csv``), without TensorFlow.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..spec.errors import RunError
from ..utils.figures import pyplot, save_figure

CURVES = "curves.png"
FORMATS = (".png", ".svg", ".pdf")
PANELS = (("loss", "loss"), ("accuracy", "accuracy"), ("learning_rate", "learning rate"))
SERIES = (("", "-", "training"), ("val_", "--", "validation"))  # key prefix, line style, what it measures


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a training run's folder (``archspec train`` writes run.json in it first)."""
    return (path / "run.json").is_file()


def read_history(folder: Path) -> list[dict[str, float]]:
    """The committed epochs of the run in ``folder``, one row of figures each."""
    path = folder / "history.csv"
    if not path.is_file():
        raise RunError(f"run folder {folder} has no history.csv yet: no epoch has finished")
    try:
        with path.open(encoding="utf-8", newline="") as file:
            return [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(file)]
    except (OSError, ValueError) as error:
        raise RunError(f"cannot read {path}: {error}") from None


def draw_curves(runs: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> None:
    """Each run's history (name -> rows) on one figure written atomically to ``path``."""
    if path.suffix.lower() not in FORMATS:
        raise RunError(f"cannot draw curves to '{path}': the file must end in {', '.join(FORMATS)}")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, rows) in enumerate(runs.items()):
        colour = colours[index % len(colours)]
        epochs = [row["epoch"] for row in rows]
        for ax, (key, _) in zip(axes, PANELS):
            for prefix, style, part in SERIES[:1] if key == "learning_rate" else SERIES:
                values = [row.get(prefix + key) for row in rows]
                if values and all(v is not None for v in values):
                    label = name if key == "learning_rate" else f"{name} {part}"
                    ax.plot(epochs, values, style, color=colour, marker="." if len(epochs) < 20 else None,
                            label=label)
    for ax, (key, title) in zip(axes, PANELS):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    axes[0].set_yscale("log")
    fig.tight_layout()
    save_figure(fig, path)
