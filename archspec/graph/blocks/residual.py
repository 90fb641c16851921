"""Plain and residual stages: a branch of convolutions, a shortcut and a merge.

Basic, bottleneck, wide (WRN) and grouped (ResNeXt) blocks differ only in the
convolutions of their branch (``_branch_convs``); the five block orders of He
et al. 2016 differ only in where norms and activations sit around those convs
(``residual_block``); the shortcut policy decides how the input reaches the merge, and
``gates`` adds attention, drop-path and the weighted or highway merges.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...spec.schema import BasicStage, PlainStage, ResidualStage, Spatial
from ..ir import Graph, Tensor
from .attention import attend
from .gates import gate_branch, merge
from .spatial import replace_3x3


@dataclass(frozen=True)
class BranchConv:
    filters: int
    kernel: int
    stride: int = 1
    groups: int = 1


def plain_stage(g: Graph, x: Tensor, stage: PlainStage, name: str) -> Tensor:
    """``convs`` conv-norm-act layers per block and no shortcut; the first conv strides, or with
    ``downsample: maxpool`` a max pool ``{name}_pool`` opens the stage (VGG). ``norm: false`` leaves
    out the norms (conv-act)."""
    first_stride = stage.stride
    if stage.downsample == "maxpool" and stage.stride > 1:
        x = g.pool(x, f"{name}_pool", "max", stage.stride, stage.stride)
        first_stride = 1
    for b in range(stage.depth):
        changes_shape = b == 0 and (first_stride > 1 or x.channels != stage.width)
        block = f"{name}_block{b + 1}"
        if g.lesioned(block, removable=not changes_shape):
            continue  # lesion: the identity in place of the block
        with g.recomputed(block if stage.memory_efficient else None):
            for i in range(stage.convs):
                stride = first_stride if b == 0 and i == 0 else 1
                if stage.norm:
                    x = g.conv_norm_act(x, f"{block}_{i + 1}", stage.width, 3, stride=stride)
                else:
                    x = g.act(g.conv(x, f"{block}_{i + 1}", stage.width, 3, stride=stride), f"{block}_{i + 1}")
    return x


def residual_stage(g: Graph, x: Tensor, stage: ResidualStage, name: str) -> Tensor:
    strided = 0 if stage.downsample_at == "first" else stage.depth - 1
    for b in range(stage.depth):
        spatial = stage.spatial if stage.spatial and stage.spatial.applies_to(b + 1) else None
        block = f"{name}_block{b + 1}"
        with g.recomputed(block if stage.memory_efficient else None):
            x = residual_block(g, x, stage, stage.stride if b == strided else 1, block, spatial, b)
    return x


def _branch_convs(stage: ResidualStage, spatial: Spatial | None, stride: int, block: int) -> list[BranchConv]:
    """The branch's convs; a stage's ``block_widths`` give each its width (the strides and groups stay the stage's)."""
    convs = _stage_convs(stage, spatial, stride)
    widths = stage.block_convs(block)
    return [BranchConv(w, c.kernel, c.stride, c.groups) for w, c in zip(widths, convs)] if widths else convs


def _stage_convs(stage: ResidualStage, spatial: Spatial | None, stride: int) -> list[BranchConv]:
    if isinstance(stage, BasicStage):
        w = stage.inner_width
        return [BranchConv(w // stage.reduce_first, 3, stride, stage.conv_groups), BranchConv(w, 3, 1, stage.conv_groups)]
    first, middle = (stride, 1) if stage.stride_on == "1x1" else (1, stride)
    inner = stage.inner_width
    splits = spatial.scale if spatial and spatial.type == "res2net" and spatial.scale else 1  # Res2Net's wide 1x1
    return [BranchConv(inner * splits // stage.reduce_first, 1, first),
            BranchConv(inner, 3, middle, stage.conv_groups), BranchConv(stage.out_width, 1)]


def residual_block(g: Graph, x: Tensor, stage: ResidualStage, stride: int, name: str,
                   spatial: Spatial | None, block: int) -> Tensor:
    """One residual unit in any of He et al. 2016's orders (Fig. 4 a-e).

    Layer names follow keras.applications: ``_0`` is the shortcut, ``_1.._n`` the
    branch convs, ``_preact`` the pre-activation, and the block's last layer is ``_out``.
    """
    order = stage.order
    pre = x
    if order == "preact":
        pre = g.act(g.norm(x, f"{name}_preact"), f"{name}_preact")
    elif order == "relu_preact":
        pre = g.act(x, f"{name}_preact")
    shortcut = _shortcut(g, x, pre, stage, stride, name)  # None: a block without one (timm's RegNetZ)
    after_merge = order in ("post", "bn_after_add")  # orders with layers after the sum
    if g.lesioned(name, removable=shortcut is not None):  # lesion (Veit et al. 2016): as if its branch gave 0
        g.next_block()
        y = g.norm(shortcut, f"{name}_post") if order == "bn_after_add" else shortcut
        return g.act(y, name=f"{name}_out") if after_merge else y

    convs = _branch_convs(stage, spatial, stride, block)

    def attends_after(conv: BranchConv) -> bool:  # only bottlenecks
        return conv.kernel == 3 and stage.attention is not None and stage.attention.at == "after_3x3"

    spatial_at = 1 if isinstance(stage, BasicStage) else 2  # the 3x3 a spatial module replaces
    norm_last = order in ("post", "post_linear", "relu_before_add", "relu_preact")
    y = pre
    for i, conv in enumerate(convs, start=1):
        last = i == len(convs)
        if last and stage.dropout:
            y = g.dropout(y, f"{name}_dropout", stage.dropout)
        prefix = f"{name}_{i}"
        if spatial and i == spatial_at:  # post order only: it ends normalised and activated
            changes_shape = conv.stride > 1 or x.channels != stage.block_out_width
            y = replace_3x3(g, y, spatial, conv.filters, conv.stride, conv.groups, changes_shape, prefix)
        else:
            anti_aliased = g.defaults.anti_alias and conv.stride > 1 and conv.kernel > 1
            y = g.conv(y, prefix, conv.filters, conv.kernel, stride=1 if anti_aliased else conv.stride,
                       groups=conv.groups, normalized=norm_last or not last)
            if attends_after(conv) and order == "preact":  # right after the 3x3, before the next conv's preactivation
                y = attend(g, y, stage.sized_attention, x.channels, name)
            if not last or norm_last:
                y = g.norm(y, prefix, zero_init=last and g.defaults.zero_init_last_norm)
            if not last or order == "relu_before_add":
                y = g.act(y, prefix)
            if anti_aliased:  # timm's aa_layer, after the conv's norm and activation
                y = g.anti_aliased(y, f"{prefix}_aa", conv.stride)
        if attends_after(conv) and order != "preact":  # after the 3x3's norm and activation
            y = attend(g, y, stage.sized_attention, x.channels, name)

    y = gate_branch(g, y, stage, x.channels, name, residual=shortcut is not None)  # attention at the end, drop path
    if shortcut is None:
        return g.act(y, name=f"{name}_out") if after_merge else y
    y = merge(g, shortcut, y, pre=pre, stage=stage, stride=stride, block=name,
              name=f"{name}_add" if after_merge else f"{name}_out")
    if order == "bn_after_add":
        y = g.norm(y, f"{name}_post")
    return g.act(y, name=f"{name}_out") if after_merge else y


def _shortcut(g: Graph, x: Tensor, pre: Tensor, stage: ResidualStage, stride: int, name: str) -> Tensor | None:
    """The path from a block's input to its merge (He et al. 2015 options A-C, ResNet-D, the libraries'
    projection wherever the shape changes, highway).

    Projections read the pre-activated input (as He et al. 2016 and keras.applications v2 do), with
    ``shortcut_kernel`` where they stride; parameter-free shortcuts read the block's raw input, or with
    ``preact_shortcut`` the pre-activated one (timm's RegNetV). Highway carries it as A does, subsampled and
    zero-padded where the block changes shape (Srivastava et al. 2015, Sec. 2.1). None: no shortcut
    (``identity_or_none`` where the block changes shape).
    """
    policy, channels = stage.shortcut, stage.block_out_width
    if policy == "identity_or_none" and (stride > 1 or x.channels != channels):
        return None
    with g.shortcut():
        projects = (policy == "C" or (x.channels != channels and policy in ("B", "D"))
                    or (policy in ("projection", "projection_D") and (x.channels != channels or stride > 1)))
        if projects:
            normalized = pre is x  # a pre-activated input is projected without a norm
            if policy in ("D", "projection_D") and stride > 1:
                pre = _average_pool(g, pre, f"{name}_0_pool", stride)
                stride = 1
            conv = g.conv(pre, f"{name}_0", channels, stage.shortcut_kernel if stride > 1 else 1, stride=stride,
                          normalized=normalized)
            return g.norm(conv, f"{name}_0") if normalized else conv
        if policy == "identity" and (stride != 1 or x.channels != channels):
            raise g.fail(
                f"{name}: shortcut 'identity' cannot join a block that maps {x.channels} channels "
                f"at stride {stride} to {channels} channels; use shortcut A, B, C or D"
            )
        if channels < x.channels:  # only option A (or highway's carry) is left: it can only add channels
            raise g.fail(
                f"{name}: shortcut '{policy}' zero-pads channels, so it cannot go from {x.channels} "
                f"down to {channels} channels; use shortcut B, C or D"
            )
        x = pre if stage.preact_shortcut else x
        if stride > 1 and policy == "D":
            x = _average_pool(g, x, f"{name}_0_pool", stride)
        elif stride > 1:
            x = g.pool(x, f"{name}_0_pool", "max", 1, stride, padding="same")
        if channels > x.channels:
            x = g.channel_pad(x, f"{name}_0_pad", channels)
        return x


def _average_pool(g: Graph, x: Tensor, name: str, stride: int) -> Tensor:
    """ResNet-D's shortcut pool, timm's ``AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)``:
    an odd map keeps its last row and column, averaged over the pixels that exist. TensorFlow's 'same'
    average pool is exactly that (it pads the bottom and right and leaves the padding out of the mean)."""
    return g.pool(x, name, "avg", stride, stride, padding="same")
