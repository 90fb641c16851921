"""Graph -> ``keras.Model``: one Keras layer per planned node, with the node's name.

The translation is a table from op to layer constructor; the planner decides
everything else, so a new block family needs no change here unless it brings
a new kind of layer.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Callable

import keras

from ..graph.ir import Graph, Node
from ..graph.plan import plan
from ..spec.schema import ModelSpec
from .layers import (
    AttentionPool,
    BlurPool2D,
    ChannelConv,
    ChannelPad,
    ChannelPool,
    ChannelSlice,
    DropPath,
    EvoNormB0,
    EvoNormS0,
    FilterResponseNorm,
    GradientRoute,
    GroupedConv2D,
    HaloAttention,
    HighwayMerge,
    InputNormalization,
    LambdaAttention,
    LowestPadding2D,
    RadixSelect,
    Recompute,
    RelativeSelfAttention,
    StandardizedConv2D,
    StridedDilatedConv2D,
    WeightedAdd,
    planned_layers,
)


def build_graph(graph: Graph, name: str, native_grouped: bool = False, routed: bool = False,
                input_tensor: Any = None) -> keras.Model:
    """``native_grouped`` builds grouped convs as Keras's ``Conv2D(groups=g)`` (for comparisons).

    ``routed`` adds a second input, ``route`` (one 0/1 switch per residual block and sample), and a
    ``GradientRoute`` pair before every residual add: outputs are unchanged, but each sample's
    gradient passes block i's branch where its switch i is 1 and the shortcut where it is 0
    (Veit et al. 2016's path sampling, ``archspec paths --measure``). ``input_tensor`` (a Keras tensor, or a
    backend tensor Keras wraps) is what the first layer is applied to, as keras.applications' ``input_tensor``:
    the model's inputs are then its source inputs.
    """
    d = graph.defaults
    regularizer = keras.regularizers.L2(d.l2) if d.l2 else None
    weights = {"kernel_initializer": d.initializer, "kernel_regularizer": regularizer}

    def conv(n: Node) -> keras.layers.Layer:
        a = n.attrs
        bias_init = keras.initializers.Constant(a["bias_init"]) if a["bias_init"] else "zeros"  # highway
        cls = GroupedConv2D if a["groups"] > 1 and not native_grouped else keras.layers.Conv2D
        extra = {}
        if a["stride"] > 1 and a["dilation"] > 1:  # SK's dilated path on a strided block
            cls = StridedDilatedConv2D
        elif a["standardize"]:
            cls, extra = StandardizedConv2D, {"epsilon": a["standardize"]}
        return cls(
            a["filters"], a["kernel"], strides=a["stride"], padding=a["padding"], groups=a["groups"],
            use_bias=a["bias"], bias_initializer=bias_init, dilation_rate=a["dilation"], name=n.name, **weights,
            **extra,
        )

    def norm(n: Node) -> keras.layers.Layer:
        a = n.attrs
        common = {"epsilon": a["epsilon"], "name": n.name, "gamma_initializer": "zeros" if a["zero_init"] else "ones"}
        if a["kind"] == "batch":
            return keras.layers.BatchNormalization(momentum=a["momentum"], **common)
        if a["kind"] == "group":
            return keras.layers.GroupNormalization(a["groups"], **common)
        if a["kind"] == "frn":
            return FilterResponseNorm(activated=a["activated"], **common)
        if a["kind"] == "evonorm_b0":
            return EvoNormB0(a["momentum"], activated=a["activated"], **common)
        return EvoNormS0(a["groups"], activated=a["activated"], **common)

    def pool(n: Node) -> keras.layers.Layer:
        a = n.attrs
        cls = keras.layers.MaxPooling2D if a["kind"] == "max" else keras.layers.AveragePooling2D
        return cls(a["size"], strides=a["stride"], padding=a["padding"], name=n.name)

    def global_pool(n: Node) -> keras.layers.Layer:
        cls = keras.layers.GlobalMaxPooling2D if n.attrs["kind"] == "max" else keras.layers.GlobalAveragePooling2D
        return cls(keepdims=n.attrs["keepdims"], name=n.name)

    def dense(n: Node) -> keras.layers.Layer:
        a = n.attrs
        # Under a mixed-precision policy the classifier still computes in float32 (stable softmax and loss).
        dtype = "float32" if n is graph.nodes[-1] else None
        return keras.layers.Dense(a["units"], activation=a["activation"], use_bias=a["bias"], name=n.name,
                                  dtype=dtype, **weights)

    layer_for: dict[str, Callable[[Node], keras.layers.Layer]] = {
        "conv": conv,
        "norm": norm,
        "act": lambda n: keras.layers.Activation(n.attrs["kind"], name=n.name),
        "preprocess": lambda n: InputNormalization(  # float32 under any policy: pixel values 0..255 need it
            n.attrs["scale"], list(n.attrs["mean"]), list(n.attrs["std"]), n.attrs["reverse_channels"],
            name=n.name, dtype="float32"),
        "zero_pad": lambda n: keras.layers.ZeroPadding2D(n.attrs["pad"], name=n.name),
        "lowest_pad": lambda n: LowestPadding2D(n.attrs["pad"], name=n.name),
        "pool": pool,
        "blur_pool": lambda n: BlurPool2D(n.attrs["size"], n.attrs["stride"], name=n.name),
        "channel_pad": lambda n: ChannelPad(n.attrs["channels"], name=n.name),
        "add": lambda n: keras.layers.Add(name=n.name),
        "concat": lambda n: keras.layers.Concatenate(axis=-1, name=n.name),
        "slice": lambda n: ChannelSlice(n.attrs["start"], n.attrs["stop"], name=n.name),
        "global_pool": global_pool,
        "flatten": lambda n: keras.layers.Flatten(name=n.name),
        "channel_conv": lambda n: ChannelConv(n.attrs["kernel"], name=n.name, **weights),
        "channel_pool": lambda n: ChannelPool(name=n.name),
        "attention_pool": lambda n: AttentionPool(name=n.name),
        "radix_select": lambda n: RadixSelect(n.attrs["radix"], n.attrs["groups"], name=n.name),
        "self_attention": lambda n: RelativeSelfAttention(n.attrs["heads"], n.attrs["dim_qk"], n.attrs["dim_v"],
                                                          name=n.name),
        "halo_attention": lambda n: HaloAttention(n.attrs["heads"], n.attrs["dim_qk"], n.attrs["dim_v"],
                                                  n.attrs["block_size"], n.attrs["halo_size"], name=n.name),
        "lambda_attention": lambda n: LambdaAttention(n.attrs["heads"], n.attrs["context"], name=n.name),
        "layer_norm": lambda n: keras.layers.LayerNormalization(epsilon=n.attrs["epsilon"], name=n.name),
        "multiply": lambda n: keras.layers.Multiply(name=n.name),
        "weighted_add": lambda n: WeightedAdd(n.attrs["init"], name=n.name),
        "highway": lambda n: HighwayMerge(name=n.name),
        "drop_path": lambda n: DropPath(n.attrs["rate"], name=n.name),
        "dropout": lambda n: keras.layers.Dropout(n.attrs["rate"], name=n.name),
        "dense": dense,
    }

    _allow_recursion_for(len(graph.nodes))
    shape = (None, None, graph.nodes[0].shape[2]) if graph.any_size else graph.nodes[0].shape
    inputs = (keras.Input(shape=shape, name=graph.nodes[0].name) if input_tensor is None
              else input_tensor if keras.backend.is_keras_tensor(input_tensor)
              else keras.Input(tensor=input_tensor, name=graph.nodes[0].name))
    route = keras.Input(shape=(graph.blocks,), name="route") if routed else None
    tensors: dict[str, Any] = {graph.nodes[0].name: inputs}
    built: dict[str, keras.layers.Layer] = {}  # node name -> its layer, for the nodes that share one
    reads = Counter([i for n in graph.nodes for i in n.inputs] + list((graph.outputs or {}).values()))
    for nodes in _runs(graph.nodes[1:], grouped=not routed):
        for n in nodes:  # one at a time: a node may share the layer of one before it in its group
            built[n.name] = built[n.attrs["shares"]] if n.attrs.get("shares") else layer_for[n.op](n)
        layers = [built[n.name] for n in nodes]
        if len(nodes) > 1:  # a recompute group, one layer
            group = _Group(nodes, layers, reads)
            results = Recompute(group.members, group.wiring, group.returns, name=nodes[0].recompute)(
                [tensors[i] for i in group.inputs])
            tensors.update(zip(group.outputs, results if len(group.outputs) > 1 else [results]))
            continue
        args = [tensors[i] for i in nodes[0].inputs]
        if route is not None and nodes[0].attrs.get("block"):  # a residual merge of (shortcut, branch)
            block, merge = nodes[0].attrs["block"] - 1, nodes[0].name
            args = [GradientRoute(block, shortcut=True, name=f"{merge}_route_shortcut")([args[0], route]),
                    GradientRoute(block, name=f"{merge}_route_branch")([args[1], route])]
        tensors[nodes[0].name] = layers[0](args if len(args) > 1 else args[0])
    outputs = ({key: tensors[node] for key, node in graph.outputs.items()} if graph.outputs
               else tensors[graph.nodes[-1].name])
    sources = inputs if input_tensor is None else keras.utils.get_source_inputs(inputs)
    sources = sources[0] if isinstance(sources, list) and len(sources) == 1 else sources
    return keras.Model([inputs, route] if routed else sources, outputs, name=name)


def _allow_recursion_for(layers: int) -> None:
    """Keras walks functional graphs recursively (building, saving, loading, tracing), a few
    frames per layer, so 1000-layer nets need more than Python's default limit of 1000 frames.
    The limit is raised, never lowered, and stays raised for the model's later use."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * layers + 1000))


def _runs(nodes: list[Node], grouped: bool) -> list[list[Node]]:
    """Nodes one by one, except that a recompute group comes as one run (when ``grouped``: a routed
    model's gradient routes sit inside blocks, so it recomputes nothing)."""
    runs: list[list[Node]] = []
    for node in nodes:
        if grouped and node.recompute and runs and runs[-1][-1].recompute == node.recompute:
            runs[-1].append(node)
        else:
            runs.append([node])
    return runs


class _Group:
    """How a recompute group's nodes connect: the tensors it reads from outside (``inputs``), its layers
    (``members``, a shared one once), each node's member and what it reads as indices into those inputs and the
    nodes' outputs (``wiring``), and the nodes the rest of the graph reads (``outputs``, their indices
    ``returns``)."""

    def __init__(self, nodes: list[Node], layers: list[keras.layers.Layer], reads: Counter[str]) -> None:
        inside = [n.name for n in nodes]
        self.inputs = list(dict.fromkeys(i for n in nodes for i in n.inputs if i not in inside))
        index = {name: k for k, name in enumerate(self.inputs + inside)}
        self.members = list({id(layer): layer for layer in layers}.values())
        member = {id(layer): k for k, layer in enumerate(self.members)}
        self.wiring = [[member[id(layer)], [index[i] for i in n.inputs]] for n, layer in zip(nodes, layers)]
        reads_inside = Counter(i for n in nodes for i in n.inputs)  # ``reads``: by every node and the outputs
        self.outputs = [name for name in inside if name == inside[-1] or reads[name] > reads_inside[name]]
        self.returns = [index[name] for name in self.outputs]


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Every weighted layer of ``target`` takes the weights of ``source``'s layer of the same name."""
    from ..spec.errors import SpecError

    found = {layer.name: layer for layer in planned_layers(source)}
    for layer in planned_layers(target):
        if not layer.weights:
            continue
        if layer.name not in found:
            raise SpecError(f"cannot copy weights: model {source.name!r} has no layer {layer.name!r}")
        theirs = found[layer.name].get_weights()
        mine = layer.get_weights()
        if [w.shape for w in theirs] != [w.shape for w in mine]:
            raise SpecError(f"cannot copy weights into layer {layer.name!r}: it holds shapes "
                            f"{[w.shape for w in mine]}, model {source.name!r} gives {[w.shape for w in theirs]}")
        layer.set_weights(theirs)


def build_spec(spec: ModelSpec, native_grouped: bool = False) -> keras.Model:
    return build_graph(plan(spec), spec.name, native_grouped)
