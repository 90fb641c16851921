"""A network as an ordered list of named layer nodes with shapes, params and MACs.

The planner (``archspec.graph.plan``) writes a spec into this form; ``archspec.graph.complexity``
sums it and ``archspec.keras.builder`` translates it node for node into Keras layers.
Both read the same nodes, so the analytic figures and the built model describe
one network. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, NamedTuple

from ..spec.errors import PlanError
from ..spec.schema import GROUPED_NORMS, SELF_ACTIVATED_NORMS, Defaults

Shape = tuple[int, ...]  # (height, width, channels) for maps, (channels,) for vectors
Branch = Literal["main", "shortcut", "gate"]  # the path a node is on: see ``Graph.shortcut`` and ``Graph.gate``


@dataclass(frozen=True)
class Tensor:
    """A handle on a node's output while the plan is being written."""

    node: str
    shape: Shape

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def size(self) -> str:
        return "x".join(str(d) for d in self.shape)


class Node(NamedTuple):
    """One planned layer. Immutable, and a named tuple rather than a frozen dataclass: the zoo's entries plan about
    90,000 of them for ``archspec zoo list``, which a frozen dataclass's constructor makes three times slower."""

    name: str
    op: str
    inputs: tuple[str, ...]
    shape: Shape
    attrs: dict[str, Any]
    scope: str
    params: int = 0  # trainable weights
    state: int = 0  # non-trainable weights (batch-norm moving statistics)
    macs: int = 0
    branch: Branch = "main"
    recompute: str | None = None  # nodes sharing a group name are rematerialised together


def _conv_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


@dataclass
class Graph:
    """Accumulates nodes; each method adds one layer and returns its output."""

    defaults: Defaults
    nodes: list[Node] = field(default_factory=list)
    scope: str = "input"
    path: tuple[str | int, ...] = ()
    blocks: int = 0  # residual blocks in the whole network (stochastic depth's L)
    block: int = 0  # residual blocks planned so far
    lesion: frozenset[int] = frozenset()  # blocks (1-based, plain and residual) planned as their shortcut
    units: list[tuple[str, bool]] = field(default_factory=list)  # every plain/residual block: name, removable
    feature_maps: list[str] = field(default_factory=list)  # stem and stage outputs, in order (see ``pyramid``)
    outputs: dict[str, str] | None = None  # the model's named outputs (a backbone's pyramid); None: the last node
    any_size: bool = False  # planned at a reference size for a model that takes images of any size
    _branch: Branch = "main"
    _recompute: str | None = None
    _activation: str | None = None  # a stage's own activation (``activated``)
    _names: set[str] = field(default_factory=set)

    @contextmanager
    def at(self, scope: str, path: tuple[str | int, ...]) -> Iterator[None]:
        """Tag the nodes added inside with a scope (for per-stage figures) and a spec path (for errors)."""
        saved = self.scope, self.path
        self.scope, self.path = scope, path
        try:
            yield
        finally:
            self.scope, self.path = saved

    @contextmanager
    def _on(self, branch: Branch) -> Iterator[None]:
        saved, self._branch = self._branch, branch
        try:
            yield
        finally:
            self._branch = saved

    @contextmanager
    def activated(self, kind: str | None) -> Iterator[None]:
        """Activations added inside are ``kind`` where they would be the network's (a stage's own; None: as they
        were)."""
        saved, self._activation = self._activation, kind or self._activation
        try:
            yield
        finally:
            self._activation = saved

    def shortcut(self) -> AbstractContextManager[None]:
        """Mark nodes as a shortcut's (a projection, a pool): off the main path, so they add no depth."""
        return self._on("shortcut")

    def gate(self) -> AbstractContextManager[None]:
        """Mark nodes as computing an attention or gating weight (SE, ECA, CBAM, GC, SK, split attention,
        a highway gate): off the main path like a shortcut's, and drawn as a branch of their own."""
        return self._on("gate")

    @contextmanager
    def recomputed(self, group: str | None) -> Iterator[None]:
        """Nodes added inside form one group the builder recomputes in the backward pass (``None``: as
        they were, so a stage writes ``g.recomputed(name if stage.memory_efficient else None)``)."""
        saved, self._recompute = self._recompute, group or self._recompute
        try:
            yield
        finally:
            self._recompute = saved

    def feature(self, x: Tensor) -> None:
        """Mark ``x`` as a feature map a backbone may output (a stem's or a stage's output)."""
        self.feature_maps.append(x.node)

    def pyramid(self) -> dict[str, str]:
        """The last marked feature map at each resolution, keyed ``P{k}`` for stride 2**k (keras-hub's
        ``pyramid_outputs``: P2 is stride 4, P5 stride 32); k is log2(input size / map size), rounded."""
        size = self.nodes[0].shape[0]
        shapes = {n.name: n.shape for n in self.nodes}
        return {f"P{round(math.log2(size / shapes[name][0]))}": name for name in self.feature_maps}

    def fail(self, message: str) -> PlanError:
        return PlanError(message, self.path)

    def next_block(self) -> int:
        """Count one more residual block and return its 1-based index in the whole network."""
        self.block += 1
        return self.block

    def lesioned(self, name: str, removable: bool) -> bool:
        """Count one more plain or residual block (a lesion study's unit) and say whether the plan
        leaves it out. A removable block keeps its shortcut (residual) or becomes the identity (plain);
        a plain block that changes the map's shape is not removable."""
        self.units.append((name, removable))
        if len(self.units) not in self.lesion:
            return False
        if not removable:
            raise self.fail(
                f"block {len(self.units)} ({name}) changes the map's shape and has no shortcut, so it cannot "
                f"be replaced by the identity; choose another block"
            )
        return True

    def _check_stride(self, x: Tensor, stride: int, name: str) -> None:
        """A stride-s layer needs at least s pixels: fewer would shrink the map below one pixel."""
        if min(x.shape[:2]) < stride:
            raise self.fail(
                f"layer {name} strides {stride} over a {x.size} map, shrinking it below one pixel: "
                f"use a larger input_shape or fewer stride-2 stages"
            )

    def _add(self, name: str, op: str, inputs: tuple[Tensor, ...], shape: Shape, *, params: int = 0, state: int = 0,
             macs: int = 0, **attrs: Any) -> Tensor:
        if min(shape) < 1:
            raise self.fail(
                f"layer {name} would output a {'x'.join(map(str, shape))} map: the input "
                f"{inputs[0].size} is too small for this many strides; use a larger input_shape "
                f"or fewer stride-2 stages"
            )
        if name in self._names:  # Keras would refuse the model; say where, before building it
            raise self.fail(f"two layers would be named {name!r}; Keras layer names must be unique")
        self._names.add(name)
        self.nodes.append(
            Node(name, op, tuple(t.node for t in inputs), shape, attrs, self.scope, params=params, state=state,
                 macs=macs, branch=self._branch, recompute=self._recompute)
        )
        return Tensor(name, shape)

    # ---- layers -------------------------------------------------------------------------

    def input(self, shape: Shape) -> Tensor:
        return self._add("input", "input", (), tuple(shape))

    def preprocess(self, x: Tensor, name: str, scale: float, mean: list[float], std: list[float],
                   reverse_channels: bool) -> Tensor:
        """The input normalisation: ``(x * scale - mean) / std``, channels reversed first if asked."""
        if reverse_channels and x.channels != 3:
            raise self.fail(f"this normalisation reverses RGB images to BGR, but the input has {x.channels} "
                            f"channels; use preprocess unit, or an explicit one without channels: bgr")
        for label, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, x.channels):
                raise self.fail(f"its {label} has {len(values)} values, but the input has {x.channels} channels; "
                                f"give one value, or one per channel (preprocess unit suits any input)")
        return self._add(name, "preprocess", (x,), x.shape, scale=scale, mean=tuple(mean), std=tuple(std),
                         reverse_channels=reverse_channels)

    def conv(
        self, x: Tensor, prefix: str, filters: int, kernel: int, stride: int = 1,
        groups: int = 1, padding: str | None = None, normalized: bool = False,
        bias: bool | None = None, bias_init: float = 0.0, shares: Tensor | None = None, dilation: int = 1,
    ) -> Tensor:
        """``{prefix}_conv``; with explicit padding a ``{prefix}_pad`` layer goes first.

        ``normalized`` says a norm follows, which decides the bias under ``conv_bias: unnormalized``;
        ``bias`` overrides that rule for the gate convs (SE, highway), which always have one.
        ``shares``: the output of another conv whose layer (and weights) this one applies again
        (CBAM's MLP on two pools); its weights are counted once, its MACs every time.
        A conv both strided and dilated (SK's paths) is padded explicitly, as PyTorch pads it (the builder
        computes it at stride 1 and keeps every stride-th output: Keras's Conv2D takes no such pair).
        """
        if x.channels % groups or filters % groups:
            raise self.fail(
                f"{prefix}: groups {groups} must divide both the input channels {x.channels} "
                f"and the output channels {filters}"
            )
        span = dilation * (kernel - 1) + 1  # the input window one output reads
        if padding is None:
            padding = "same"
            if span > 1 and (self.defaults.padding == "explicit" or (stride > 1 and dilation > 1)
                             or (self.defaults.padding == "symmetric" and stride > 1)):
                x = self.zero_pad(x, f"{prefix}_pad", span // 2)
                padding = "valid"
        if bias is None:
            rule = self.defaults.conv_bias
            bias = rule is True or (rule == "unnormalized" and not normalized)
        self._check_stride(x, stride, f"{prefix}_conv")
        h, w, cin = x.shape
        shape = (_conv_size(h, span, stride, padding), _conv_size(w, span, stride, padding), filters)
        weights = kernel * kernel * (cin // groups) * filters
        standardized = self.defaults.weight_standardization
        standardize = standardized.epsilon if standardized and self._branch != "gate" else None
        if standardize and stride > 1 and dilation > 1:
            raise self.fail(f"{prefix}: weight standardisation of a convolution both strided and dilated (SK's "
                            f"dilated path on a strided block) is not supported")
        return self._add(
            f"{prefix}_conv", "conv", (x,), shape,
            filters=filters, kernel=kernel, stride=stride, groups=groups, padding=padding, bias=bias,
            bias_init=bias_init, shares=shares.node if shares else None, dilation=dilation,
            standardize=standardize,
            params=0 if shares else weights + (filters if bias else 0), macs=shape[0] * shape[1] * weights,
        )

    def norm(self, x: Tensor, prefix: str, zero_init: bool = False) -> Tensor:
        """``{prefix}_bn``, of the network's kind (``defaults.norm``): batch norm keeps moving statistics, EvoNorm-B0 a
        moving variance, the others none; group norm and EvoNorm-S0 normalise within channel groups, which must divide
        the channels."""
        spec, c = self.defaults.norm, x.channels
        grouped = spec.type in GROUPED_NORMS
        if grouped and c % (spec.group_size or spec.groups):
            per = f"groups of {spec.group_size} channels" if spec.group_size else f"{spec.groups} groups"
            raise self.fail(f"{prefix}_bn: a {spec.type} norm in {per} cannot split {c} channels; give "
                            f"defaults.norm groups or group_size that divides every norm's channels")
        return self._add(
            f"{prefix}_bn", "norm", (x,), x.shape, kind=spec.type, epsilon=spec.epsilon, momentum=spec.momentum,
            groups=spec.groups_of(c) if grouped else 1, activated=False, zero_init=zero_init, params=2 * c,
            state={"batch": 2 * c, "evonorm_b0": c}.get(spec.type, 0),
        )

    def act(self, x: Tensor, prefix: str | None = None, name: str | None = None,
            kind: str | None = None) -> Tensor:
        """An activation named ``{prefix}_{kind}`` (``conv1_relu``) or given a full name.

        ``kind`` defaults to the network's activation; gates pass ``sigmoid``. Right after a norm that brings its
        own nonlinearity (FRN's TLU, EvoNorm-S0's), that norm applies it instead (one more weight per channel).
        """
        last = self.nodes[-1]
        if kind is None and last.name == x.node and last.op == "norm" and last.attrs["kind"] in SELF_ACTIVATED_NORMS:
            self.nodes[-1] = last._replace(attrs={**last.attrs, "activated": True}, params=last.params + x.channels)
            return x
        kind = kind or self._activation or self.defaults.activation
        return self._add(name or f"{prefix}_{kind}", "act", (x,), x.shape, kind=kind)

    def conv_norm(self, x: Tensor, prefix: str, filters: int, kernel: int, *,
                  zero_init: bool = False, **conv: Any) -> Tensor:
        return self.norm(self.conv(x, prefix, filters, kernel, normalized=True, **conv), prefix, zero_init)

    def conv_norm_act(self, x: Tensor, prefix: str, filters: int, kernel: int, **conv: Any) -> Tensor:
        return self.act(self.conv_norm(x, prefix, filters, kernel, **conv), prefix)

    def layer_norm(self, x: Tensor, prefix: str, epsilon: float = 1e-6) -> Tensor:
        """``{prefix}_ln``: normalises each position over its channels (LayerNorm2d), with a scale and offset."""
        return self._add(f"{prefix}_ln", "layer_norm", (x,), x.shape, epsilon=epsilon, params=2 * x.channels)

    def norm_act(self, x: Tensor, prefix: str) -> Tensor:
        """``{prefix}_bn`` then ``{prefix}_relu``: the pre-activation of BN-ReLU-conv layers."""
        return self.act(self.norm(x, prefix), prefix)

    def zero_pad(self, x: Tensor, name: str, pad: int) -> Tensor:
        h, w, c = x.shape
        return self._add(name, "zero_pad", (x,), (h + 2 * pad, w + 2 * pad, c), pad=pad)

    def lowest_pad(self, x: Tensor, name: str, pad: int) -> Tensor:
        """Padding a max pool never picks (-inf): PyTorch's padded max pool. Zeros would win over a
        map with negative values, such as an un-normalised pre-activation stem's."""
        h, w, c = x.shape
        return self._add(name, "lowest_pad", (x,), (h + 2 * pad, w + 2 * pad, c), pad=pad)

    def pool(self, x: Tensor, name: str, kind: str, size: int, stride: int, padding: str = "valid") -> Tensor:
        self._check_stride(x, stride, name)
        h, w, c = x.shape
        shape = (_conv_size(h, size, stride, padding), _conv_size(w, size, stride, padding), c)
        return self._add(name, "pool", (x,), shape, kind=kind, size=size, stride=stride, padding=padding)

    def blur_pool(self, x: Tensor, name: str, size: int = 3, stride: int = 2) -> Tensor:
        """A blur by the binomial filter of ``size`` taps each way, every ``stride``-th output kept, the map padded by
        reflection (timm's ``BlurPool2d``): the anti-aliased form of a strided layer. No weights."""
        pad = (stride - 1 + size - 1) // 2
        if min(x.shape[:2]) <= pad:
            raise self.fail(f"{name}: a blur pads by reflection, which needs a map wider than {pad} pixels, not {x.size}")
        h, w, c = x.shape
        shape = ((h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1, c)
        return self._add(name, "blur_pool", (x,), shape, size=size, stride=stride, macs=shape[0] * shape[1] * c * size * size)

    def anti_aliased(self, x: Tensor, name: str, stride: int) -> Tensor:
        """The downsampling ``defaults.anti_alias`` puts after a layer computed at stride 1: a blur pool, or a 2x2
        average pool (timm's ``nn.AvgPool2d(2)``)."""
        if self.defaults.anti_alias == "blur":
            return self.blur_pool(x, name, 3, stride)
        return self.pool(x, name, "avg", stride, stride)

    def channel_pad(self, x: Tensor, name: str, channels: int) -> Tensor:
        """Zero channels appended up to ``channels`` (shortcut option A)."""
        return self._add(name, "channel_pad", (x,), x.shape[:-1] + (channels,), channels=channels)

    def add(self, xs: tuple[Tensor, ...], name: str, block: int | None = None) -> Tensor:
        """The sum of ``xs``, the later ones maybe 1x1 maps of the first's channels (broadcast, as global context
        adds); ``block``: this is residual block ``block``'s merge of (shortcut, branch)."""
        if any(t.shape not in (xs[0].shape, (1, 1, xs[0].channels)) for t in xs[1:]):
            raise self.fail(f"{name}: cannot add tensors of shapes {', '.join(t.size for t in xs)}")
        return self._add(name, "add", xs, xs[0].shape, block=block)

    def concat(self, xs: tuple[Tensor, ...], name: str) -> Tensor:
        """Channels of ``xs`` stacked in order (DenseNet's and DPN's dense paths)."""
        if len({t.shape[:-1] for t in xs}) != 1:
            raise self.fail(f"{name}: cannot concatenate maps of shapes {', '.join(t.size for t in xs)}")
        return self._add(name, "concat", xs, xs[0].shape[:-1] + (sum(t.channels for t in xs),))

    def slice(self, x: Tensor, name: str, start: int, stop: int) -> Tensor:
        """Channels ``start:stop`` of ``x`` (DPN splits one conv's output into its two paths)."""
        if not 0 <= start < stop <= x.channels:
            raise self.fail(f"{name}: cannot take channels {start}:{stop} of a {x.channels}-channel map")
        return self._add(name, "slice", (x,), x.shape[:-1] + (stop - start,), start=start, stop=stop)

    def global_pool(self, x: Tensor, name: str, kind: str, keepdims: bool = False) -> Tensor:
        """A vector, or with ``keepdims`` a 1x1 map (the squeeze of squeeze-excitation)."""
        shape = (1, 1, x.channels) if keepdims else (x.channels,)
        return self._add(name, "global_pool", (x,), shape, kind=kind, keepdims=keepdims)

    def channel_conv(self, x: Tensor, name: str, kernel: int) -> Tensor:
        """A 1D convolution of ``kernel`` taps sliding over the channels of a 1x1 map, zero-padded to keep
        their number, one kernel for all (ECA)."""
        if x.shape[:2] != (1, 1):
            raise self.fail(f"{name}: a channel convolution reads a 1x1 map, not {x.size}")
        return self._add(name, "channel_conv", (x,), x.shape, kernel=kernel, params=kernel, macs=kernel * x.channels)

    def channel_pool(self, x: Tensor, name: str) -> Tensor:
        """Each position's mean and max over the channels, as a two-channel map (CBAM's spatial attention)."""
        return self._add(name, "channel_pool", (x,), x.shape[:2] + (2,))

    def attention_pool(self, x: Tensor, logits: Tensor, name: str) -> Tensor:
        """The sum of ``x``'s positions weighted by a softmax of the one-channel ``logits`` over them: a 1x1
        map (global context's pooling)."""
        if logits.shape != x.shape[:2] + (1,):
            raise self.fail(f"{name}: attention pooling a {x.size} map needs one logit per position, got {logits.size}")
        return self._add(name, "attention_pool", (x, logits), (1, 1, x.channels), macs=math.prod(x.shape))

    def radix_select(self, x: Tensor, logits: Tensor, name: str, radix: int, groups: int) -> Tensor:
        """The softmax-weighted sum of ``x``'s ``radix`` splits (channel blocks), weights per channel from the 1x1
        ``logits``, laid out as timm's RadixSoftmax reads them (groups, radix, channels per group); radix 1: ``x``
        gated by the logits' sigmoid. SK fuses its paths with it, ResNeSt its splits."""
        if x.channels % radix or logits.shape != (1, 1, x.channels):
            raise self.fail(f"{name}: cannot select among {radix} splits of a {x.size} map by {logits.size} logits")
        return self._add(name, "radix_select", (x, logits), x.shape[:2] + (x.channels // radix,),
                         radix=radix, groups=groups)

    def self_attention(self, qkv: Tensor, name: str, heads: int, dim_qk: int, dim_v: int) -> Tensor:
        """Multi-head self-attention over all positions of ``qkv`` (queries, keys, values stacked on the channels,
        head-major), with relative position logits from two learned tables of the map's height and width
        (BoTNet): softmax(q k / sqrt(dim_qk) + rel) v. MACs: the two products and the position logits."""
        h, w, c = qkv.shape
        if c != heads * (2 * dim_qk + dim_v):
            raise self.fail(f"{name}: {c} channels do not hold {heads} heads of queries and keys of {dim_qk} and "
                            f"values of {dim_v}")
        if self.any_size:
            raise self.fail(f"{name}: self-attention with relative positions learns a table per map size, so the "
                            f"network takes one input size; give input_shape a size")
        positions = h * w
        return self._add(name, "self_attention", (qkv,), (h, w, heads * dim_v), heads=heads, dim_qk=dim_qk,
                         dim_v=dim_v, params=(2 * h - 1 + 2 * w - 1) * dim_qk,
                         macs=heads * positions * (positions * (dim_qk + dim_v) + (h + w) * dim_qk))

    def halo_attention(self, q: Tensor, kv: Tensor, name: str, heads: int, dim_qk: int, dim_v: int,
                       block_size: int, halo_size: int) -> Tensor:
        """HaloNet's blocked self-attention: the queries ``q`` of each ``block_size`` block of the ``kv`` map (its
        keys and values interleaved per head) attend to the block widened by ``halo_size``, with relative position
        logits within that window; queries may be strided (a smaller ``q``)."""
        h, w, _ = kv.shape
        if h % block_size or w % block_size:
            raise self.fail(f"{name}: halo attention cuts the map into {block_size}x{block_size} blocks, but it is "
                            f"{h}x{w}; use an input size that keeps it a multiple of {block_size}")
        if self.any_size:
            raise self.fail(f"{name}: halo attention plans its blocks for one map size; give input_shape a size")
        stride = h // q.shape[0]
        window, per_block = block_size + 2 * halo_size, (block_size // stride) ** 2
        blocks = (h // block_size) * (w // block_size)
        return self._add(name, "halo_attention", (q, kv), q.shape[:2] + (heads * dim_v,), heads=heads, dim_qk=dim_qk,
                         dim_v=dim_v, block_size=block_size, halo_size=halo_size, params=2 * (2 * window - 1) * dim_qk,
                         macs=blocks * heads * per_block * (window ** 2 * (dim_qk + dim_v) + 2 * window * dim_qk))

    def lambda_attention(self, q: Tensor, k: Tensor, v: Tensor, name: str, heads: int, context: int) -> Tensor:
        """A lambda layer (Bello 2021): each position's ``heads`` queries meet the content lambda (keys softmaxed over
        the positions, times the values) and a position lambda (a ``context`` x ``context`` conv, one filter per key
        channel, over each value channel)."""
        dim_qk, dim_v = k.channels, v.channels
        positions = q.shape[0] * q.shape[1]
        return self._add(name, "lambda_attention", (q, k, v), q.shape[:2] + (heads * dim_v,), heads=heads,
                         context=context, params=context * context * dim_qk + dim_qk,
                         macs=positions * dim_qk * dim_v * (1 + 2 * heads + context * context))

    def flatten(self, x: Tensor, name: str) -> Tensor:
        """The whole map as one vector (VGG's classifier input)."""
        return self._add(name, "flatten", (x,), (math.prod(x.shape),))

    def multiply(self, x: Tensor, scale: Tensor, name: str) -> Tensor:
        """``x`` times ``scale``: a map of ``x``'s shape, a 1x1 map of its channels or a one-channel map of
        its positions (broadcast)."""
        if scale.shape not in (x.shape, (1, 1, x.channels), x.shape[:2] + (1,)):
            raise self.fail(f"{name}: cannot scale a {x.size} map by a {scale.size} one")
        return self._add(name, "multiply", (x, scale), x.shape)

    def weighted_add(self, shortcut: Tensor, branch: Tensor, name: str, init: float, block: int) -> Tensor:
        """``shortcut + alpha * branch`` with one learned scalar ``alpha`` starting at ``init``; the merge of
        residual block ``block``."""
        if shortcut.shape != branch.shape:
            raise self.fail(f"{name}: cannot add tensors of shapes {shortcut.size}, {branch.size}")
        return self._add(name, "weighted_add", (shortcut, branch), branch.shape, init=init, params=1, block=block)

    def highway(self, carry: Tensor, branch: Tensor, gate: Tensor, name: str) -> Tensor:
        """``gate * branch + (1 - gate) * carry``, elementwise (Srivastava et al. 2015)."""
        if not carry.shape == branch.shape == gate.shape:
            raise self.fail(
                f"{name}: a highway merge needs equal shapes, got carry {carry.size}, branch "
                f"{branch.size} and gate {gate.size}"
            )
        return self._add(name, "highway", (carry, branch, gate), branch.shape)

    def drop_path(self, x: Tensor, name: str, rate: float) -> Tensor:
        """Drops the whole tensor per sample with probability ``rate`` while training (stochastic depth)."""
        return self._add(name, "drop_path", (x,), x.shape, rate=rate)

    def dropout(self, x: Tensor, name: str, rate: float) -> Tensor:
        return self._add(name, "dropout", (x,), x.shape, rate=rate)

    def dense(self, x: Tensor, name: str, units: int, activation: str, bias: bool = True) -> Tensor:
        weights = x.channels * units
        return self._add(
            name, "dense", (x,), (units,), units=units, activation=activation, bias=bias,
            params=weights + (units if bias else 0), macs=weights,
        )
