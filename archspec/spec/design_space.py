"""pycls's design space (Radosavovic et al. 2019, 2020) as spec data.

An AnyNet stage is an ordinary bottleneck stage (depth, width, bottleneck ratio as ``widen``, group
width, SE ratio as an attention ``ratio_of: input``). A RegNet is four numbers and a depth: its
``regnet:`` field expands, before the spec is checked, into the stages it stands for, so every
tool (``validate``, ``zoo show``, the planner) sees ordinary stages.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .strict import StrictModel

PositiveInt = Annotated[int, Field(gt=0, le=100_000, strict=True)]


class RegNet(StrictModel):
    """The RegNet generator: block j of ``depth`` has width u_j = w0 + wa * j, snapped to w0 * wm^k for
    the nearest whole k, then to a multiple of ``quant``; blocks of equal width form a stage."""

    w0: PositiveInt = Field(description="Width of the first block (a multiple of quant).")
    wa: float = Field(ge=0, le=10_000, description="Slope: the widths grow by wa per block before snapping.")
    wm: float = Field(gt=1, le=100, description="Width multiplier between stages (the snapping grid's base).")
    depth: PositiveInt = Field(le=500, description="Blocks in all stages.")
    group_width: PositiveInt = Field(description="Channels per group of the 3x3 convs.")
    bottleneck_ratio: float = Field(1.0, gt=0, le=8, description="3x3 width / block width (RegNet: 1).")
    se_ratio: float = Field(0.0, ge=0, lt=4, description="RegNetY: SE after the 3x3 squeezing to the block's "
                            "input width x se_ratio (0.25); 0: RegNetX, none.")
    quant: PositiveInt = Field(8, description="Widths are multiples of this.")
    stride: int = Field(2, ge=1, le=4, strict=True, description="Stride of every stage's first block.")
    order: Literal["post", "post_linear", "preact"] = Field(
        "post", description="The blocks' order: post (pycls); post_linear, without the activation after the sum "
        "(timm's RegNetZ); or preact (timm's RegNetV: each block opens with its norm and activation, which its "
        "identity shortcut carries too; SE sits right after the 3x3 conv).")
    shortcut: Literal["projection", "projection_D", "identity_or_none"] = Field(
        "projection", description="projection: a 1x1 conv wherever a block changes shape; projection_D: a 2x2 "
        "average pool before it where the block strides (timm's downsample 'avg'); identity_or_none: no shortcut "
        "where a block changes shape (timm's RegNetZ).")
    group_min_ratio: float = Field(
        0.0, ge=0, lt=1, description="How a 3x3 width snaps to a multiple of its group width. 0: to the nearest "
        "multiple (pycls, timm); r > 0: half up, at least one group, one group more where that falls below r x the "
        "width (torchvision's RegNets and timm's `_tv` names: 0.9).")

    @model_validator(mode="after")
    def _w0_on_the_grid(self) -> "RegNet":
        if self.w0 % self.quant:
            raise ValueError(f"w0 {self.w0} must be a multiple of quant {self.quant} (pycls's rule)")
        return self

    def block_widths(self) -> list[int]:
        """Each block's width (pycls's ``generate_regnet``, in float64 as its numpy code)."""
        widths = []
        for j in range(self.depth):
            k = round(math.log((self.w0 + self.wa * j) / self.w0) / math.log(self.wm))
            widths.append(int(round(self.w0 * self.wm ** k / self.quant) * self.quant))
        return widths

    def stages(self) -> list[dict]:
        """The stage dicts the spec stands for: runs of equal width, then each width adjusted so the 3x3 width
        is a multiple of the group width (the group width capped at the 3x3 width), as pycls does."""
        runs: list[list[int]] = []  # [width, depth]; widths never decrease (wa >= 0, wm > 1)
        for width in self.block_widths():
            if runs and runs[-1][0] == width:
                runs[-1][1] += 1
            else:
                runs.append([width, 1])
        stages = []
        for width, depth in runs:
            inner = int(width * self.bottleneck_ratio)
            group = min(self.group_width, inner)
            inner = self._snap(inner, group)
            stage = {"type": "bottleneck", "depth": depth, "width": int(inner / self.bottleneck_ratio),
                     "stride": self.stride, "shortcut": self.shortcut, "expansion": 1, "order": self.order,
                     "preact_shortcut": self.order == "preact",
                     "widen": self.bottleneck_ratio, "group_width": group}
            if self.se_ratio:
                stage["attention"] = {"type": "se", "at": "after_3x3", "ratio": self.se_ratio, "ratio_of": "input",
                                      "divisor": 1}
            stages.append(stage)
        return stages

    def _snap(self, width: int, group: int) -> int:
        """``width`` as a multiple of ``group``, by pycls's rule or, given ``group_min_ratio``, torchvision's."""
        if not self.group_min_ratio:
            return int(round(width / group) * group)
        snapped = max(group, (width + group // 2) // group * group)
        return snapped + group if snapped < self.group_min_ratio * width else snapped
