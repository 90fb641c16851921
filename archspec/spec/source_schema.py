"""The ``source:`` section of a spec: which library's model an entry is, and its published weights.

Data, not code: the library and model name, and per weight file its tag, where it is published,
the hash the source publishes for it, its published ImageNet top-1 and the evaluation transform it
was measured with (``archspec evaluate`` uses it). ``scripts/torch_reference.py sources`` writes
these sections from torchvision's and timm's own metadata.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .strict import StrictModel

Library = Literal["torchvision", "timm", "keras.applications", "paper"]


class _Record(StrictModel):
    """Strict as every spec object is."""


class EvalTransform(_Record):
    """Resize the shorter side to ``resize``, crop the centre ``crop`` x ``crop``."""

    resize: int = Field(gt=0, le=4096)
    crop: int = Field(gt=0, le=4096)
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"


class WeightFile(_Record):
    """One published weight file of the source model."""

    name: str = Field(max_length=100, description="The source's tag: IMAGENET1K_V1, a1_in1k, imagenet.")
    url: str = Field(max_length=500, description="Download URL, or hf://timm/NAME for the Hugging Face hub.")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{8,64}$",
                               description="The file's SHA-256, or the prefix the source publishes (torchvision).")
    md5: str | None = Field(None, pattern=r"^[0-9a-f]{32}$", description="keras.applications publishes MD5s.")
    top1: float | None = Field(None, ge=0, le=100, description="Published ImageNet-1k top-1 accuracy, %.")
    eval: EvalTransform | None = None


class Source(_Record):
    """The library model a zoo entry is, with its weight files (the first is the default)."""

    library: Library
    model: str = Field(max_length=100, description="The library's model name (resnet50, seresnet50, ResNet50).")
    weights: list[WeightFile] = Field([], max_length=20)
