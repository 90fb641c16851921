"""Attention modules on a residual branch, one function per module, chosen by the stage's ``attention``.

Each reads the branch map ``y`` and returns it re-weighted, with the layers and names of timm's
modules (``se``: SEModule, ``ese``: EffectiveSEModule, ``eca``: EcaModule, ``cbam``: CbamModule,
``gc``/``gca``: GlobalContext scaling or adding), so their weights map one to one. The layers that
compute a gate are off the main path (``g.gate``): an attention module adds no depth.
"""

from __future__ import annotations

from typing import Callable

from ...spec.schema import Attention
from ..ir import Graph, Tensor


def attend(g: Graph, y: Tensor, attention: Attention, block_input: int, name: str) -> Tensor:
    """``y`` through the module ``attention`` describes; ``block_input``: the block's input channels, which
    size the squeeze where ``ratio_of: input`` (RegNetY)."""
    return MODULES[attention.type](g, y, attention, block_input, name)


def _squeeze_excite(g: Graph, y: Tensor, a: Attention, block_input: int, name: str) -> Tensor:
    """Hu et al. 2018: average pool to a 1x1 map, 1x1 conv down, ReLU, 1x1 conv up, sigmoid, scale."""
    with g.gate():
        s = g.global_pool(y, f"{name}_se_squeeze", "avg", keepdims=True)
        hidden = a.hidden(y.channels, block_input)
        s = g.act(g.conv(s, f"{name}_se_reduce", hidden, 1, bias=a.bias), f"{name}_se_reduce")
        s = g.conv(s, f"{name}_se_expand", y.channels, 1, bias=a.bias)
        s = g.act(s, name=f"{name}_se_gate", kind="sigmoid")
    return g.multiply(y, s, f"{name}_se_scale")


def _effective_se(g: Graph, y: Tensor, a: Attention, block_input: int, name: str) -> Tensor:
    """Lee & Park 2020 (CenterMask): average pool, one biased 1x1 conv keeping the channels, hard sigmoid."""
    with g.gate():
        s = g.global_pool(y, f"{name}_ese_squeeze", "avg", keepdims=True)
        s = g.conv(s, f"{name}_ese", y.channels, 1, bias=True)
        s = g.act(s, name=f"{name}_ese_gate", kind="hard_sigmoid")
    return g.multiply(y, s, f"{name}_ese_scale")


def _efficient_channel(g: Graph, y: Tensor, a: Attention, block_input: int, name: str) -> Tensor:
    """Wang et al. 2020: average pool, a 1D conv across neighbouring channels (no bias), sigmoid."""
    with g.gate():
        s = g.global_pool(y, f"{name}_eca_squeeze", "avg", keepdims=True)
        s = g.channel_conv(s, f"{name}_eca_conv", a.eca_kernel(y.channels))
        s = g.act(s, name=f"{name}_eca_gate", kind="sigmoid")
    return g.multiply(y, s, f"{name}_eca_scale")


def _cbam(g: Graph, y: Tensor, a: Attention, block_input: int, name: str) -> Tensor:
    """Woo et al. 2018: channel attention (one MLP applied to the average and the max pool, summed,
    sigmoid), then spatial attention (a conv and BN over each position's channel mean and max, sigmoid)."""
    hidden = a.hidden(y.channels, block_input)
    with g.gate():
        pooled = []
        fc1 = fc2 = None
        for kind in ("avg", "max"):
            p = g.global_pool(y, f"{name}_cbam_{kind}", kind, keepdims=True)
            suffix = "" if kind == "avg" else "_max"  # the max pool's pass reuses the average pool's layers
            h = g.conv(p, f"{name}_cbam_fc1{suffix}", hidden, 1, bias=a.bias, shares=fc1)
            fc1 = fc1 or h
            h = g.conv(g.act(h, f"{name}_cbam_fc1{suffix}"), f"{name}_cbam_fc2{suffix}", y.channels, 1,
                       bias=a.bias, shares=fc2)
            fc2 = fc2 or h
            pooled.append(h)
        gate = g.act(g.add(tuple(pooled), f"{name}_cbam_channel_add"), name=f"{name}_cbam_channel_gate",
                     kind="sigmoid")
    y = g.multiply(y, gate, f"{name}_cbam_channel_scale")
    assert a.kernel is not None  # cbam's default (7) is filled in
    with g.gate():
        s = g.channel_pool(y, f"{name}_cbam_pools")
        s = g.conv_norm(s, f"{name}_cbam_spatial", 1, a.kernel)
        s = g.act(s, name=f"{name}_cbam_spatial_gate", kind="sigmoid")
    return g.multiply(y, s, f"{name}_cbam_spatial_scale")


def _global_context(g: Graph, y: Tensor, a: Attention, block_input: int, name: str) -> Tensor:
    """Cao et al. 2019: pool the positions weighted by a softmax of a 1x1 conv's logits, transform the
    context (1x1 conv, LayerNorm, ReLU, 1x1 conv), then scale by its sigmoid (gc) or add it (gca)."""
    with g.gate():
        logits = g.conv(y, f"{name}_gc_attn", 1, 1, bias=True)
        c = g.attention_pool(y, logits, f"{name}_gc_pool")
        c = g.conv(c, f"{name}_gc_fc1", a.hidden(y.channels, block_input), 1, bias=True)
        c = g.act(g.layer_norm(c, f"{name}_gc_fc1"), f"{name}_gc_fc1")
        c = g.conv(c, f"{name}_gc_fc2", y.channels, 1, bias=True)
        if a.type == "gc":
            c = g.act(c, name=f"{name}_gc_gate", kind="sigmoid")
    if a.type == "gc":
        return g.multiply(y, c, f"{name}_gc_scale")
    return g.add((y, c), f"{name}_gc_add")


MODULES: dict[str, Callable[[Graph, Tensor, Attention, int, str], Tensor]] = {
    "se": _squeeze_excite, "ese": _effective_se, "eca": _efficient_channel, "cbam": _cbam,
    "gc": _global_context, "gca": _global_context,
}
