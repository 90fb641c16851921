"""`archspec reproduce finetune`: transfer learning to new classes from a few images each.

The zoo's cifar_resnet20, fitted to the data, is pre-trained on the first half of the classes
(digits 0-4) with the degradation experiment's recipe (the paper's: lr 0.1, batch 64, 2 warm-up
epochs). The other half (digits 5-9, relabelled 0-4) is the new task: for each shot count s the
net trains on s images per class in three ways:

- fine-tune: every layer from the pre-trained checkpoint but a fresh classifier, all trainable,
  at lr 0.01, a tenth of the paper's (the usual choice for fine-tuning: the large first steps a
  random classifier drives would otherwise wash out the pre-trained features);
- frozen: the pre-trained stem and stages fixed (their batch norms in inference mode), only a
  fresh classifier trains, at the paper's lr 0.1: there are no trained weights to preserve
  (lr 0.01 and 0.03 were measured no better);
- scratch: the same net from random weights, at the paper's lr 0.1.

Shot sets are class-balanced and nested (a class's 5 images are among its 10, ...), drawn with
the seed; every run is evaluated on the same held-out images, those of the new classes outside
the largest shot set. The error reported is the final epoch's, never the best epoch's (which
would be chosen on the very images it is measured on).

Every few-shot run makes the same number of SGD steps (``STEPS``) at one batch size (``BATCH``,
or the smallest training set when that is smaller): epochs = STEPS / (images // batch), so 5
shots of 5 classes train 60 epochs of 1 step (the whole set) and 50 shots 6 epochs of 10. The
batch of 25 keeps lr 0.1 stable from scratch (at batch 10 a 20-shot run from scratch ended at
59.9% held-out error, at batch 25 at 7.1%), and the step count keeps the default run near 5
minutes on 2 CPU cores: each epoch also evaluates the held-out images and writes checkpoints,
which costs more than a step. The runs skip the warm-up (the paper warms up only its 110-layer
net), so the lr drops at the same step in each. Every run is an ordinary, resumable `archspec
train` run in its own folder of ``out``, reading an npz file (x, y and the fixed validation set
x_val, y_val) that the experiment writes to ``out/data``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..graph.load import load_spec
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..train.data import open_data
from ..utils.atomic import replacing, write_csv
from ..utils.figures import pyplot, save_figure
from . import fitted
from .compare import recipe

NET = "cifar_resnet20"
EPOCHS = 20  # of pre-training (digits 0-4: 811 training images, 12 steps an epoch at batch 64)
SHOTS = (5, 10, 20, 50)
STEPS = 60  # SGD steps of every few-shot run
BATCH = 25
METHODS = ("fine-tune", "frozen", "scratch")
LR = {"fine-tune": 0.01, "frozen": 0.1, "scratch": 0.1}
TINY_SHOTS, TINY_STEPS, TINY_EPOCHS = (5, 10), 2, 1  # --tiny: and one block per stage, an 8-layer net

Arrays = tuple[np.ndarray, np.ndarray]  # images, labels


@dataclass(frozen=True)
class Task:
    """The experiment's images: the pre-training classes, and the new classes' shot sets and held-out rest."""

    pretrain: Arrays
    shots: dict[int, Arrays]  # labels relabelled from 0
    held_out: Arrays
    classes: int  # of the source; the first half pre-trains, the second half is new
    mirror_safe: bool


def parse_shots(text: str) -> tuple[int, ...]:
    """``--shots 5,10,20``: whole numbers of training images per new class, 1 or more (sorted, once each)."""
    try:
        shots = sorted({int(s) for s in text.split(",")})
    except ValueError:
        shots = []
    if not shots or shots[0] < 1:
        raise RunError(f"--shots '{text}' must be whole numbers of training images per new class, 1 or more, "
                       f"separated by commas (e.g. 5,10,20,50)")
    return tuple(shots)


def task(source: str, shots: tuple[int, ...], seed: int) -> Task:
    """Split ``source``'s classes into halves and draw the new half's shot sets with ``seed``; refuse shot
    counts that would leave a new class no held-out image."""
    data = open_data(source, validation_split=0.5, seed=seed, synthetic_classes=10)  # both sides are joined
    if data.train.images is None or data.val.images is None:
        raise RunError(f"reproduce finetune needs images in memory (digits or npz:PATH), not data {source}")
    images = np.concatenate([data.train.images, data.val.images])
    labels = np.concatenate([data.train.labels, data.val.labels])
    half = data.num_classes // 2
    if half < 2:
        raise RunError(f"reproduce finetune needs at least 4 classes (2 to pre-train on, 2 new); data {source} "
                       f"has {data.num_classes}")
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(half, data.num_classes)]
    scarcest = min(range(len(pools)), key=lambda i: len(pools[i]))
    if shots[-1] >= len(pools[scarcest]):
        raise RunError(f"--shots {shots[-1]} is too many: class {half + scarcest} of data {source} has "
                       f"{len(pools[scarcest])} images and each new class keeps at least one held out for "
                       f"evaluation, so shots can be at most {len(pools[scarcest]) - 1}")

    def subset(index: np.ndarray) -> Arrays:
        return images[index], labels[index] - half

    old = labels < half
    return Task(pretrain=(images[old], labels[old]),
                shots={s: subset(np.concatenate([p[:s] for p in pools])) for s in shots},
                held_out=subset(np.concatenate([p[shots[-1]:] for p in pools])),
                classes=data.num_classes, mirror_safe=data.mirror_safe)


def save_arrays(folder: Path, name: str, **arrays: np.ndarray) -> str:
    """Write ``arrays`` atomically to folder/NAME-DIGEST.npz and return it as a data source. The digest
    of the contents names the file, so a run's recorded data (run.json) changes with its images: a
    rerun with other data or seed never resumes a run trained on different images."""
    digest = hashlib.sha256()
    for key, array in sorted(arrays.items()):
        digest.update(f"{key} {array.dtype} {array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    path = folder / f"{name}-{digest.hexdigest()[:12]}.npz"
    folder.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return f"npz:{path}"


def epochs_for(images: int, batch: int, steps: int) -> int:
    """Epochs that make about ``steps`` SGD steps; an epoch is images // batch steps (the trainer drops the
    remainder)."""
    return max(1, round(steps / (images // batch)))


def _spec(t: TrainSpec, name: str, tiny: bool, input_size: int | None) -> ModelSpec:
    """The net fitted to ``t``'s data; ``tiny`` keeps one block per stage."""
    data = open_data(t.data, validation_split=t.validation_split, seed=t.seed, synthetic_classes=10)
    fields: dict[str, Any] = {"name": name, "train": t.model_dump()}
    if tiny:
        fields["stages"] = [{**s, "depth": 1} for s in load_spec(NET).model_dump()["stages"]]
    return fitted(NET, data, input_size, **fields)


def run(out: Path, source: str = "digits", shots: tuple[int, ...] | None = None, *, seed: int = 0,
        tiny: bool = False, input_size: int | None = None, verbose: int | None = None,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Pre-train, then train every shot count every way under ``out``; write finetune.csv and finetune.png
    there and return their rows (held-out error in % of each run's last epoch)."""
    from ..train.trainer import RunOptions, train

    shots = shots or (TINY_SHOTS if tiny else SHOTS)
    steps = TINY_STEPS if tiny else STEPS
    images = task(source, shots, seed)  # every input check, before anything is written
    half, folder = images.classes // 2, out / "data"
    pre = recipe(save_arrays(folder, "pretrain", x=images.pretrain[0], y=images.pretrain[1]),
                 TINY_EPOCHS if tiny else EPOCHS, seed).model_copy(update={"flip": images.mirror_safe})
    spec = _spec(pre, "pretrain", tiny, input_size)
    total = 1 + len(shots) * len(METHODS)
    log(f"[1/{total}] pre-training {NET} on classes 0-{half - 1}")
    metrics = train(spec, RunOptions(out=out / spec.name, verbose=verbose, log=log))
    log(f"pre-trained: validation error {100 * (1 - metrics['val_accuracy']):.2f}% on classes 0-{half - 1}")
    checkpoint = out / spec.name / "last.keras"
    batch = min(BATCH, min(len(y) for _, y in images.shots.values()))
    rows: list[dict[str, Any]] = []
    for s, (x, y) in images.shots.items():
        data = save_arrays(folder, f"shots{s}", x=x, y=y, x_val=images.held_out[0], y_val=images.held_out[1])
        epochs = epochs_for(len(y), batch, steps)
        for method in METHODS:
            t = TrainSpec(data=data, epochs=epochs, batch_size=batch, lr=LR[method], seed=seed,
                          flip=images.mirror_safe)
            spec = _spec(t, f"shots{s}_{method}", tiny, input_size)
            log(f"[{len(rows) + 2}/{total}] {s} shots, {method}: {epochs} epochs of {len(y) // batch} steps")
            metrics = train(spec, RunOptions(out=out / spec.name, verbose=verbose, log=log,
                                             init_from=None if method == "scratch" else checkpoint,
                                             freeze=len(spec.stages) if method == "frozen" else 0))
            rows.append({"shots": s, "method": method, "val_error": round(100 * (1 - metrics["val_accuracy"]), 2),
                         "epochs": metrics["epochs"], "steps": metrics["epochs"] * (len(y) // batch),
                         "seconds": metrics["seconds"]})
    write_csv(out / "finetune.csv", rows)
    plot(rows, out / "finetune.png", f"{NET if not tiny else 'an 8-layer ResNet'} pre-trained on classes "
         f"0-{half - 1} ({source}), then {half}-{images.classes - 1} with {steps} SGD steps at batch {batch}; "
         f"error on the same {len(images.held_out[1])} held-out images")
    return rows


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Held-out error against training images per class (log scale), one line per method."""
    plt = pyplot()
    from matplotlib.ticker import NullLocator

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        ax.plot([r["shots"] for r in mine], [r["val_error"] for r in mine], "o-", linewidth=2, label=method)
    shots = sorted({r["shots"] for r in rows})
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(shots, [str(s) for s in shots])
    ax.set_xlabel("training images per new class")
    ax.set_ylabel("held-out error (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=8, wrap=True)
    fig.tight_layout()
    save_figure(fig, path)
