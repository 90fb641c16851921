"""The learning rate of each epoch, as a pure function of the recipe and the run's history.

Being a function of the committed history (not of a callback's private counters), the
rate of a resumed run is exactly the rate the uninterrupted run would have used, the
plateau schedule included: it replays the validation losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..spec.train_schema import TrainSpec


def learning_rate(t: TrainSpec, epoch: int, val_losses: Sequence[float] = ()) -> float:
    """The rate for 0-based ``epoch``; ``val_losses`` are those of the epochs before it."""
    if epoch < t.warmup_epochs:
        return t.lr * (epoch + 1) / (t.warmup_epochs + 1)
    if t.schedule == "step":  # no drop before the first epoch: a 1-epoch run trains at lr, not lr * gamma
        return t.lr * t.gamma ** sum(epoch >= max(1, round(m * t.epochs)) for m in t.milestones)
    if t.schedule == "cosine":
        progress = (epoch - t.warmup_epochs) / (t.epochs - t.warmup_epochs)
        return t.lr * 0.5 * (1 + math.cos(math.pi * progress))
    if t.schedule == "plateau":
        return t.lr * t.gamma ** plateau_drops(val_losses[:epoch], t.patience)
    return t.lr


def plateau_drops(val_losses: Sequence[float], patience: int) -> int:
    """How often the rate dropped: after each ``patience`` epochs with no new lowest loss
    (keras.callbacks.ReduceLROnPlateau's rule, cooldown 0)."""
    best, wait, drops = math.inf, 0, 0
    for loss in val_losses:
        if loss < best:
            best, wait = loss, 0
            continue
        wait += 1
        if wait >= patience:
            drops, wait = drops + 1, 0
    return drops
