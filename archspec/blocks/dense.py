"""Dense stages (Huang et al. 2017): pre-activation layers, each concatenated to its input.

Layer names follow keras.applications.DenseNet, so weights copy across by name: a layer is
``{block}_0_bn``, ``_0_relu``, ``_1_conv`` (the 1x1 bottleneck), ``_1_bn``, ``_1_relu``, ``_2_conv``
(the 3x3), ``_concat``; the transition into stage ``conv{n}`` is ``pool{n-1}_bn``, ``_relu``,
``_conv``, ``_pool``.
"""

from __future__ import annotations

from ..graph import Graph, Tensor
from ..schema import DenseStage


def dense_stage(g: Graph, x: Tensor, stage: DenseStage, name: str) -> Tensor:
    if stage.stride > 1:
        x = _transition(g, x, stage, _pool_name(name))
    for b in range(stage.depth):
        x = _dense_layer(g, x, stage, f"{name}_block{b + 1}")
    return x


def _pool_name(stage_name: str) -> str:
    """keras.applications calls the pooling after ``conv{n}`` ``pool{n}`` (the stem's is pool1)."""
    return f"pool{int(stage_name.removeprefix('conv')) - 1}"


def _transition(g: Graph, x: Tensor, stage: DenseStage, name: str) -> Tensor:
    """BN-ReLU, a 1x1 conv keeping ``compression`` of the channels (rounded down), average pool."""
    channels = int(x.channels * stage.compression)
    if channels < 1:
        raise g.fail(f"compression {stage.compression} of {x.channels} channels leaves none; raise compression")
    x = g.conv(g.norm_act(x, name), name, channels, 1)
    return g.pool(x, f"{name}_pool", "avg", stage.stride, stage.stride)


def _dense_layer(g: Graph, x: Tensor, stage: DenseStage, name: str) -> Tensor:
    """BN-ReLU-conv pairs: an optional 1x1 of bn_size*k (DenseNet-B), a 3x3 of k; then the concat."""
    k = stage.growth_rate
    convs = [(stage.bn_size * k, 1), (k, 3)] if stage.bn_size else [(k, 3)]
    y = x
    for i, (filters, kernel) in enumerate(convs):
        y = g.conv(g.norm_act(y, f"{name}_{i}"), f"{name}_{i + 1}", filters, kernel,
                   normalized=i + 1 < len(convs))
    return g.concat((x, y), f"{name}_concat")
