"""Checks of a run's inputs that need no TensorFlow, so a bad command fails before anything is
built or written."""

from __future__ import annotations

from pathlib import Path

from ..spec.errors import RunError
from ..spec.schema import ModelSpec


def check_transfer(spec: ModelSpec, init_from: Path | None, freeze: int) -> None:
    """Refuse, before anything trains, a --freeze past the last stage or an --init-from file that is missing."""
    if not 0 <= freeze <= len(spec.stages):
        raise RunError(f"cannot freeze up to stage {freeze}: {spec.name} has {len(spec.stages)} stages, so --freeze "
                       f"takes 0 (nothing frozen) to {len(spec.stages)} (the stem and every stage; only the head trains)")
    if init_from is not None and not init_from.is_file():
        raise RunError(f"--init-from '{init_from}' does not exist: give a checkpoint (.keras) or a weights file (.h5)")
