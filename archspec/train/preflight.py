"""Checks of a run's inputs that need no TensorFlow, so a bad command fails before anything is
built or written."""

from __future__ import annotations

from pathlib import Path

from ..keras.weights.sources import is_named
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec


def check_transfer(spec: ModelSpec, init_from: str | Path | None, freeze: int, ema: bool = False) -> None:
    """Refuse, before anything trains, a --freeze past the last stage, a --freeze or --ema without
    weights to start from, or weights that are neither a file nor a published tag."""
    if ema and init_from is None:
        raise RunError("--ema starts from a checkpoint's EMA weights, so it needs --weights or --init-from CHECKPOINT")
    if not 0 <= freeze <= len(spec.stages):
        raise RunError(f"cannot freeze up to stage {freeze}: {spec.name} has {len(spec.stages)} stages, so --freeze "
                       f"takes 0 (nothing frozen) to {len(spec.stages)} (the stem and every stage; only the head trains)")
    if freeze and init_from is None:
        raise RunError(f"--freeze {freeze} keeps pre-trained stages fixed, so it needs --weights or --init-from CHECKPOINT: "
                       f"without one the frozen stages would keep their random initial weights")
    if init_from is not None and not Path(init_from).is_file() and not is_named(init_from):
        raise RunError(f"weights '{init_from}': no such file; give a checkpoint (.keras), a weights file (Keras's "
                       f".h5, PyTorch's .pth or a .safetensors file) or a published tag (torchvision:IMAGENET1K_V2, "
                       f"timm:a1_in1k; `archspec zoo show NAME` lists an entry's)")


def fine_tuning(spec: ModelSpec) -> ModelSpec:
    """``spec`` at a tenth of its recipe's learning rate: the usual rate to fine-tune pre-trained
    weights, whose features a fresh classifier's first large steps would otherwise wash out."""
    t = spec.train or TrainSpec()
    return spec.model_copy(update={"train": t.model_copy(update={"lr": t.lr / 10})})
