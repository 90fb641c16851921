"""A training run's folder: what it trains, which epochs are done, and its results.

``run.json`` (the spec it trains, with its ``train:`` recipe, and the options that change what it
learns from: ``transfer``, ``skip_broken``) is written when the run
starts, after every check has passed, so a folder holds started runs only; ``state.json``
commits each finished epoch (its history row, the best epoch and the resume weights) and
is renamed into place last, so whatever interrupts a run, the folder names a consistent
epoch to resume from. ``history.csv`` is rewritten from the committed history and
``curves.png`` draws it (``archspec.train.curves``); ``metrics.json`` marks a finished run,
``classes.json`` names the outputs where the data names its classes. A finished run keeps its
last resume weights, so that ``--epochs`` can extend it later. No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..graph.diff import field_changes
from ..spec.errors import RunError
from ..utils.atomic import write_csv, write_text
from .curves import CURVES, draw_curves

FILES = ("run.json", "classes.json", "state.json", "history.csv", CURVES, "metrics.json", "last.keras", "best.keras")
FOLDERS = ("resume", "tensorboard")
Status = Literal["new", "resume", "extend", "finished"]
EPOCHS = "spec.train.epochs"  # the one field a run may change: it can be extended


@dataclass
class State:
    """The committed part of a run: epochs done, their metrics, the best one, the resume weights."""

    epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_accuracy: float | None = None
    weights: str | None = None  # file name under resume/


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.resume = path / "resume"
        self.last = path / "last.keras"
        self.best = path / "best.keras"
        self.tensorboard = path / "tensorboard"

    def _json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RunError(f"cannot read {self.path / name}: {err}; it is not a run folder archspec wrote, "
                           f"or it was damaged: choose another --out or pass --overwrite") from None

    def check(self, config: dict, overwrite: bool) -> Status:
        """What a run of ``config`` here would do, refusing anything that would clobber other work:
        start anew, resume, extend (more epochs than the run in the folder) or nothing (finished).

        Writes nothing: a refused run leaves the folder as it was.
        """
        _check_writable(self.path)
        if not self.path.exists():
            return "new"
        if not (self.path / "run.json").exists():
            if any(self.path.iterdir()):
                raise RunError(f"--out '{self.path}' is not empty and holds no archspec run (run.json): "
                               f"choose a new or empty folder")
            return "new"
        if overwrite:
            return "new"
        changes = field_changes(self._json("run.json"), json.loads(json.dumps(config)))
        others = [change for change in changes if change[0] != EPOCHS]
        if others:
            shown = "; ".join(f"{path}: {old} -> {new}" for path, old, new in others[:3])
            raise RunError(f"'{self.path}' holds a run of another configuration ({shown}"
                           f"{'; ...' if len(others) > 3 else ''}): only --epochs may change, to extend it; "
                           f"choose another --out, or pass --overwrite to discard that run and start again")
        started = (self.path / "state.json").exists()
        if changes:
            _, recorded, wanted = changes[0]
            if wanted < recorded:
                raise RunError(f"'{self.path}' holds a run of {recorded} epochs ({EPOCHS}: {recorded} -> {wanted}): "
                               f"a run can be extended, not shortened; its best.keras and history.csv hold every "
                               f"epoch so far. Choose another --out, or pass --overwrite to start again")
            if started and not self.state().weights:
                raise RunError(f"'{self.path}' holds a finished run without resume weights (written before "
                               f"archspec kept them), so it cannot be extended to {wanted} epochs: choose "
                               f"another --out, or pass --overwrite to start again")
            return "extend" if started else "new"
        if (self.path / "metrics.json").exists():
            return "finished"
        return "resume" if started else "new"

    def recorded_epochs(self) -> int:
        """The length of the run recorded in ``run.json``."""
        return int(self._json("run.json")["spec"]["train"]["epochs"])

    def start(self, config: dict, fresh: bool) -> None:
        """Create the folder and record the configuration; ``fresh`` first removes a previous run's
        files, and a continued run is unfinished again (an extension)."""
        self.path.mkdir(parents=True, exist_ok=True)
        for name in FILES if fresh else ("metrics.json",):
            (self.path / name).unlink(missing_ok=True)
        if fresh:
            for name in FOLDERS:
                shutil.rmtree(self.path / name, ignore_errors=True)
        self.resume.mkdir(exist_ok=True)
        write_text(self.path / "run.json", json.dumps(config, indent=2) + "\n")

    def record_classes(self, names: tuple[str, ...]) -> None:
        """The name of each output, where the data names its classes (``predict`` and ``evaluate`` print them)."""
        write_text(self.path / "classes.json", json.dumps(list(names)) + "\n")

    def classes(self) -> tuple[str, ...]:
        """The recorded class names; none for data without names, or a run from before they were recorded."""
        return tuple(self._json("classes.json")) if (self.path / "classes.json").is_file() else ()

    def model_file(self) -> Path:
        """The run's model to use: its best epoch's, else its last one's."""
        for path in (self.best, self.last):
            if path.is_file():
                return path
        raise RunError(f"run folder {self.path} holds no model yet (best.keras or last.keras): no epoch has finished")

    def state(self) -> State:
        state = State(**self._json("state.json"))
        if state.weights and not (self.resume / state.weights).is_file():
            raise RunError(f"{self.path / 'state.json'} names resume weights {state.weights} that are missing: "
                           f"pass --overwrite to start the run again")
        return state

    def resume_weights(self, epoch: int) -> Path:
        return self.resume / f"epoch-{epoch:04d}.weights.h5"

    def commit(self, state: State) -> None:
        """Make ``state`` the one a resumed run starts from, then drop older resume weights."""
        write_csv(self.path / "history.csv", state.history)
        draw_curves({self.path.name: state.history}, self.path / CURVES)
        write_text(self.path / "state.json", json.dumps(asdict(state), indent=1) + "\n")
        for stale in self.resume.iterdir():
            if stale.name != state.weights:
                stale.unlink()

    def finish(self, metrics: dict) -> None:
        """Mark the run finished (its last resume weights stay, for an extension)."""
        write_text(self.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    def metrics(self) -> dict:
        return self._json("metrics.json")


def _check_writable(path: Path) -> None:
    """``path`` is, or could be created as, a folder this process can write into."""
    if path.exists() and not path.is_dir():
        raise RunError(f"--out '{path}' is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RunError(f"cannot create --out '{path}': '{existing}' is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunError(f"cannot write to --out '{path}': '{existing}' is not writable")
