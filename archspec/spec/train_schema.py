"""The ``train:`` section of a spec: how to train the network, He et al. 2015's recipe by default.

CIFAR-10 in the paper: SGD with momentum 0.9, weight decay 1e-4, batch 128, learning
rate 0.1 divided by 10 at 32k and 48k of 64k iterations (half and three quarters of the
run), 4-pixel pad-and-crop and horizontal flips. No TensorFlow here: the section is
validated, located and schema-exported like the rest of a spec.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .strict import StrictModel

Schedule = Literal["step", "cosine", "plateau", "constant"]
Augment = Literal["auto", "pad_crop", "resized_crop", "scale", "none"]


class TrainSpec(StrictModel):
    """Data, optimiser, learning-rate schedule, regularisation and augmentation of a run."""

    data: str = Field(
        "digits", max_length=4096,
        description="digits (scikit-learn's 8x8 digits), cifar10 and cifar100 (keras.datasets' archives, test "
        "images as validation), folder:PATH (a subfolder per class, or train/ and val/ holding them), npz:PATH "
        "(arrays x and y; optional x_val and y_val are a fixed validation set, then validation_split is not "
        "used), tfrecord:GLOB[,VAL_GLOB] (TFRecord shards of image/encoded and image/class/label), "
        "tfds:NAME[:SPLIT[,VAL_SPLIT]] (a prepared TensorFlow Datasets builder, e.g. tfds:cifar10 or "
        "tfds:imagenette/320px-v2:train[:90%]; the archspec[tfds] extra), synthetic "
        "or synthetic:N (random images, for throughput).",
    )
    validation_split: float = Field(
        0.1, gt=0, lt=1, description="Fraction of the data held out (not used with an npz file's x_val, y_val)."
    )
    epochs: int = Field(
        30, gt=0, le=100_000, strict=True,
        description="Passes over the training split (the paper's 64k iterations are 182 CIFAR epochs).",
    )
    batch_size: int = Field(128, gt=0, le=2**20, strict=True, description="Global batch, summed over replicas.")
    lr: float = Field(0.1, gt=0, le=10, description="Initial (peak, after warm-up) learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(
        1e-4, ge=0, lt=1, description="Decoupled weight decay of keras.optimizers.SGD, on every weight."
    )
    schedule: Schedule = Field(
        "step",
        description="step: lr x gamma at each milestone; cosine: cosine decay to 0; plateau: lr x gamma "
        "after `patience` epochs without a lower val_loss; constant.",
    )
    milestones: list[float] = Field(
        [0.5, 0.75], max_length=16,
        description="Step schedule: where the lr drops, as fractions of the epochs (the paper: 32k and 48k "
        "of 64k iterations).",
    )
    gamma: float = Field(0.1, gt=0, lt=1, description="Factor of each step or plateau drop.")
    patience: int = Field(5, gt=0, strict=True, description="Plateau schedule: epochs to wait.")
    warmup_epochs: int = Field(
        0, ge=0, strict=True,
        description="Linear warm-up to lr over this many epochs (the paper warms ResNet-110 up at 0.01).",
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    augment: Augment = Field(
        "auto",
        description="pad_crop: zero-pad and crop back (small images); resized_crop: random area 8-100% and "
        "aspect 3/4-4/3, resized (large images); scale: the shorter side resized to a random 256-480 (at 224; "
        "He et al. 2015), then a random crop; auto: pad_crop up to 64 pixels, resized_crop above; none.",
    )
    pad: int | None = Field(
        None, ge=1, le=256, strict=True, description="pad_crop padding in pixels; null: input size / 8 (4 at 32)."
    )
    flip: bool | None = Field(
        None, description="Random horizontal flips; null: on, except for digits (a mirrored digit is no digit)."
    )
    seed: int = Field(
        0, ge=0, lt=2**32, strict=True, description="Seeds weights, split, shuffling and augmentation."
    )

    @model_validator(mode="after")
    def _schedule_fits_the_run(self) -> "TrainSpec":
        if any(not 0 < m < 1 for m in self.milestones) or self.milestones != sorted(set(self.milestones)):
            raise ValueError(
                f"milestones {self.milestones} must be increasing fractions of the run between 0 and 1 "
                f"(the paper's [0.5, 0.75])"
            )
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs {self.warmup_epochs} leaves no epoch at the full lr in a {self.epochs}-epoch "
                f"run; use fewer warm-up epochs or more epochs"
            )
        return self
