"""A training run's folder: what it trains, which epochs are done, and its results.

``run.json`` (the spec it trains, with its ``train:`` recipe) is written when the run
starts; ``state.json`` commits each finished epoch (its history row, the best epoch and
the resume weights) and is renamed into place last, so whatever interrupts a run, the
folder names a consistent epoch to resume from. ``history.csv`` is rewritten from the
committed history, ``metrics.json`` marks a finished run. No TensorFlow here.
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

FILES = ("run.json", "state.json", "history.csv", "metrics.json", "last.keras", "best.keras")
FOLDERS = ("resume", "tensorboard")
Status = Literal["new", "resume", "finished"]


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
        """What a run of ``config`` here would do, refusing anything that would clobber other work.

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
        if changes:
            shown = "; ".join(f"{path}: {old} -> {new}" for path, old, new in changes[:3])
            raise RunError(f"'{self.path}' holds a run of another configuration ({shown}"
                           f"{'; ...' if len(changes) > 3 else ''}): choose another --out, or pass "
                           f"--overwrite to discard that run and start again")
        if (self.path / "metrics.json").exists():
            return "finished"
        return "resume" if (self.path / "state.json").exists() else "new"

    def start(self, config: dict, fresh: bool) -> None:
        """Create the folder and record the configuration; ``fresh`` first removes a previous run's files."""
        self.path.mkdir(parents=True, exist_ok=True)
        if fresh:
            for name in FILES:
                (self.path / name).unlink(missing_ok=True)
            for name in FOLDERS:
                shutil.rmtree(self.path / name, ignore_errors=True)
        self.resume.mkdir(exist_ok=True)
        write_text(self.path / "run.json", json.dumps(config, indent=2) + "\n")

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
        write_text(self.path / "state.json", json.dumps(asdict(state), indent=1) + "\n")
        for stale in self.resume.iterdir():
            if stale.name != state.weights:
                stale.unlink()

    def finish(self, metrics: dict, state: State) -> None:
        """Mark the run finished, then drop its resume weights (a finished run does not resume)."""
        write_text(self.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        state.weights = None
        self.commit(state)
        shutil.rmtree(self.resume)

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
