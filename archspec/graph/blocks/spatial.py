"""Modules in place of a residual block's 3x3 conv, chosen by the stage's ``spatial``: Res2Net's
multi-scale splits, selective kernel (SK), split attention (ResNeSt's splat) and the self-attention of
BoTNet, HaloNet and lambda networks, with timm's layers and
widths so its weights map one to one. Each takes the map the block's previous conv made and returns
what the block's next conv reads, normalised and activated (these blocks are built in the post order).
"""

from __future__ import annotations

from typing import Callable

from ...spec.schema import Spatial, make_divisible
from ..ir import Graph, Tensor


def replace_3x3(g: Graph, y: Tensor, spatial: Spatial, filters: int, stride: int, groups: int,
                changes_shape: bool, prefix: str) -> Tensor:
    """``y`` through the module ``spatial`` describes, standing for a 3x3 conv of ``filters`` outputs, ``stride``
    and ``groups`` in a block that ``changes_shape`` or not; its layers are named ``{prefix}_...``."""
    return MODULES[spatial.type](g, y, spatial, filters, stride, groups, changes_shape, prefix)


def _res2net(g: Graph, y: Tensor, s: Spatial, filters: int, stride: int, groups: int, changes_shape: bool,
             prefix: str) -> Tensor:
    """Gao et al. 2019 (timm's Bottle2neck): ``y`` holds ``scale`` splits of ``filters`` channels; split i
    (plus the previous split's output, where the block keeps its shape) passes a 3x3 conv-BN-ReLU, the last
    split passes unchanged, or average-pooled (3x3, zeros counted, as timm) where the block changes shape."""
    assert s.scale is not None  # filled in for res2net
    splits = [g.slice(y, f"{prefix}_split{i + 1}", i * filters, (i + 1) * filters) for i in range(s.scale)]
    outputs: list[Tensor] = []
    for i, split in enumerate(splits[:-1]):
        x = split if i == 0 or changes_shape else g.add((outputs[-1], split), f"{prefix}_{i + 1}_add")
        outputs.append(g.conv_norm_act(x, f"{prefix}_{i + 1}", filters, 3, stride=stride, groups=groups))
    last = splits[-1]
    if changes_shape:
        last = g.pool(g.zero_pad(last, f"{prefix}_pool_pad", 1), f"{prefix}_pool", "avg", 3, stride)
    return g.concat((*outputs, last), f"{prefix}_concat")


def _selective_kernel(g: Graph, y: Tensor, s: Spatial, filters: int, stride: int, groups: int,
                      changes_shape: bool, prefix: str) -> Tensor:
    """Li et al. 2019 (timm's SelectiveKernel): path k is a 3x3 conv-BN-ReLU dilated k (reading its share of
    the channels with ``split_input``); the paths' sum, pooled, gives through a 1x1 conv-BN-ReLU and a 1x1
    conv one logit per path and channel; each channel is the softmax-weighted sum of the paths'."""
    assert s.paths is not None and s.ratio is not None and s.divisor is not None  # filled in for sk
    share = y.channels // s.paths
    paths = []
    for k in range(1, s.paths + 1):
        x = g.slice(y, f"{prefix}_path{k}_split", (k - 1) * share, k * share) if s.split_input else y
        paths.append(g.conv_norm_act(x, f"{prefix}_path{k}", filters, 3, stride=stride, groups=min(filters, groups),
                                     dilation=k))
    with g.gate():
        fused = g.global_pool(g.add(tuple(paths), f"{prefix}_sk_sum"), f"{prefix}_sk_squeeze", "avg", keepdims=True)
        fused = g.conv_norm_act(fused, f"{prefix}_sk_reduce", make_divisible(filters * s.ratio, s.divisor), 1)
        logits = g.conv(fused, f"{prefix}_sk_select", filters * s.paths, 1, bias=False)
    return g.radix_select(g.concat(tuple(paths), f"{prefix}_sk_paths"), logits, f"{prefix}_sk_attend", s.paths, 1)


def _split_attention(g: Graph, y: Tensor, s: Spatial, filters: int, stride: int, groups: int,
                     changes_shape: bool, prefix: str) -> Tensor:
    """Zhang et al. 2020 (timm's SplitAttn): one conv-BN-ReLU of ``radix`` x ``filters`` channels in groups x
    radix groups; the radix splits summed and pooled give through a 1x1 conv-BN-ReLU and a 1x1 conv one logit
    per split and channel (biased, grouped as the conv); the output is their softmax-weighted sum (a sigmoid
    gate for radix 1). With ``avd`` a strided block convolves at stride 1 and average-pools (3x3, zeros counted,
    as timm) after the attention, or before it (``avd: first``)."""
    assert s.radix is not None and s.ratio is not None and s.divisor is not None  # filled in for splat
    conv_stride = 1 if s.avd else stride

    def avd_pool(t: Tensor) -> Tensor:
        return g.pool(g.zero_pad(t, f"{prefix}_avd_pad", 1), f"{prefix}_avd_pool", "avg", 3, stride)

    if s.avd == "first" and stride > 1:
        y = avd_pool(y)
    x = g.conv_norm_act(y, prefix, filters * s.radix, 3, stride=conv_stride, groups=groups * s.radix)
    with g.gate():
        radices = [g.slice(x, f"{prefix}_radix{r + 1}", r * filters, (r + 1) * filters) for r in range(s.radix)]
        total = g.add(tuple(radices), f"{prefix}_radix_sum") if s.radix > 1 else x
        hidden = make_divisible(y.channels * s.radix * s.ratio, s.divisor, min_value=s.min_width)
        fused = g.global_pool(total, f"{prefix}_squeeze", "avg", keepdims=True)
        fused = g.conv_norm_act(fused, f"{prefix}_fc1", hidden, 1, groups=groups, bias=True)
        logits = g.conv(fused, f"{prefix}_fc2", filters * s.radix, 1, groups=groups, bias=True)
    x = g.radix_select(x, logits, f"{prefix}_attend", s.radix, groups)
    if s.avd is True and stride > 1:
        x = avd_pool(x)
    return x


def _bottleneck_attention(g: Graph, y: Tensor, s: Spatial, filters: int, stride: int, groups: int,
                          changes_shape: bool, prefix: str) -> Tensor:
    """Srinivas et al. 2021 (timm's BottleneckAttn in a SelfAttnBlock): a 1x1 conv to queries, keys (each
    ``ratio`` x filters, to a multiple of 8, split over the heads) and values (filters), multi-head self-attention
    with relative positions, a 2x2 average pool on a strided block, then BN-ReLU (timm's post_attn)."""
    assert s.heads is not None and s.ratio is not None  # filled in for bot
    if filters % s.heads:
        raise g.fail(f"{prefix}: {s.heads} heads do not divide the {filters} channels")
    dim_qk = make_divisible(filters * s.ratio, 8) // s.heads
    dim_v = filters // s.heads
    qkv = g.conv(y, f"{prefix}_qkv", s.heads * (2 * dim_qk + dim_v), 1, bias=False)
    x = g.self_attention(qkv, f"{prefix}_attention", s.heads, dim_qk, dim_v)
    if stride > 1:
        x = g.pool(x, f"{prefix}_pool", "avg", stride, stride)
    return g.norm_act(x, prefix)


def _halo_attention(g: Graph, y: Tensor, s: Spatial, filters: int, stride: int, groups: int,
                    changes_shape: bool, prefix: str) -> Tensor:
    """Vaswani et al. 2021 (timm's HaloAttn in a SelfAttnBlock): a 1x1 conv to queries (strided with the block,
    where the block size allows, else a 2x2 average pool after), one to keys and values, blocked attention with
    halos, then BN-ReLU."""
    assert s.heads is not None and s.ratio is not None and s.block_size is not None and s.halo_size is not None
    if filters % s.heads:
        raise g.fail(f"{prefix}: {s.heads} heads do not divide the {filters} channels")
    dim_qk, dim_v = make_divisible(filters * s.ratio, 8) // s.heads, filters // s.heads
    pool_after = stride > 1 and s.block_size % stride != 0
    q = g.conv(y, f"{prefix}_q", s.heads * dim_qk, 1, stride=1 if pool_after else stride, bias=False)
    kv = g.conv(y, f"{prefix}_kv", s.heads * (dim_qk + dim_v), 1, bias=False)
    x = g.halo_attention(q, kv, f"{prefix}_halo", s.heads, dim_qk, dim_v, s.block_size, s.halo_size)
    if pool_after:
        x = g.pool(x, f"{prefix}_pool", "avg", stride, stride)
    return g.norm_act(x, prefix)


def _lambda_layer(g: Graph, y: Tensor, s: Spatial, filters: int, stride: int, groups: int,
                  changes_shape: bool, prefix: str) -> Tensor:
    """Bello 2021 (timm's LambdaLayer in a SelfAttnBlock): a 1x1 conv to queries (one set per head), keys and
    values, BN on the queries and the values, the lambda layer, a 2x2 average pool on a strided block, then
    BN-ReLU."""
    assert s.heads is not None and s.key_dim is not None and s.context is not None  # filled in for lambda
    if filters % s.heads:
        raise g.fail(f"{prefix}: {s.heads} heads do not divide the {filters} channels")
    dim_qk, dim_v = s.key_dim, filters // s.heads
    qkv = g.conv(y, f"{prefix}_qkv", s.heads * dim_qk + dim_qk + dim_v, 1, bias=False)
    q = g.norm(g.slice(qkv, f"{prefix}_q", 0, s.heads * dim_qk), f"{prefix}_q")
    k = g.slice(qkv, f"{prefix}_k", s.heads * dim_qk, (s.heads + 1) * dim_qk)
    v = g.norm(g.slice(qkv, f"{prefix}_v", (s.heads + 1) * dim_qk, qkv.channels), f"{prefix}_v")
    x = g.lambda_attention(q, k, v, f"{prefix}_lambda", s.heads, s.context)
    if stride > 1:
        x = g.pool(x, f"{prefix}_pool", "avg", stride, stride)
    return g.norm_act(x, prefix)


MODULES: dict[str, Callable[[Graph, Tensor, Spatial, int, int, int, bool, str], Tensor]] = {
    "res2net": _res2net, "sk": _selective_kernel, "splat": _split_attention, "bot": _bottleneck_attention,
    "halo": _halo_attention, "lambda": _lambda_layer,
}
