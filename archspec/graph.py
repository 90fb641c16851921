"""A network as an ordered list of named layer nodes with shapes, params and MACs.

The planner (``archspec.plan``) writes a spec into this form; ``archspec.complexity``
sums it and ``archspec.builder`` translates it node for node into Keras layers.
Both read the same nodes, so the analytic figures and the built model describe
one network. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from .schema import Defaults

Shape = tuple[int, ...]  # (height, width, channels) for maps, (channels,) for vectors


class PlanError(ValueError):
    """The spec is well formed but describes a network that cannot exist.

    ``path`` is the field path of the stage or section at fault, so the loader
    can point at the line of the spec that caused it.
    """

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


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


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    shape: Shape
    attrs: dict[str, Any]
    scope: str
    params: int = 0  # trainable weights
    state: int = 0  # non-trainable weights (batch-norm moving statistics)
    macs: int = 0
    on_shortcut: bool = False


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
    _on_shortcut: bool = False

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
    def shortcut(self) -> Iterator[None]:
        """Mark nodes as shortcut layers: they do not count towards the network's depth."""
        saved, self._on_shortcut = self._on_shortcut, True
        try:
            yield
        finally:
            self._on_shortcut = saved

    def fail(self, message: str) -> PlanError:
        return PlanError(message, self.path)

    def _add(self, name: str, op: str, inputs: tuple[Tensor, ...], shape: Shape, **kw: Any) -> Tensor:
        if any(d < 1 for d in shape):
            raise self.fail(
                f"layer {name} would output a {'x'.join(map(str, shape))} map: the input "
                f"{inputs[0].size} is too small for this many strides; use a larger input_shape "
                f"or fewer stride-2 stages"
            )
        counts = {k: kw.pop(k) for k in ("params", "state", "macs") if k in kw}
        self.nodes.append(
            Node(name, op, tuple(t.node for t in inputs), shape, kw, self.scope,
                 on_shortcut=self._on_shortcut, **counts)
        )
        return Tensor(name, shape)

    # ---- layers -------------------------------------------------------------------------

    def input(self, shape: Shape) -> Tensor:
        return self._add("input", "input", (), tuple(shape))

    def conv(
        self, x: Tensor, prefix: str, filters: int, kernel: int, stride: int = 1,
        groups: int = 1, padding: str | None = None, normalized: bool = False,
    ) -> Tensor:
        """``{prefix}_conv``; with explicit padding a ``{prefix}_pad`` layer goes first.

        ``normalized`` says a norm follows, which decides the bias under ``conv_bias: unnormalized``.
        """
        if x.channels % groups or filters % groups:
            raise self.fail(
                f"{prefix}: groups {groups} must divide both the input channels {x.channels} "
                f"and the output channels {filters}"
            )
        if padding is None:
            padding = "same"
            if self.defaults.padding == "explicit" and kernel > 1:
                x = self.zero_pad(x, f"{prefix}_pad", kernel // 2)
                padding = "valid"
        bias = self.defaults.conv_bias is True or (self.defaults.conv_bias == "unnormalized" and not normalized)
        h, w, cin = x.shape
        shape = (_conv_size(h, kernel, stride, padding), _conv_size(w, kernel, stride, padding), filters)
        weights = kernel * kernel * (cin // groups) * filters
        return self._add(
            f"{prefix}_conv", "conv", (x,), shape,
            filters=filters, kernel=kernel, stride=stride, groups=groups, padding=padding, bias=bias,
            params=weights + (filters if bias else 0), macs=shape[0] * shape[1] * weights,
        )

    def norm(self, x: Tensor, prefix: str, zero_init: bool = False) -> Tensor:
        c = x.channels
        return self._add(
            f"{prefix}_bn", "norm", (x,), x.shape,
            epsilon=self.defaults.norm.epsilon, momentum=self.defaults.norm.momentum,
            zero_init=zero_init, params=2 * c, state=2 * c,
        )

    def act(self, x: Tensor, prefix: str | None = None, name: str | None = None) -> Tensor:
        """An activation named ``{prefix}_{kind}`` (``conv1_relu``) or given a full name."""
        kind = self.defaults.activation
        return self._add(name or f"{prefix}_{kind}", "act", (x,), x.shape, kind=kind)

    def conv_norm(self, x: Tensor, prefix: str, filters: int, kernel: int, *,
                  zero_init: bool = False, **conv: Any) -> Tensor:
        return self.norm(self.conv(x, prefix, filters, kernel, normalized=True, **conv), prefix, zero_init)

    def conv_norm_act(self, x: Tensor, prefix: str, filters: int, kernel: int, **conv: Any) -> Tensor:
        return self.act(self.conv_norm(x, prefix, filters, kernel, **conv), prefix)

    def zero_pad(self, x: Tensor, name: str, pad: int) -> Tensor:
        h, w, c = x.shape
        return self._add(name, "zero_pad", (x,), (h + 2 * pad, w + 2 * pad, c), pad=pad)

    def pool(self, x: Tensor, name: str, kind: str, size: int, stride: int, padding: str = "valid") -> Tensor:
        h, w, c = x.shape
        shape = (_conv_size(h, size, stride, padding), _conv_size(w, size, stride, padding), c)
        return self._add(name, "pool", (x,), shape, kind=kind, size=size, stride=stride, padding=padding)

    def channel_pad(self, x: Tensor, name: str, channels: int) -> Tensor:
        """Zero channels appended up to ``channels`` (shortcut option A)."""
        return self._add(name, "channel_pad", (x,), x.shape[:-1] + (channels,), channels=channels)

    def add(self, xs: tuple[Tensor, ...], name: str) -> Tensor:
        if len({t.shape for t in xs}) != 1:
            raise self.fail(f"{name}: cannot add tensors of shapes {', '.join(t.size for t in xs)}")
        return self._add(name, "add", xs, xs[0].shape)

    def global_pool(self, x: Tensor, name: str, kind: str) -> Tensor:
        return self._add(name, "global_pool", (x,), (x.channels,), kind=kind)

    def dropout(self, x: Tensor, name: str, rate: float) -> Tensor:
        return self._add(name, "dropout", (x,), x.shape, rate=rate)

    def dense(self, x: Tensor, name: str, units: int, activation: str, bias: bool = True) -> Tensor:
        weights = x.channels * units
        return self._add(
            name, "dense", (x,), (units,), units=units, activation=activation, bias=bias,
            params=weights + (units if bias else 0), macs=weights,
        )
