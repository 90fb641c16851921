"""Veit et al. 2016's unravelled view of a residual net: the paths its blocks open (no TensorFlow).

Each residual block offers a signal two ways on, through its branch or along its shortcut, so a
net of n residual blocks holds 2^n paths, and C(n, k) of them pass through k branches (length k).
The lengths are binomial: most paths are about n / 2 blocks deep. Plain and dense blocks offer
one way on and add no paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from .schema import ModelSpec


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


def paths_table(spec: ModelSpec) -> str:
    p = path_lengths(spec)
    if not p.blocks:
        return f"{spec.name}: no residual blocks, so one path through every layer"
    half = 0.95 * p.total  # a window of lengths around n / 2 holding 95% of the paths
    lo = hi = p.blocks // 2
    while sum(p.counts[lo:hi + 1]) < half:
        lo, hi = max(lo - 1, 0), min(hi + 1, p.blocks)
    width = max(len(f"{p.total:,}"), 5)
    lines = [(f"{spec.name}: {p.blocks} residual blocks, 2^{p.blocks} = {p.total:,} paths; lengths are binomial, "
              f"mean {p.mean:g} blocks, 95% of paths pass through {lo} to {hi} branches"),
             f"  {'length':>6} {'paths':>{width}} {'share':>8}"]
    for k, count in enumerate(p.counts):
        lines.append(f"  {k:>6} {count:>{width},} {count / p.total:>8.2%}")
    return "\n".join(lines)
