"""Dense stages (Huang et al. 2017): pre-activation layers, each concatenated to its input.

Layer names follow keras.applications.DenseNet, so weights copy across by name: a layer is
``{block}_0_bn``, ``_0_relu``, ``_1_conv`` (the 1x1 bottleneck), ``_1_bn``, ``_1_relu``, ``_2_conv``
(the 3x3), ``_concat``; the transition into stage ``conv{n}`` is ``pool{n-1}_bn``, ``_relu``,
``_conv``, ``_pool``.
"""

from __future__ import annotations

from ...spec.schema import DenseStage
from ..ir import Graph, Tensor


def dense_stage(g: Graph, x: Tensor, stage: DenseStage, name: str) -> Tensor:
    if stage.stride > 1:
        x = _transition(g, x, stage, _pool_name(name))
    if stage.memory_efficient:
        return _memory_efficient_block(g, x, stage, name)
    for b in range(stage.depth):
        x = _dense_layer(g, x, stage, f"{name}_block{b + 1}")
    return x


def _memory_efficient_block(g: Graph, x: Tensor, stage: DenseStage, name: str) -> Tensor:
    """Each layer reads the list of all earlier features and concatenates them itself, inside a
    recompute group with its BN-ReLU and first conv, so no growing concatenation is ever stored
    (Pleiss et al. 2017); the block's output is one concatenation of every feature."""
    features = [x]
    for b in range(stage.depth):
        layer = f"{name}_block{b + 1}"
        with g.recomputed(layer):
            y = g.concat(tuple(features), f"{layer}_0_concat") if len(features) > 1 else features[0]
            y = g.conv(g.norm_act(y, f"{layer}_0"), f"{layer}_1", *_convs(stage)[0],
                       normalized=stage.bn_size is not None)
        features.append(_dense_layer_tail(g, y, stage, layer))
    return g.concat(tuple(features), f"{name}_concat")


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


def _convs(stage: DenseStage) -> list[tuple[int, int]]:
    """(filters, kernel) of a dense layer: an optional 1x1 of bn_size*k (DenseNet-B), a 3x3 of k."""
    k = stage.growth_rate
    return [(stage.bn_size * k, 1), (k, 3)] if stage.bn_size else [(k, 3)]


def _dense_layer(g: Graph, x: Tensor, stage: DenseStage, name: str) -> Tensor:
    """BN-ReLU-conv pairs, then the concat with the layer's input (keras.applications' form)."""
    first = g.conv(g.norm_act(x, f"{name}_0"), f"{name}_1", *_convs(stage)[0],
                   normalized=stage.bn_size is not None)
    return g.concat((x, _dense_layer_tail(g, first, stage, name)), f"{name}_concat")


def _dense_layer_tail(g: Graph, y: Tensor, stage: DenseStage, name: str) -> Tensor:
    """The BN-ReLU-3x3 after a bottleneck conv; nothing when the first conv is the 3x3."""
    convs = _convs(stage)
    return g.conv(g.norm_act(y, f"{name}_1"), f"{name}_2", *convs[1]) if len(convs) > 1 else y
