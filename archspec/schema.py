"""Pydantic models of a network spec: the single source of truth.

This module imports no TensorFlow, so validating a spec, listing the zoo and
exporting the JSON Schema stay fast. Checks that need the whole network (a
feature map shrunk away, an identity shortcut across a shape change) live in
``archspec.plan``, which walks the spec without building anything.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Activation = Literal["relu", "relu6", "swish", "gelu", "elu", "leaky_relu", "tanh", "sigmoid"]
Initializer = Literal[
    "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "truncated_normal"
]
ShortcutPolicy = Literal["identity", "A", "B", "C", "D"]
BlockOrder = Literal["post", "bn_after_add", "relu_before_add", "relu_preact", "preact"]
Padding = Literal["same", "explicit"]

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
Stride = Annotated[int, Field(ge=1, le=4, strict=True)]


class StrictModel(BaseModel):
    """Base of every spec object: unknown fields are errors and objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NormSpec(StrictModel):
    """Batch normalisation settings (Keras semantics: momentum of the moving average)."""

    epsilon: float = Field(1e-5, gt=0, lt=1, description="Added to the variance.")
    momentum: float = Field(0.9, gt=0, lt=1, description="Keras moving-average momentum.")


class Defaults(StrictModel):
    """Settings every layer of the network shares unless a block says otherwise."""

    norm: NormSpec = NormSpec()
    activation: Activation = "relu"
    conv_bias: Union[bool, Literal["unnormalized"]] = Field(
        False,
        description="Bias on convolutions: true on all (keras.applications v1), false on none, "
        "'unnormalized' only on those no norm follows (keras.applications v2).",
    )
    initializer: Initializer = "he_normal"
    l2: float = Field(0.0, ge=0, description="L2 weight decay on conv and dense kernels.")
    padding: Padding = Field(
        "same",
        description="'same': TensorFlow padding; 'explicit': a ZeroPadding2D layer then a valid "
        "convolution (symmetric, as in PyTorch and keras.applications' v2 nets).",
    )
    zero_init_last_norm: bool = Field(
        False, description="Start the last norm of each residual branch at gamma=0 (Goyal et al. 2017)."
    )


class Stem(StrictModel):
    """The layers before the first stage."""

    type: Literal["imagenet", "cifar", "deep", "none"] = Field(
        "imagenet",
        description="imagenet: 7x7/2 conv + 3x3/2 max pool (keras.applications padding); "
        "cifar: one 3x3 conv; deep: three 3x3 convs (ResNet-C) + max pool; none: no stem.",
    )
    width: PositiveInt = 64
    pool: bool = Field(True, description="Max pool after imagenet and deep stems.")
    normalize: bool = Field(
        True, description="Norm and activation after the stem conv (false for pre-activation nets)."
    )


class _StageBase(StrictModel):
    """Fields shared by every stage: how many blocks and where the resolution drops."""

    depth: PositiveInt = Field(description="Number of blocks in the stage.")
    width: PositiveInt = Field(description="Base width (channels) of the blocks.")
    stride: Stride = Field(1, description="Stride of the first block.")


class PlainStage(_StageBase):
    """Convolutions with no shortcut (He et al. 2015 plain nets)."""

    type: Literal["plain"]
    convs: PositiveInt = Field(2, description="3x3 convolutions per block.")


class _ResidualStage(_StageBase):
    shortcut: ShortcutPolicy = Field(
        "B",
        description="identity; A: subsample + zero-pad channels; B: 1x1 projection where the "
        "channels change, 1x1 max-pool subsampling where only the resolution does; C: projection in "
        "every block; D: as B with a 2x2 avg-pool before the projection (ResNet-D).",
    )
    order: BlockOrder = Field(
        "post",
        description="Where norm and activation sit (He et al. 2016, Fig. 4): post (original), "
        "bn_after_add, relu_before_add, relu_preact, preact (full pre-activation).",
    )
    downsample_at: Literal["first", "last"] = Field(
        "first", description="Which block of the stage carries the stride (keras.applications v2: last)."
    )
    widen: float = Field(1.0, gt=0, le=64, description="Width multiplier of the branch (WRN's k).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout between the branch convs (WRN).")
    groups: PositiveInt = Field(1, description="Groups of the 3x3 convs (ResNeXt cardinality).")


class BasicStage(_ResidualStage):
    """Two 3x3 convolutions plus a shortcut (ResNet-18/34, CIFAR ResNets, WRN)."""

    type: Literal["basic"]

    @property
    def inner_width(self) -> int:
        return int(self.width * self.widen)

    @model_validator(mode="after")
    def _groups_divide_width(self) -> "BasicStage":
        if self.inner_width < 1 or self.inner_width % self.groups:
            raise ValueError(
                f"groups {self.groups} must divide the block width {self.inner_width} "
                f"(width {self.width} x widen {self.widen})"
            )
        return self


class BottleneckStage(_ResidualStage):
    """1x1 reduce, 3x3 (optionally grouped), 1x1 expand, plus a shortcut (ResNet-50+, ResNeXt)."""

    type: Literal["bottleneck"]
    base_width: PositiveInt = Field(
        64, description="Width per group: inner width = int(width * widen * base_width / 64) * groups."
    )
    expansion: PositiveInt = Field(4, description="Output channels = width * expansion.")
    stride_on: Literal["1x1", "3x3"] = Field(
        "3x3", description="Which conv carries the stride: 1x1 (He 2015, keras.applications) or 3x3 (torchvision)."
    )

    @property
    def inner_width(self) -> int:
        return int(self.width * self.widen * self.base_width / 64) * self.groups

    @model_validator(mode="after")
    def _inner_width_positive(self) -> "BottleneckStage":
        if self.inner_width < 1:
            raise ValueError(
                f"width {self.width} with widen {self.widen} and base_width {self.base_width} "
                f"leaves no channels in the 3x3 conv; raise width or base_width"
            )
        return self


Stage = Annotated[Union[PlainStage, BasicStage, BottleneckStage], Field(discriminator="type")]
STAGE_TYPES: tuple[str, ...] = ("plain", "basic", "bottleneck")


class Head(StrictModel):
    """Global pooling, optional dropout and the classifier."""

    pooling: Literal["avg", "max"] = "avg"
    dropout: float = Field(0.0, ge=0, lt=1)
    activation: Literal["softmax", "sigmoid", "linear"] = Field(
        "softmax", description="Classifier activation; 'linear' gives logits."
    )


class ModelSpec(StrictModel):
    """A whole network: input, stem, stages, head and shared defaults."""

    name: str = Field("model", pattern=r"^[A-Za-z0-9_.\-]+$", max_length=100)
    family: str = Field("custom", description="Zoo family (resnet, resnext, wide, ...).")
    description: str = ""
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (224, 224, 3), description="Height, width, channels of one image."
    )
    num_classes: PositiveInt = 1000
    defaults: Defaults = Defaults()
    stem: Stem = Stem()
    stages: list[Stage] = Field(min_length=1, max_length=64)
    head: Head = Head()


def json_schema() -> dict:
    """The JSON Schema editors use to autocomplete specs (the `extends` key is the loader's)."""
    schema = ModelSpec.model_json_schema()
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "A zoo name or a relative .yaml path whose fields this spec overrides.",
    }
    schema["title"] = "archspec network spec"
    return schema
