"""Pydantic models of a network spec: the single source of truth.

This module imports no TensorFlow, so validating a spec, listing the zoo and
exporting the JSON Schema stay fast. Checks that need the whole network (a
feature map shrunk away, an identity shortcut across a shape change) live in
``archspec.graph.plan``, which walks the spec without building anything.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, model_serializer, model_validator

from .design_space import RegNet
from .source_schema import Source
from .strict import StrictModel
from .train_schema import TrainSpec

Activation = Literal["relu", "relu6", "swish", "gelu", "elu", "leaky_relu", "tanh", "sigmoid"]
Initializer = Literal[
    "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "truncated_normal"
]
ShortcutPolicy = Literal["identity", "A", "B", "C", "D", "projection", "projection_D", "identity_or_none", "highway"]
BlockOrder = Literal["post", "post_linear", "bn_after_add", "relu_before_add", "relu_preact", "preact"]
Padding = Literal["same", "explicit", "symmetric"]

MAX_INT = 2**31 - 1  # no width or depth comes near; keeps every derived width finite in float arithmetic
PositiveInt = Annotated[int, Field(gt=0, le=MAX_INT, strict=True)]
Stride = Annotated[int, Field(ge=1, le=4, strict=True)]


NormType = Literal["batch", "group", "frn", "evonorm_b0", "evonorm_s0"]
GROUPED_NORMS = ("group", "evonorm_s0")  # the norms that take groups or group_size
NORM_FIELD_TYPES = {"momentum": ("batch", "evonorm_b0"), "groups": GROUPED_NORMS, "group_size": GROUPED_NORMS}  # field: its types
SELF_ACTIVATED_NORMS = ("frn", "evonorm_b0", "evonorm_s0")  # their own nonlinearity takes the place of the activation after them


class NormSpec(StrictModel):
    """The network's normalisation: batch norm (Keras semantics: momentum of the moving average) or one that
    keeps no statistics, as timm's ``norm_layer`` picks it."""

    type: NormType = Field(
        "batch", description="batch: batch norm; group: group norm (Wu and He 2018); frn: filter response norm "
        "with its thresholded linear unit, TLU, in place of the activation after it (Singh and Krishnan 2020); "
        "evonorm_b0: EvoNorm-B0, x / max(sqrt(batch variance + eps), v x + instance std), its variance a moving "
        "average as batch norm's (timm's eps: 1e-3); evonorm_s0: EvoNorm-S0, whose x * sigmoid(v x) / group std "
        "takes the activation's place (Liu et al. 2020). Each as timm computes it.")
    epsilon: float = Field(1e-5, gt=0, lt=1, description="Added to the variance (frn: to the mean square).")
    momentum: float = Field(0.9, gt=0, lt=1, description="batch, evonorm_b0: Keras moving-average momentum.")
    groups: PositiveInt = Field(32, description="group, evonorm_s0: channel groups (timm's default 32).")
    group_size: PositiveInt | None = Field(
        None, description="group, evonorm_s0: channels per group instead of a number of groups (regnety_040_sgn: "
        "16).")

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> "NormSpec":
        for key, types in NORM_FIELD_TYPES.items():  # a field at its default is as good as absent
            if getattr(self, key) != type(self).model_fields[key].default and self.type not in types:
                raise ValueError(f"a {self.type} norm takes no {key} ({' and '.join(types)} norms do)")
        return self

    @model_serializer(mode="wrap")
    def _only_the_types_fields(self, handler: Any) -> dict[str, Any]:
        """Written out (``validate --resolved``), a norm shows the fields its type takes."""
        return {key: value for key, value in handler(self).items() if self.type in NORM_FIELD_TYPES.get(key, (self.type,))}

    def groups_of(self, channels: int) -> int:
        """The groups a map of ``channels`` is normalised in."""
        return channels // self.group_size if self.group_size else self.groups


class WeightStandardization(StrictModel):
    """Convolutions whose kernels are standardised per output filter before each use (Qiao et al. 2019)."""

    epsilon: float = Field(1e-6, gt=0, lt=1, description="Added to each filter's variance (timm's StdConv2d: "
                           "1e-6; BiT: 1e-8).")


class Defaults(StrictModel):
    """Settings every layer of the network shares unless a block says otherwise."""

    norm: NormSpec = NormSpec()
    weight_standardization: WeightStandardization | None = Field(
        None, description="Standardise every convolution's kernel but the gates' and the head's (BiT's StdConv: "
        "{epsilon: 1.0e-8}); null: plain convolutions.")
    activation: Activation = "relu"
    anti_alias: Literal["blur", "avg"] | None = Field(
        None, description="Anti-aliased downsampling (Zhang 2019), as timm's aa_layer: a block's strided 3x3 conv "
        "computes at stride 1 and its activated output is then blurred by a 3x3 binomial filter at stride 2 (blur: "
        "reflect-padded, timm's BlurPool2d) or average-pooled 2x2 (avg); the stem's max pool runs at stride 1 before "
        "the blur, or gives way to the 2x2 average pool. null: strided convs and pools.")
    conv_bias: Union[bool, Literal["unnormalized"]] = Field(
        False,
        description="Bias on convolutions: true on all (keras.applications v1), false on none, "
        "'unnormalized' only on those no norm follows (keras.applications v2).",
    )
    initializer: Initializer = "he_normal"
    l2: float = Field(0.0, ge=0, description="L2 weight decay on conv and dense kernels.")
    padding: Padding = Field(
        "same",
        description="'same': TensorFlow padding, which pads a strided conv on the bottom and right only; "
        "'explicit': a ZeroPadding2D layer before every conv larger than 1x1, then a valid convolution "
        "(keras.applications' v2 nets, layer for layer); 'symmetric': PyTorch's kernel // 2 on every side "
        "(torchvision, timm), with a ZeroPadding2D layer only before strided convs, where 'same' would differ.",
    )
    zero_init_last_norm: bool = Field(
        False, description="Start the last norm of each residual branch at gamma=0 (Goyal et al. 2017)."
    )
    drop_path: float = Field(
        0.0, ge=0, lt=1,
        description="Stochastic depth (Huang et al. 2016): the drop probability p_L of the last residual "
        "block; block l of the network's L drops its branch with probability l / L * p_L while training "
        "(kept branches are scaled by 1 / (1 - p)); 0: off.",
    )


class Stem(StrictModel):
    """The layers before the first stage."""

    type: Literal["imagenet", "cifar", "deep", "none"] = Field(
        "imagenet",
        description="imagenet: 7x7/2 conv + 3x3/2 max pool (keras.applications padding); "
        "cifar: one 3x3 conv; deep: three 3x3 convs (ResNet-C) + max pool; none: no stem.",
    )
    width: PositiveInt = 64
    widths: tuple[PositiveInt, PositiveInt] | None = Field(
        None, strict=False,  # a YAML list is fine
        description="deep stem only: the widths of its first two convs (default: half the width each; "
        "timm's tiered stem of the '...t' nets: [24, 32]).",
    )
    kernel: Literal[3, 5, 7] = Field(7, description="Kernel of the imagenet stem's strided conv (DPN-68: 3).")
    pool: Union[bool, Literal["conv", "stride"]] = Field(
        True, description="After imagenet and deep stems: true, a 3x3/2 max pool; conv, a 3x3/2 conv-BN-act of the "
        "stem's width in its place (ResNet-RS); stride, none, the deep stem's last conv striding 2 instead (timm's "
        "ByobNet stems without a pool, gcresnet50t); false, nothing.")
    normalize: bool = Field(
        True, description="Norm and activation after the stem conv (false for pre-activation nets)."
    )
    pool_padding: Literal["zero", "lowest"] | None = Field(
        None, description="What the max pool's border is padded with: zero, or lowest (PyTorch's -inf, which the "
        "pool never picks); default: lowest under symmetric padding, else zero. BiT pads its un-normalised stem with "
        "zeros (timm's 'fixed' stem).")

    @model_validator(mode="after")
    def _widths_only_on_deep(self) -> "Stem":
        if self.widths is not None and self.type != "deep":
            raise ValueError(f"widths sets the first two convs of a deep stem; a {self.type!r} stem has none")
        if self.pool == "stride" and self.type != "deep":
            raise ValueError(f"pool stride makes a deep stem's last conv stride; a {self.type!r} stem has none: use "
                             f"pool true, conv or false")
        return self


def make_divisible(value: float, divisor: int, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """timm's channel rounding: ``value`` to the nearest multiple of ``divisor`` (halves up), at least
    ``min_value`` (default ``divisor``), one multiple more where that lost over ``1 - round_limit`` of it."""
    rounded = max(min_value or divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


class _TypedModule(StrictModel):
    """A module picked by ``type`` whose other fields apply to some types only: the type's defaults are
    filled in as it is read (so a printed spec shows the module exactly), and a field it lacks is refused."""

    FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {}  # type -> the fields beyond type (and `at`) it takes
    DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}  # type -> its defaults (timm's)

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_the_type(cls, data: object) -> object:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str) or data["type"] not in cls.FIELDS:
            return data  # the field validation says what is wrong
        kind, data = data["type"], dict(data)
        wrong = [key for key, field in cls.model_fields.items()  # a field at its default is as good as absent
                 if key not in ("type", "at", *cls.FIELDS[kind]) and data.get(key, field.default) != field.default]
        if wrong:
            takes = ", ".join(cls.FIELDS[kind]) or "no other fields"
            raise ValueError(f"{cls.__name__.lower()} {kind} takes no {wrong[0]} (it takes {takes})")
        for key, value in cls.DEFAULTS.get(kind, {}).items():
            if data.get(key) is None:  # absent or null: the type's default
                data[key] = value
        return data


class Attention(_TypedModule):
    """A channel or spatial attention module on a residual branch (timm's ``attn_layer``), as data.

    se: squeeze-excitation (Hu et al. 2018): global average pool, 1x1 conv down, ReLU, 1x1 conv up, sigmoid,
    scale. ese: effective SE (Lee & Park 2020): one 1x1 conv, hard sigmoid. eca: efficient channel attention
    (Wang et al. 2020): a 1D conv of `kernel` taps across the pooled channels, sigmoid. cbam (Woo et al. 2018):
    SE's MLP shared by the average and max pools, summed, sigmoid; then a 7x7 conv-BN over the channels' mean
    and max, sigmoid. gc / gca: global context (Cao et al. 2019): softmax attention pooling, then a 1x1 conv,
    LayerNorm, ReLU, 1x1 conv that scales (gc, sigmoid) or is added to (gca) every position.
    """

    FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "se": ("ratio", "ratio_of", "divisor", "bias"), "ese": (), "eca": ("kernel", "gamma", "beta"),
        "cbam": ("ratio", "ratio_of", "divisor", "kernel", "bias"), "gc": ("ratio", "ratio_of", "divisor"),
        "gca": ("ratio", "ratio_of", "divisor"),
    }
    DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {
        "se": {"ratio": 1 / 16, "divisor": 8, "bias": True},
        "cbam": {"ratio": 1 / 16, "divisor": 1, "bias": False, "kernel": 7},
        "gc": {"ratio": 1 / 8, "divisor": 1}, "gca": {"ratio": 1 / 8, "divisor": 1},
    }

    type: Literal["se", "ese", "eca", "cbam", "gc", "gca"]
    at: Literal["end", "after_3x3"] = Field(
        "end", description="end: on the branch's output, before the merge (SENet, timm's ResNets); after_3x3: "
        "on a bottleneck's 3x3 output (RegNetY).")
    ratio: float | None = Field(
        None, gt=0, le=64, description="se, cbam, gc, gca: hidden width = channels x ratio (default se, cbam 1/16; "
        "gc, gca 1/8), rounded to the nearest multiple of `divisor`, at least `divisor`.")
    ratio_of: Literal["channels", "input"] = Field(
        "channels", description="The channels `ratio` is of: those the module gates, or the block's input (RegNetY, "
        "whose width pycls and timm round as Python's round does, a half to the even multiple of `divisor`).")
    divisor: PositiveInt | None = Field(None, description="se, cbam, gc, gca: hidden width multiple (se 8, others 1).")
    kernel: int | None = Field(
        None, ge=1, le=15, description="eca: taps of the 1D conv (null: ECA's rule from the channels C, "
        "the odd number nearest |log2(C) + beta| / gamma, at least 3); cbam: the spatial conv (default 7).")
    gamma: float = Field(2.0, gt=0, description="eca: gamma of the kernel rule.")
    beta: float = Field(1.0, description="eca: beta of the kernel rule.")
    bias: bool | None = Field(
        None, description="se, cbam: biases on the MLP's 1x1 convs (default se true, cbam false as timm; the CBAM "
        "paper's code has them).")

    @model_validator(mode="after")
    def _odd_kernel(self) -> "Attention":
        if self.kernel is not None and self.kernel % 2 == 0:
            raise ValueError(f"kernel {self.kernel} has no centre tap; use an odd kernel")
        return self

    def hidden(self, channels: int, block_input: int) -> int:
        """The squeezed width: timm's ``make_divisible(c * ratio, divisor, round_limit=0)``; of the block's input,
        RegNetY's ``int(round(w_in * se_ratio))`` (pycls's and timm's: regnety_2560's 186.5 is 186)."""
        assert self.ratio is not None and self.divisor is not None  # filled in for every squeezing type
        if self.ratio_of == "input":
            return max(self.divisor, round(block_input * self.ratio / self.divisor) * self.divisor)
        return make_divisible(channels * self.ratio, self.divisor, round_limit=0.0)

    def eca_kernel(self, channels: int) -> int:
        """ECA's adaptive kernel size (Wang et al. 2020, eq. 12), or the fixed ``kernel``."""
        if self.kernel is not None:
            return self.kernel
        t = int(abs(math.log(channels, 2) + self.beta) / self.gamma)  # math.log(c, 2), as timm rounds it
        return max(t if t % 2 else t + 1, 3)


class Spatial(_TypedModule):
    """A module in place of a residual block's 3x3 conv (a bottleneck's middle one, a basic block's first).

    res2net (Gao et al. 2019): the 1x1 conv widens `scale` times; its output is split into `scale` groups, each
    but the last passing a 3x3 conv-BN-ReLU after the previous one's output is added (on a block that changes
    shape, each split its own conv, the last average-pooled), concatenated. sk: selective kernel (Li et al.
    2019): `paths` 3x3 conv-BN-ReLUs dilated 1, 2, ... (on halves of the input with `split_input`), fused by a
    softmax over the paths per channel, computed from their pooled sum. splat: split attention (ResNeSt, Zhang
    et al. 2020): one grouped conv makes `radix` splits, fused by a softmax over them; with `avd` a strided block
    average-pools after it instead of striding the conv. bot: multi-head self-attention over every position
    with relative position logits (BoTNet, Srinivas et al. 2021): a 1x1 conv makes queries, keys and values,
    a strided block average-pools after, then BN-ReLU; the map size is fixed by the position tables. halo
    (HaloNet, Vaswani et al. 2021): the same within blocks of `block_size`, each attending to its block widened
    by `halo_size` on every side (a strided block strides its queries). lambda (LambdaNetworks, Bello 2021): each
    position's query meets a content lambda (softmax-normalised keys times values) and a position lambda (a
    `context` x `context` conv over the values).
    """

    def applies_to(self, block: int) -> bool:
        """Whether block ``block`` (from 1) of the stage has the module."""
        return self.blocks is None or block in self.blocks

    FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "res2net": ("scale", "blocks"), "sk": ("paths", "split_input", "ratio", "divisor", "blocks"),
        "splat": ("radix", "ratio", "divisor", "min_width", "avd", "blocks"), "bot": ("heads", "ratio", "blocks"),
        "halo": ("heads", "ratio", "block_size", "halo_size", "blocks"),
        "lambda": ("heads", "key_dim", "context", "blocks"),
    }
    DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {
        "res2net": {"scale": 4}, "sk": {"paths": 2, "split_input": True, "ratio": 1 / 16, "divisor": 8},
        "splat": {"radix": 2, "ratio": 0.25, "divisor": 8, "min_width": 32, "avd": True},
        "bot": {"heads": 4, "ratio": 1.0}, "halo": {"heads": 8, "ratio": 1.0, "block_size": 8, "halo_size": 3},
        "lambda": {"heads": 4, "key_dim": 16, "context": 9},
    }

    type: Literal["res2net", "sk", "splat", "bot", "halo", "lambda"]
    blocks: list[Annotated[int, Field(ge=1, le=MAX_INT, strict=True)]] | None = Field(
        None, max_length=64, description="The blocks of the stage (from 1) that have the module; null: all "
        "(BoTNet-26T: [2] in its third stage).")
    heads: int | None = Field(None, ge=1, le=64, strict=True, description="bot, lambda: attention heads (4); halo (8).")
    block_size: int | None = Field(None, ge=1, le=64, strict=True, description="halo: query blocks of this side (8).")
    halo_size: int | None = Field(None, ge=0, le=16, strict=True,
                                  description="halo: each block attends to its neighbourhood this much wider (3).")
    key_dim: int | None = Field(None, ge=1, le=1024, strict=True,
                                description="lambda: depth of the queries and keys per head (the paper's k: 16).")
    context: int | None = Field(None, ge=1, le=31, strict=True,
                                description="lambda: side of the local context its position lambdas read (9).")
    scale: int | None = Field(None, ge=2, le=16, strict=True, description="res2net: splits of the widened 1x1 output.")
    paths: int | None = Field(None, ge=2, le=4, strict=True, description="sk: branches, the k-th dilated k.")
    split_input: bool | None = Field(None, description="sk: each path reads its share of the input channels "
                                     "(timm's skresnet18) rather than all (SKNet, skresnext50).")
    radix: int | None = Field(None, ge=1, le=8, strict=True, description="splat: splits per group (1: a sigmoid gate).")
    ratio: float | None = Field(None, gt=0, le=4, description="sk: attention width / output channels (1/16); "
                                "splat: / (input channels x radix) (1/4); bot, halo: query and key width / "
                                "output channels (1).")
    divisor: PositiveInt | None = Field(None, description="sk, splat: the attention width is a multiple of it (8).")
    min_width: PositiveInt | None = Field(None, description="splat: the attention width at least (32).")
    avd: Union[bool, Literal["first"], None] = Field(
        None, description="splat: a strided block average-pools (3x3) instead of striding the attention's conv: "
        "after the attention (true, ResNeSt-D) or before it ('first', timm's avd_first: resnest50d_4s2x40d).")


class _Stage(StrictModel):
    """Fields shared by every stage: how many blocks and where the resolution drops."""

    depth: PositiveInt = Field(description="Number of blocks in the stage.")
    stride: Stride = Field(1, description="Stride of the first block.")
    memory_efficient: bool = Field(
        False,
        description="Gradient checkpointing (Chen et al. 2016): store only each block's inputs and outputs "
        "while training and recompute what is inside in the backward pass (on CPU, resnet152: 0.58 of the memory, "
        "cifar_resnet1202: 0.25; 15-45% more time per step). Same outputs and gradients; same layer names, so "
        "weights load either way.",
    )
    activation: Activation | None = Field(
        None, description="The stage's activation in place of defaults.activation (timm's dpn48b: SiLU in its stem "
        "and at its end, ReLU in its blocks); gates keep their sigmoids.")

    @property
    def ends_unnormalized(self) -> bool:
        """True where the stage ends on a bare sum or concat, so the net needs a final norm-act."""
        return False

    @property
    def ends_unactivated(self) -> bool:
        """True where the stage ends on a sum of normalised maps with no activation after it (post_linear)."""
        return False


class _StageBase(_Stage):
    """A stage whose blocks have one base width."""

    width: PositiveInt = Field(description="Base width (channels) of the blocks.")


class PlainStage(_StageBase):
    """Convolutions with no shortcut (He et al. 2015 plain nets)."""

    type: Literal["plain"]
    convs: PositiveInt = Field(2, description="3x3 convolutions per block.")
    downsample: Literal["conv", "maxpool"] = Field(
        "conv",
        description="How a stage with stride > 1 shrinks the map: conv (its first conv strides, He et al. "
        "2015) or maxpool (it opens with a max pool of size and stride `stride`, then unstrided convs: VGG).",
    )
    norm: bool = Field(
        True, description="Batch norm after each conv; false for the original VGG (conv bias per defaults.conv_bias)."
    )


class ResidualStage(_StageBase):
    """What basic and bottleneck stages share: the shortcut, the block order and the gates."""

    shortcut: ShortcutPolicy = Field(
        "B",
        description="identity; A: subsample + zero-pad channels; B: 1x1 projection where the "
        "channels change, 1x1 max-pool subsampling where only the resolution does; C: projection in "
        "every block; D: as B with a 2x2 avg-pool before the projection (ResNet-D); projection: a 1x1 projection "
        "wherever the block changes channels or resolution (torchvision's, timm's and pycls's rule); projection_D: "
        "projection with D's pool before a strided one (timm's RegNet downsample 'avg'); identity_or_none: the identity "
        "where the block keeps its shape, no shortcut where it changes it (timm's RegNetZ); highway: a "
        "learned gate T = sigmoid(1x1 conv of the block input) merging T * F(x) + (1 - T) * x (Srivastava et al. "
        "2015), where x is carried as in A where the block changes shape (subsampled, zero-padded).",
    )
    order: BlockOrder = Field(
        "post",
        description="Where norm and activation sit (He et al. 2016, Fig. 4): post (original), "
        "bn_after_add, relu_before_add, relu_preact, preact (full pre-activation); post_linear: post without the "
        "activation after the sum (timm's linear_out, RegNetZ).",
    )
    downsample_at: Literal["first", "last"] = Field(
        "first", description="Which block of the stage carries the stride (keras.applications v2: last)."
    )
    shortcut_kernel: Literal[1, 3] = Field(
        1, description="Kernel of a projection that strides (SENet-154: 3, timm's down_kernel_size); one that does "
        "not stride stays 1x1.")
    reduce_first: PositiveInt = Field(
        1, description="The branch's first conv outputs its width divided by this (SENet-154: 2, timm's "
        "block_reduce_first).")
    preact_shortcut: bool = Field(
        False, description="Order preact: a parameter-free shortcut carries the pre-activated input rather than the "
        "block's own (timm's RegNetV).")
    block_widths: list[list[PositiveInt]] | None = Field(
        None, max_length=500, strict=False,
        description="Each block's own conv widths, in place of those the stage's width gives: one list per block, "
        "a width per branch conv (basic: 2, bottleneck: 3), the last the same in every block (the sums need it). "
        "Pruned networks (timm's ecaresnet50d_pruned); an ECA module keeps the kernel the stage's width gives, as timm "
        "builds a pruned network unpruned and then narrows its convs.")
    widen: float = Field(1.0, gt=0, le=64, description="Width multiplier of the branch (WRN's k).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout between the branch convs (WRN).")
    groups: PositiveInt = Field(1, description="Groups of the 3x3 convs (ResNeXt cardinality).")
    attention: Attention | None = Field(
        None,
        description="A channel or spatial attention module on the branch (SE, ESE, ECA, CBAM, global context); "
        "see its fields. `se_ratio: r` is short for `attention: {type: se, ratio: 1/r, divisor: 1}`.",
    )
    group_width: PositiveInt | None = Field(
        None,
        description="Channels per group of the 3x3 convs, in place of `groups`: groups = 3x3 width / group_width "
        "(pycls's AnyNet and RegNet).",
    )
    spatial: Spatial | None = Field(
        None, description="A module in place of the 3x3 conv (res2net, sk, splat); see its fields. Its blocks keep "
        "the post order (conv-BN-ReLU, the sum, ReLU), as timm's.")
    merge: Literal["add", "weighted"] = Field(
        "add",
        description="add: shortcut + branch; weighted: shortcut + alpha * branch with one learned scalar "
        "per block (Shen & Zeng 2016). Nothing follows a weighted sum, so it needs order relu_before_add "
        "(their form), relu_preact or preact.",
    )
    merge_init: float = Field(
        0.0,
        description="Initial alpha of merge 'weighted' (0: each block starts as the identity, ReZero/SkipInit).",
    )
    gate_bias: float = Field(
        -1.0,
        description="Initial bias of the highway gate (negative: blocks start by carrying x; Srivastava et al. "
        "2015 use -1 to -3).",
    )

    @model_validator(mode="before")
    @classmethod
    def _se_ratio_is_attention(cls, data: object) -> object:
        """``se_ratio: r`` (SENet's reduction r) is short for an SE attention squeezing to channels / r."""
        if not isinstance(data, dict) or "se_ratio" not in data:
            return data
        data = dict(data)
        ratio = data.pop("se_ratio")
        if not isinstance(ratio, int) or isinstance(ratio, bool) or ratio < 0:
            raise ValueError(f"se_ratio must be a whole number >= 0 (16 in SENets; 0: off), not {ratio!r}")
        if ratio and data.get("attention") is not None:
            raise ValueError("se_ratio is short for attention {type: se}; give one of se_ratio and attention")
        if ratio:
            data["attention"] = {"type": "se", "ratio": 1 / ratio, "divisor": 1}
        return data

    @property
    def conv_groups(self) -> int:
        """Groups of the 3x3 convs: ``groups``, or the 3x3 width over ``group_width``."""
        return self.inner_width // self.group_width if self.group_width else self.groups

    @model_validator(mode="after")
    def _gates_fit_the_block(self) -> "ResidualStage":
        if self.group_width and self.groups != 1:
            raise ValueError(f"groups {self.groups} and group_width {self.group_width} both set the 3x3 convs' "
                             f"groups; give one of them")
        if self.group_width and self.inner_width % self.group_width:
            raise ValueError(f"group_width {self.group_width} must divide the 3x3 width {self.inner_width}")
        if self.spatial and self.order != "post":
            raise ValueError(f"spatial {self.spatial.type} blocks are built in the post order (conv-BN-ReLU, the sum, "
                             f"ReLU), as timm's; order {self.order!r} has no counterpart: use order post")
        if self.spatial and self.spatial.blocks and max(self.spatial.blocks) > self.depth:
            raise ValueError(f"spatial blocks {self.spatial.blocks} name block {max(self.spatial.blocks)}, but the "
                             f"stage has {self.depth}")
        if self.spatial and self.spatial.type != "sk" and not isinstance(self, BottleneckStage):
            raise ValueError(f"spatial {self.spatial.type} replaces a bottleneck's 3x3; use a bottleneck stage")
        if self.attention and self.attention.at == "after_3x3" and not isinstance(self, BottleneckStage):
            raise ValueError("attention at after_3x3 sits between a bottleneck's 3x3 and its last 1x1 conv; "
                             "a basic block has two 3x3 convs: use at: end")
        if self.merge == "weighted" and self.order in ("post", "bn_after_add"):
            raise ValueError(
                f"merge 'weighted' ends the block at x + alpha * F(x), but order '{self.order}' puts layers "
                f"after the sum; use order relu_before_add (Shen & Zeng 2016), relu_preact or preact"
            )
        if self.merge == "weighted" and self.shortcut == "highway":
            raise ValueError(
                "shortcut 'highway' already merges as T * F(x) + (1 - T) * x, so it takes no merge "
                "'weighted'; choose one of them"
            )
        if self.block_widths is not None:
            self._check_block_widths(self.block_widths)
        return self

    def _check_block_widths(self, widths: list[list[int]]) -> None:
        convs = 2 if isinstance(self, BasicStage) else 3
        if len(widths) != self.depth or any(len(block) != convs for block in widths):
            raise ValueError(f"block_widths lists {convs} conv widths for each of the stage's {self.depth} blocks")
        if len({block[-1] for block in widths}) > 1:
            raise ValueError(f"block_widths ends blocks at {sorted({block[-1] for block in widths})} channels: each "
                             f"block's last conv must give the same width, which its sum with the shortcut needs")
        if self.spatial or self.reduce_first != 1 or self.widen != 1:
            raise ValueError("block_widths gives every conv's width, so it takes no spatial module, reduce_first or "
                             "widen")

    @property
    def sized_attention(self) -> Attention | None:
        """The attention module, an ECA's kernel sized by the stage's own widths where ``block_widths`` prune the
        channels it reads (timm builds a pruned network unpruned, then narrows its convs)."""
        a = self.attention
        if a and a.type == "eca" and a.kernel is None and self.block_widths:
            return a.model_copy(update={"kernel": a.eca_kernel(self.out_width if a.at == "end" else self.inner_width)})
        return a

    def block_convs(self, block: int) -> list[int] | None:
        """Block ``block``'s (0-based) own conv widths, if the stage lists them."""
        return self.block_widths[block] if self.block_widths else None

    @property
    def block_out_width(self) -> int:
        """The channels each block outputs: the stage's, or those its block widths end at."""
        return self.block_widths[0][-1] if self.block_widths else self.out_width

    @property
    def ends_unnormalized(self) -> bool:
        return self.order == "preact"

    @property
    def ends_unactivated(self) -> bool:
        return self.order == "post_linear"


class BasicStage(ResidualStage):
    """Two 3x3 convolutions plus a shortcut (ResNet-18/34, CIFAR ResNets, WRN)."""

    type: Literal["basic"]

    @property
    def inner_width(self) -> int:
        return int(self.width * self.widen)

    @property
    def out_width(self) -> int:
        return self.inner_width

    @model_validator(mode="after")
    def _groups_divide_width(self) -> "BasicStage":
        if self.inner_width < 1 or self.inner_width % self.conv_groups:
            raise ValueError(
                f"groups {self.conv_groups} must divide the block width {self.inner_width} "
                f"(width {self.width} x widen {self.widen})"
            )
        return self


class BottleneckStage(ResidualStage):
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

    @property
    def out_width(self) -> int:
        return self.width * self.expansion

    @model_validator(mode="after")
    def _inner_width_positive(self) -> "BottleneckStage":
        if self.inner_width < 1:
            raise ValueError(
                f"width {self.width} with widen {self.widen} and base_width {self.base_width} "
                f"leaves no channels in the 3x3 conv; raise width or base_width"
            )
        return self


class DenseStage(_Stage):
    """A dense block (Huang et al. 2017): every layer concatenates ``growth_rate`` new channels.

    Layers are pre-activation (BN-ReLU-conv); a stage with stride > 1 opens with a transition
    (BN-ReLU, 1x1 conv to ``compression`` x the channels, average pool of size and stride ``stride``).
    """

    type: Literal["dense"]
    depth: PositiveInt = Field(description="Dense layers in the block.")
    growth_rate: PositiveInt = Field(description="Channels each layer adds (k).")
    bn_size: PositiveInt | None = Field(
        4, description="1x1 bottleneck of bn_size*k channels before each 3x3 (DenseNet-B); null for none."
    )
    compression: float = Field(
        1.0, gt=0, le=1, description="Channels the opening transition keeps (theta; 0.5 for DenseNet-C)."
    )
    memory_efficient: bool = Field(
        False,
        description="Recompute each layer's concatenation, BN, ReLU and first conv in the backward pass "
        "instead of storing them (Pleiss et al. 2017): training memory grows linearly with depth instead "
        "of quadratically, for some extra time. Same outputs and gradients; same layer names, so weights "
        "load either way.",
    )

    @property
    def ends_unnormalized(self) -> bool:
        return True

    @model_validator(mode="after")
    def _compression_needs_a_transition(self) -> "DenseStage":
        if self.compression < 1 and self.stride == 1:
            raise ValueError(
                f"compression {self.compression} applies to the transition a dense stage opens with, "
                f"and only a stage with stride > 1 has one (this one has stride {self.stride}); "
                f"drop compression or set stride: 2"
            )
        return self


class DualPathStage(_StageBase):
    """Dual path blocks (Chen et al. 2017): pre-activation 1x1, grouped 3x3, 1x1 convs whose
    output is split into a residual part (added) and a dense part (concatenated).

    The first block projects its input (BN-ReLU, strided 1x1 conv) onto the two paths, giving
    them ``residual_width`` and 2 x ``increment`` channels.
    """

    type: Literal["dual_path"]
    width: PositiveInt = Field(description="Channels of the 1x1 reduce conv.")
    mid_width: PositiveInt | None = Field(None, description="Channels of the 3x3 conv; null: width.")
    groups: PositiveInt = Field(1, description="Groups of the 3x3 conv.")
    residual_width: PositiveInt = Field(description="Channels of the residual (added) path.")
    increment: PositiveInt = Field(description="Channels each block adds to the dense (concatenated) path.")
    separate_outputs: bool = Field(
        False, description="The last 1x1 conv as two, one for each path (timm's dpn48b/68b...): the same "
        "function, its weights stored apart (c1x1_c1 and c1x1_c2).")

    @property
    def inner_width(self) -> int:
        return self.mid_width or self.width

    @property
    def ends_unnormalized(self) -> bool:
        return True

    @model_validator(mode="after")
    def _groups_divide_widths(self) -> "DualPathStage":
        if self.width % self.groups or self.inner_width % self.groups:
            raise ValueError(
                f"groups {self.groups} must divide both width {self.width} and the 3x3 width "
                f"{self.inner_width}"
            )
        return self


Stage = Annotated[
    Union[PlainStage, BasicStage, BottleneckStage, DenseStage, DualPathStage], Field(discriminator="type")
]
STAGE_TYPES: tuple[str, ...] = ("plain", "basic", "bottleneck", "dense", "dual_path")


_STAGES = TypeAdapter(list[Stage])


def _same_stages(given: object, generated: list[dict]) -> bool:
    """Whether ``given`` (a spec's stages, maybe invalid) are the stages ``generated`` (a dump carries both), but
    for ``memory_efficient``, which changes how a stage trains, not what it computes."""
    try:
        ours, theirs = _STAGES.validate_python(given), _STAGES.validate_python(generated)
    except ValidationError:
        return False
    return [s.model_copy(update={"memory_efficient": False}) for s in ours] == theirs


class Head(StrictModel):
    """Global pooling, optional dropout and the classifier."""

    final_norm: bool = Field(
        True, description="Pre-activation and dense networks end with a norm and an activation before the pool; "
        "false: the activation alone (timm's RegNetV).")
    conv: PositiveInt | None = Field(
        None, description="A 1x1 conv-norm-activation of this many channels before the pool (timm's RegNetZ "
        "num_features); null: none. After post_linear blocks, which end without an activation, the network's "
        "activation comes before the pool either way.")
    pooling: Literal["avg", "max", "flatten"] = Field(
        "avg", description="avg / max: global pooling; flatten: the whole map (VGG), so the first dense layer's "
        "size depends on the input size.",
    )
    max_pool: int = Field(
        0, ge=0, le=4, strict=True,
        description="A max pool of this size and stride before the pooling (VGG's last pool: 2); 0: none.",
    )
    hidden: list[PositiveInt] = Field(
        [], max_length=8,
        description="Hidden fully connected layers before the classifier, each dense-ReLU then `dropout` "
        "(torchvision VGG: [4096, 4096] with dropout 0.5).",
    )
    dropout: float = Field(
        0.0, ge=0, lt=1,
        description="Dropout before the classifier, or after each hidden layer where there are some.",
    )
    activation: Literal["softmax", "sigmoid", "linear"] = Field(
        "softmax", description="Classifier activation; 'linear' gives logits."
    )


class Preprocess(StrictModel):
    """The input normalisation a network's weights expect, applied inside the model to pixel values
    0..255: ``(x * scale - mean) / std`` per channel, after reversing RGB to BGR with ``channels: bgr``."""

    scale: float = Field(1 / 255, gt=0, description="Multiplies the pixel values 0..255 first.")
    mean: list[float] = Field([0.0], min_length=1, max_length=4096,
                              description="Subtracted after scaling: one value, or one per channel.")
    std: list[Annotated[float, Field(gt=0)]] = Field(
        [1.0], min_length=1, max_length=4096, description="Divides last: one value, or one per channel.")
    channels: Literal["rgb", "bgr"] = Field(
        "rgb", description="bgr: reverse the channels first (Caffe-trained weights, keras.applications' ResNet).")

    def for_channels(self, channels: int) -> "Preprocess":
        """A preset's per-channel statistics for an input of other channels, as pretrained stems are adapted
        (``keras.weights.adapt``): one channel takes the mean of the three means and of the three stds (the
        stem sums the three kernels); more take them in turn, as the stem repeats its kernels (the order they are
        listed in, which is the kernels' order: BGR reversal is for three channels only)."""
        if all(len(v) in (1, channels) for v in (self.mean, self.std)) and (self.channels == "rgb" or channels == 3):
            return self
        if channels == 1:
            return Preprocess(scale=self.scale, mean=[sum(self.mean) / len(self.mean)],
                              std=[sum(self.std) / len(self.std)])
        return Preprocess(scale=self.scale, mean=[self.mean[i % len(self.mean)] for i in range(channels)],
                          std=[self.std[i % len(self.std)] for i in range(channels)])


PreprocessPreset = Literal["none", "unit", "imagenet", "torch", "caffe", "tf"]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's, of 0..1 RGB
PREPROCESS_PRESETS: dict[str, Preprocess | None] = {
    "none": None,
    "unit": Preprocess(),
    "imagenet": Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "torch": Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD),  # keras.applications' name for it
    "caffe": Preprocess(scale=1.0, mean=[103.939, 116.779, 123.68], channels="bgr"),  # BGR means
    "tf": Preprocess(scale=1 / 127.5, mean=[1.0]),
}


class ModelSpec(StrictModel):
    """A whole network: input, stem, stages, head and shared defaults."""

    name: str = Field("model", pattern=r"^[A-Za-z0-9_.\-]+$", max_length=100)
    family: str = Field("custom", description="Zoo family (resnet, resnext, wide, ...).")
    description: str = ""
    input_shape: tuple[PositiveInt | None, PositiveInt | None, PositiveInt] = Field(
        (224, 224, 3), strict=False,  # a YAML list is fine
        description="Height, width, channels of one image; [null, null, C]: images of any size (a backbone, or "
        "a classifier with a global pooling head).",
    )
    num_classes: PositiveInt = 1000
    preprocess: Union[PreprocessPreset, Preprocess] = Field(
        "unit",
        description="Input normalisation inside the model, which takes pixel values 0..255: none; unit (x / 255); "
        "imagenet or torch (x / 255, then torchvision's mean and std); caffe (RGB to BGR, minus the BGR means); "
        "tf (x / 127.5 - 1); or explicit {scale, mean, std, channels}.",
    )
    defaults: Defaults = Defaults()
    stem: Stem = Stem()
    stages: list[Stage] = Field(
        [], max_length=64, description="The stages, in order; or leave them out and give `regnet`.")
    regnet: RegNet | None = Field(
        None,
        description="pycls's RegNet generator (w0, wa, wm, depth, group_width, ...), in place of `stages`: "
        "it expands to the bottleneck stages it stands for.",
    )
    head: Head = Head()
    rename: dict[str, Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")]] = Field(
        {},
        description="Planned layer name -> the name to give it instead, to match another library's "
        "names (keras.applications.DenseNet: pool1_pool -> pool1, post_bn -> bn); the network is unchanged.",
    )
    train: TrainSpec | None = Field(
        None, description="How `archspec train` trains it (He et al. 2015's recipe where a field is left out)."
    )
    source: Source | None = Field(
        None, description="The library model this spec is and its published weight files (zoo entries)."
    )

    @model_validator(mode="before")
    @classmethod
    def _regnet_expands_to_stages(cls, data: object) -> object:
        """A ``regnet:`` generator becomes the stages it stands for (an invalid one is reported where it is)."""
        if not isinstance(data, dict) or data.get("regnet") is None:
            return data
        try:
            generator = RegNet.model_validate(data["regnet"])
        except ValidationError:
            return data  # the regnet field's own validation reports it, with its location
        generated = generator.stages()
        if data.get("stages") and not _same_stages(data["stages"], generated):
            raise ValueError("regnet generates the stages; give either stages or regnet, not both")
        return {**data, "stages": data.get("stages") or generated}  # (a dumped spec carries both, the same)

    @model_validator(mode="after")
    def _has_stages(self) -> "ModelSpec":
        if not self.stages:
            raise ValueError("the network has no stages: give stages (a list of stages) or a regnet generator")
        return self

    @property
    def input_normalization(self) -> Preprocess | None:
        """``preprocess`` with a preset resolved (its statistics for the input's channels); None for none."""
        if not isinstance(self.preprocess, str):
            return self.preprocess
        preset = PREPROCESS_PRESETS[self.preprocess]
        return preset.for_channels(self.input_shape[2]) if preset is not None else None

    @property
    def any_size(self) -> bool:
        """Whether the network takes images of any height and width (``input_shape: [null, null, C]``)."""
        return self.input_shape[0] is None

    @model_validator(mode="after")
    def _any_size_is_both_sides_and_pooled(self) -> "ModelSpec":
        if (self.input_shape[0] is None) != (self.input_shape[1] is None):
            raise ValueError(f"input_shape {list(self.input_shape)} fixes one side only: give both a size, or "
                             f"both null for images of any size")
        if self.any_size and self.head.pooling == "flatten":
            raise ValueError("input_shape [null, null, C] takes images of any size, but head.pooling flatten feeds "
                             "the classifier a size-dependent number of values; use head.pooling avg or max, or a "
                             "fixed input_shape")
        return self

    @property
    def size_dependent_weights(self) -> bool:
        """Whether weight shapes depend on the input size: a flatten head's first dense layer, BoTNet's position
        tables. Such weights load only into the network built at the size they were made for."""
        return self.head.pooling == "flatten" or any(
            isinstance(s, ResidualStage) and s.spatial is not None and s.spatial.type == "bot" for s in self.stages)

    @property
    def residual_blocks(self) -> int:
        """Blocks of the basic and bottleneck stages: the L of stochastic depth's linear decay."""
        return sum(s.depth for s in self.stages if isinstance(s, ResidualStage))

    @model_validator(mode="after")
    def _drop_path_needs_residual_blocks(self) -> "ModelSpec":
        if self.defaults.drop_path and not self.residual_blocks:
            raise ValueError(
                f"defaults.drop_path {self.defaults.drop_path} drops residual branches, but no stage here "
                f"is basic or bottleneck; remove drop_path"
            )
        return self

    @model_validator(mode="after")
    def _softmax_needs_two_classes(self) -> "ModelSpec":
        if self.num_classes == 1 and self.head.activation == "softmax":
            raise ValueError(
                "num_classes 1 with head.activation softmax always outputs 1; use head.activation "
                "sigmoid (one binary output) or linear, or at least 2 classes"
            )
        return self


def json_schema() -> dict:
    """The JSON Schema editors use to autocomplete specs (`extends`, `depths`, `widths`, `block_widths` and
    `every_stage` are the loader's)."""
    schema = ModelSpec.model_json_schema()
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "A zoo name or a relative .yaml path whose fields this spec overrides.",
    }
    schema["properties"]["depths"] = {
        "type": "array", "items": {"type": "integer", "minimum": 1},
        "description": "Each stage's depth, in order (after extends): resnet50 with depths [3, 4, 23, 3] is resnet101.",
    }
    schema["properties"]["block_widths"] = {
        "type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 1}}},
        "description": "Each stage's block_widths, in order (after extends): each block's own conv widths (a pruned "
                       "network: ecaresnet50d_pruned).",
    }
    schema["properties"]["widths"] = {
        "type": "array", "items": {"type": "integer", "minimum": 1},
        "description": "Each stage's width, in order (after extends): BiT's resnetv2_50x3_bit is resnetv2_50x1_bit "
                       "with widths [192, 384, 768, 1536] (and a stem of 192).",
    }
    schema["properties"]["every_stage"] = {
        "type": "object",
        "description": "Stage fields merged over every stage (after extends), e.g. {attention: {type: se}}.",
    }
    schema["title"] = "archspec network spec"
    return schema
