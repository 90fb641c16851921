"""Stage builders by block type: each writes a stage's layers into a Graph."""

from __future__ import annotations

from typing import Callable

from ..ir import Graph, Tensor
from .dense import dense_stage
from .dual_path import dual_path_stage
from .residual import plain_stage, residual_stage

StageBuilder = Callable[[Graph, Tensor, object, str], Tensor]

STAGE_BUILDERS: dict[str, StageBuilder] = {
    "plain": plain_stage,
    "basic": residual_stage,
    "bottleneck": residual_stage,
    "dense": dense_stage,
    "dual_path": dual_path_stage,
}
