"""Veit et al. 2016's unravelled view of a residual net: the paths its blocks open (no TensorFlow).

Each residual block offers a signal two ways on, through its branch or along its shortcut, so a
net of n residual blocks holds 2^n paths, and C(n, k) of them pass through k branches (length k).
The lengths are binomial: most paths are about n / 2 blocks deep. Plain and dense blocks offer
one way on and add no paths. ``archspec.experiments.path_gradients`` measures how much gradient
the paths of each length carry in a trained net.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

from ..spec.schema import BasicStage, BottleneckStage, ModelSpec

SHARE = 0.95  # the paths_table window holds this share of the paths


@dataclass(frozen=True)
class PathLengths:
    blocks: int  # residual blocks: n
    counts: tuple[int, ...]  # counts[k]: paths through k branches, C(n, k)

    @property
    def total(self) -> int:
        return sum(self.counts)  # 2^n

    @property
    def mean(self) -> float:
        return self.blocks / 2


def path_lengths(spec: ModelSpec) -> PathLengths:
    n = spec.residual_blocks
    return PathLengths(n, tuple(comb(n, k) for k in range(n + 1)))


def branch_layers(spec: ModelSpec) -> int | None:
    """Weighted layers on one residual branch (2 basic, 3 bottleneck), so a path of k blocks is this
    times k layers deep; None when the net's residual stages differ."""
    kinds = {2 if isinstance(s, BasicStage) else 3 for s in spec.stages if isinstance(s, BasicStage | BottleneckStage)}
    return kinds.pop() if len(kinds) == 1 else None


def central_range(values: Sequence[float], share: float) -> tuple[int, int]:
    """The narrowest-grown window (lo, hi) of indices holding ``share`` of the sum of ``values``: it
    starts at the largest value and takes the larger neighbour first."""
    total, lo = sum(values), max(range(len(values)), key=values.__getitem__)
    hi, held = lo, values[lo]
    while held < share * total:
        left = values[lo - 1] if lo > 0 else -1.0
        right = values[hi + 1] if hi + 1 < len(values) else -1.0
        if right >= left:
            hi, held = hi + 1, held + right
        else:
            lo, held = lo - 1, held + left
    return lo, hi


def paths_table(spec: ModelSpec) -> str:
    p = path_lengths(spec)
    if not p.blocks:
        return f"{spec.name}: no residual blocks, so one path through every layer"
    lo, hi = central_range(p.counts, SHARE)
    width = max(len(f"{p.total:,}"), 5)
    lines = [(f"{spec.name}: {p.blocks} residual blocks, 2^{p.blocks} = {p.total:,} paths; lengths are binomial, "
              f"mean {p.mean:g} blocks, {SHARE:.0%} of paths pass through {lo} to {hi} branches"),
             f"  {'length':>6} {'paths':>{width}} {'share':>8}"]
    for k, count in enumerate(p.counts):
        lines.append(f"  {k:>6} {count:>{width},} {count / p.total:>8.2%}")
    return "\n".join(lines)
