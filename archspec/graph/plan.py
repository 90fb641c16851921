"""Spec -> Graph: the stem, the stages (dispatched by block type) and the head.

Planning is pure Python and fast (a 1202-layer net plans in milliseconds), so
``validate`` runs it to catch whole-network errors without TensorFlow. A spec with more
than ``MAX_BLOCKS`` blocks is refused from its fields before any planning (the first of the
size guards; ``archspec.graph.guards`` has the others).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from ..spec.errors import PlanError
from ..spec.schema import Head, ModelSpec, PlainStage, Stem
from .blocks import STAGE_BUILDERS
from .ir import Graph, Tensor

MAX_BLOCKS = 5_000  # in all stages: 8 times ResNet-1202's 600; 5,000 of the heaviest blocks plan in a second


def _blocks(spec: ModelSpec) -> list[int]:
    """Blocks each stage repeats (a plain stage's convolutions count one each)."""
    return [s.depth * (s.convs if isinstance(s, PlainStage) else 1) for s in spec.stages]


def check_plan_size(spec: ModelSpec) -> None:
    """Refuse a spec with more than ``MAX_BLOCKS`` blocks, pointing at its largest stage."""
    counts = _blocks(spec)
    total = sum(counts)
    if total > MAX_BLOCKS:
        largest = max(range(len(counts)), key=counts.__getitem__)
        raise PlanError(
            f"the stages hold {total:,} blocks in all ({counts[largest]:,} in this one), more than the "
            f"{MAX_BLOCKS:,} a spec may have (ResNet-1202 has 600); lower the depths",
            ("stages", largest),
        )


REFERENCE_SIZE = 224  # the size an any-size network is planned (and its guards checked) at


def planned_shape(spec: ModelSpec) -> tuple[int, int, int]:
    """The input shape the graph is planned at: the spec's, or a reference size where it takes any size."""
    return (REFERENCE_SIZE, REFERENCE_SIZE, spec.input_shape[2]) if spec.any_size else spec.input_shape


def plan(spec: ModelSpec, lesion: Iterable[int] = (), features: bool = False,
         pooling: Literal["avg", "max"] | None = None) -> Graph:
    """``lesion``: blocks (1-based over the plain and residual stages' blocks, see ``Graph.units``)
    planned as their shortcut alone, residual ones, or as the identity, plain ones (Veit et al. 2016).

    ``features`` plans the backbone: no head (a pre-activation net keeps its final norm-act), and as
    outputs the last feature map at each resolution (``Graph.pyramid``), or with ``pooling`` that last
    map globally pooled into one vector (keras.applications' ``include_top=False, pooling=``).
    """
    check_plan_size(spec)  # before planning: a huge depth would take hours to refuse otherwise
    lesion = frozenset(lesion)
    g = Graph(spec.defaults, blocks=spec.residual_blocks, lesion=lesion, any_size=spec.any_size)
    x = g.input(planned_shape(spec))
    normalization = spec.input_normalization
    if normalization is not None:
        with g.at("input", ("preprocess",)):
            x = g.preprocess(x, "preprocess", normalization.scale, normalization.mean, normalization.std,
                             reverse_channels=normalization.channels == "bgr")
    with g.at("stem", ("stem",)):
        x = _stem(g, x, spec.stem)
    if spec.stem.type != "none":
        g.feature(x)
    for i, stage in enumerate(spec.stages):
        with g.at(f"stage{i + 1}", ("stages", i)), g.activated(stage.activation):
            x = STAGE_BUILDERS[stage.type](g, x, stage, f"conv{i + 2}")
        g.feature(x)
    with g.at("head", ("head",)):
        _ending(g, x, spec, features, pooling)
    if lesion:
        _check_lesion(g, lesion)
    if spec.rename:
        _rename(g, spec.rename)
    if features and not pooling:
        g.outputs = g.pyramid()
    return g


def _check_lesion(g: Graph, lesion: frozenset[int]) -> None:
    """Refuse blocks that do not exist, then drop the layers a lesion left unused (a pre-activation)."""
    wrong = sorted(i for i in lesion if not 1 <= i <= len(g.units))
    if wrong:
        raise PlanError(f"cannot remove block {wrong[0]}: this network has {len(g.units)} plain or residual "
                        f"blocks, numbered 1 to {len(g.units)}" if g.units else
                        f"cannot remove block {wrong[0]}: this network has no plain or residual blocks")
    used = {g.nodes[-1].name}
    for node in reversed(g.nodes):
        if node.name in used:
            used.update(node.inputs)
    g.nodes[:] = [n for n in g.nodes if n.name in used]


def _rename(g: Graph, names: dict[str, str]) -> None:
    """The spec's ``rename``: the same layers under another library's names."""
    planned = [n.name for n in g.nodes]
    for old in names:
        if old not in planned:
            close = difflib.get_close_matches(old, planned, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PlanError(f"no layer is named {old!r}{hint}", ("rename", old))
    final = [names.get(n, n) for n in planned]
    clashes = sorted(n for n, count in Counter(final).items() if count > 1)
    if clashes:
        raise PlanError(f"two layers would be named {clashes[0]!r}", ("rename",))
    g.nodes[:] = [node._replace(name=name, inputs=tuple(names.get(i, i) for i in node.inputs))
                  for node, name in zip(g.nodes, final)]
    g.feature_maps[:] = [names.get(n, n) for n in g.feature_maps]


def _stem(g: Graph, x: Tensor, stem: Stem) -> Tensor:
    """Layer names follow keras.applications (conv1_pad, conv1_conv, ..., pool1_pool)."""
    if stem.type == "none":
        return x
    if stem.type == "imagenet":
        x = g.zero_pad(x, "conv1_pad", stem.kernel // 2)
        x = g.conv(x, "conv1", stem.width, stem.kernel, stride=2, padding="valid")
        x = g.act(g.norm(x, "conv1"), "conv1") if stem.normalize else x
    elif stem.type == "cifar":
        x = g.conv(x, "conv1", stem.width, 3)
        x = g.act(g.norm(x, "conv1"), "conv1") if stem.normalize else x
    else:  # deep: three 3x3 convs, the first strided (ResNet-C, Bag of Tricks)
        first, second = stem.widths or (max(stem.width // 2, 1),) * 2
        x = g.conv_norm_act(x, "conv1_1", first, 3, stride=2)
        x = g.conv_norm_act(x, "conv1_2", second, 3)
        if stem.pool == "stride":  # timm's ByobNet stem without a pool: its last conv strides instead
            g.feature(x)
        x = g.conv(x, "conv1_3", stem.width, 3, stride=2 if stem.pool == "stride" else 1)
        x = g.act(g.norm(x, "conv1_3"), "conv1_3") if stem.normalize else x
    if stem.pool and stem.pool != "stride" and stem.type in ("imagenet", "deep"):
        g.feature(x)  # the stride-2 map before the pool
        if stem.pool == "conv":  # ResNet-RS: a strided conv in the max pool's place
            return g.conv_norm_act(x, "pool1", x.channels, 3, stride=2)
        if g.defaults.anti_alias == "avg":  # timm's resnetaa: a 2x2 average pool in the max pool's place
            return g.anti_aliased(x, "pool1_pool", 2)
        # keras.applications pads the pool with zeros, PyTorch (the symmetric padding mode) with -inf
        lowest = stem.pool_padding == "lowest" or (stem.pool_padding is None and g.defaults.padding == "symmetric")
        pad = g.lowest_pad if lowest else g.zero_pad
        stride = 1 if g.defaults.anti_alias else 2
        x = g.pool(pad(x, "pool1_pad", 1), "pool1_pool", "max", 3, stride)
        if g.defaults.anti_alias:  # blur: the max pool at stride 1, then the blur downsamples
            x = g.blur_pool(x, "pool1_aa")
    return x


def _ending(g: Graph, x: Tensor, spec: ModelSpec, features: bool, pooling: str | None) -> None:
    """What follows the last stage: the features' last layers, then the classifier head, or for a
    backbone nothing more, or the global pool it was asked for."""
    if spec.stages[-1].ends_unnormalized:  # pre-activation sums and dense concats
        x = g.norm_act(x, "post") if spec.head.final_norm else g.act(x, "post")
        g.feature(x)
    if spec.head.conv:  # timm's RegNetZ: a 1x1 conv-norm-act widening the features
        x = g.conv_norm_act(x, "head", spec.head.conv, 1)
        g.feature(x)
    elif spec.stages[-1].ends_unactivated:  # timm's RegNetZ without that conv: the activation alone
        x = g.act(x, "post")
        g.feature(x)
    if spec.head.max_pool:  # VGG's last pool, the end of its features (torchvision's vgg.features)
        x = g.pool(x, "head_pool", "max", spec.head.max_pool, spec.head.max_pool)
        g.feature(x)
    if not features:
        _head(g, x, spec.head, spec.num_classes)
    elif pooling:
        g.global_pool(x, f"{pooling}_pool", pooling)


def _head(g: Graph, x: Tensor, head: Head, num_classes: int) -> Tensor:
    """Pooling, hidden layers (keras.applications VGG names: flatten, fc1, fc2) and the classifier."""
    if head.pooling == "flatten":
        x = g.flatten(x, "flatten")
    else:
        x = g.global_pool(x, f"{head.pooling}_pool", head.pooling)
    for i, units in enumerate(head.hidden, start=1):
        x = g.dense(x, f"fc{i}", units, g.defaults.activation)
        if head.dropout:
            x = g.dropout(x, f"fc{i}_dropout", head.dropout)
    if head.dropout and not head.hidden:
        x = g.dropout(x, "head_dropout", head.dropout)
    return g.dense(x, "predictions", num_classes, head.activation)
