"""Dual path stages (Chen et al. 2017; timm's ``dpn.py``): one bottleneck feeds two paths.

Each block's last 1x1 conv is split: its first ``residual_width`` channels are added to the
residual path, the other ``increment`` are concatenated to the dense path, and the block's
output is the two paths side by side. The first block of a stage projects its input onto both
paths. Names: ``{block}_0_*`` the projection, ``_1_*`` to ``_3_*`` the BN-ReLU-conv layers,
``_0_res``/``_0_dense`` and ``_3_res``/``_3_dense`` the splits, ``_add``, ``_concat``, ``_out``.
"""

from __future__ import annotations

from ...spec.schema import DualPathStage
from ..ir import Graph, Tensor
from .residual import BranchConv


def dual_path_stage(g: Graph, x: Tensor, stage: DualPathStage, name: str) -> Tensor:
    paths = None  # the residual and the dense path the previous block left
    for b in range(stage.depth):
        block = f"{name}_block{b + 1}"
        with g.recomputed(block if stage.memory_efficient else None):
            x, paths = _block(g, x, paths, stage, stage.stride if b == 0 else 1, block)
    return x


def _block(g: Graph, x: Tensor, paths: tuple[Tensor, Tensor] | None, stage: DualPathStage, stride: int,
           prefix: str) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One block: the first projects ``x`` into both paths; each adds to the residual path and grows the
    dense one, and returns their concatenation with the two paths."""
    res, inc = stage.residual_width, stage.increment
    if paths is None:
        with g.shortcut():
            proj = g.conv(g.norm_act(x, f"{prefix}_0"), f"{prefix}_0", res + 2 * inc, 1, stride=stride)
            paths = _split(g, proj, res, f"{prefix}_0")
    convs = [BranchConv(stage.width, 1), BranchConv(stage.inner_width, 3, stride, stage.groups)]
    y = x
    for i, conv in enumerate(convs, start=1):
        y = g.conv(g.norm_act(y, f"{prefix}_{i}"), f"{prefix}_{i}", conv.filters, conv.kernel,
                   stride=conv.stride, groups=conv.groups, normalized=True)
    y = g.norm_act(y, f"{prefix}_3")
    if stage.separate_outputs:
        y_res, y_dense = g.conv(y, f"{prefix}_3_res", res, 1), g.conv(y, f"{prefix}_3_dense", inc, 1)
    else:
        y_res, y_dense = _split(g, g.conv(y, f"{prefix}_3", res + inc, 1), res, f"{prefix}_3")
    resid = g.add((paths[0], y_res), f"{prefix}_add")
    dense = g.concat((paths[1], y_dense), f"{prefix}_concat")
    return g.concat((resid, dense), f"{prefix}_out"), (resid, dense)


def _split(g: Graph, x: Tensor, at: int, prefix: str) -> tuple[Tensor, Tensor]:
    """Channels before ``at`` for the residual path, the rest for the dense path."""
    return g.slice(x, f"{prefix}_res", 0, at), g.slice(x, f"{prefix}_dense", at, x.channels)
