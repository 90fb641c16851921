"""What a residual block does around its branch: squeeze-excitation, drop-path and the merge.

Each is a spec field, not a block class: ``se_ratio`` (Hu et al. 2018), ``merge: weighted``
(Shen & Zeng 2016; ReZero/SkipInit with ``merge_init: 0``) and ``shortcut: highway``
(Srivastava et al. 2015) on basic and bottleneck stages, and the network's
``defaults.drop_path`` (stochastic depth, Huang et al. 2016). ``residual_block`` passes its
branch output through ``gate_branch`` and joins it to the shortcut with ``merge``.
"""

from __future__ import annotations

from ...spec.schema import ResidualStage
from ..ir import Graph, Tensor


def squeeze_excite(g: Graph, y: Tensor, ratio: int, name: str) -> Tensor:
    """Scale each channel of ``y`` by a gate computed from every channel's mean (Hu et al. 2018).

    Global average pool kept as a 1x1 map, 1x1 conv down to ``channels // ratio``, activation,
    1x1 conv back up, sigmoid, multiply. Both convs have biases, as in SENet and timm.
    """
    with g.shortcut():  # off the main path: SE-ResNet-50 keeps the depth 50
        s = g.global_pool(y, f"{name}_se_squeeze", "avg", keepdims=True)
        s = g.act(g.conv(s, f"{name}_se_reduce", y.channels // ratio, 1, bias=True), f"{name}_se_reduce")
        s = g.conv(s, f"{name}_se_expand", y.channels, 1, bias=True)
        s = g.act(s, name=f"{name}_se_gate", kind="sigmoid")
    return g.multiply(y, s, f"{name}_se_scale")


def drop_path_rate(last: float, block: int, blocks: int) -> float:
    """Huang et al. 2016's linear decay: block ``block`` of ``blocks`` (1-based) drops with this probability.

    The last block drops with probability ``last`` (their p_L); timm counts from 0 instead, so its
    first block never drops.
    """
    return block / blocks * last


def gate_branch(g: Graph, y: Tensor, stage: ResidualStage, name: str) -> Tensor:
    """SE, then drop-path, on a block's branch output just before the merge (timm's order).

    Every residual block passes here once, so this is where the network-wide block count advances.
    """
    block = g.next_block()
    if stage.se_ratio:
        y = squeeze_excite(g, y, stage.se_ratio, name)
    if g.defaults.drop_path:
        y = g.drop_path(y, f"{name}_drop_path", drop_path_rate(g.defaults.drop_path, block, g.blocks))
    return y


def merge(g: Graph, shortcut: Tensor, branch: Tensor, *, pre: Tensor, stage: ResidualStage,
          stride: int, block: str, name: str) -> Tensor:
    """Join the shortcut and the branch into the layer ``name``: add, weighted add, or highway.

    The highway gate T is a 1x1 conv with a bias starting at ``gate_bias`` and the block's stride,
    read from the block's (pre-activated) input ``pre`` like a projection, then a sigmoid; the
    output is T * branch + (1 - T) * shortcut.
    """
    if stage.shortcut == "highway":
        with g.shortcut():
            gate = g.conv(pre, f"{block}_0_gate", branch.channels, 1, stride=stride, bias=True,
                          bias_init=stage.gate_bias)
            gate = g.act(gate, name=f"{block}_0_gate_sigmoid", kind="sigmoid")
        return g.highway(shortcut, branch, gate, name)
    if stage.merge == "weighted":
        return g.weighted_add(shortcut, branch, name, stage.merge_init, block=g.block)
    return g.add((shortcut, branch), name, block=g.block)
