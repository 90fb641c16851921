"""What a residual block does around its branch: attention, drop-path and the merge.

Each is a spec field, not a block class: ``attention`` (``attention.attend``), ``merge: weighted``
(Shen & Zeng 2016; ReZero/SkipInit with ``merge_init: 0``) and ``shortcut: highway``
(Srivastava et al. 2015) on basic and bottleneck stages, and the network's
``defaults.drop_path`` (stochastic depth, Huang et al. 2016). ``residual_block`` passes its
branch output through ``gate_branch`` and joins it to the shortcut with ``merge``.
"""

from __future__ import annotations

from ...spec.schema import ResidualStage
from ..ir import Graph, Tensor
from .attention import attend


def drop_path_rate(last: float, block: int, blocks: int) -> float:
    """Huang et al. 2016's linear decay: block ``block`` of ``blocks`` (1-based) drops with this probability.

    The last block drops with probability ``last`` (their p_L); timm counts from 0 instead, so its
    first block never drops.
    """
    return block / blocks * last


def gate_branch(g: Graph, y: Tensor, stage: ResidualStage, block_input: int, name: str, residual: bool) -> Tensor:
    """Attention placed at the branch's end, then drop-path, just before the merge (timm's order); a block without a
    shortcut (``residual`` false) drops nothing, its branch being all it has.

    Every residual block passes here once, so this is where the network-wide block count advances.
    """
    block = g.next_block()
    if stage.attention and stage.attention.at == "end":
        y = attend(g, y, stage.sized_attention, block_input, name)
    if g.defaults.drop_path and residual:
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
        with g.gate():
            gate = g.conv(pre, f"{block}_0_gate", branch.channels, 1, stride=stride, bias=True,
                          bias_init=stage.gate_bias)
            gate = g.act(gate, name=f"{block}_0_gate_sigmoid", kind="sigmoid")
        return g.highway(shortcut, branch, gate, name)
    if stage.merge == "weighted":
        return g.weighted_add(shortcut, branch, name, stage.merge_init, block=g.block)
    return g.add((shortcut, branch), name, block=g.block)
