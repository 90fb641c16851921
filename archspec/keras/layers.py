"""Custom Keras layers, registered so built models save and load with ``safe_mode=True``.

Built models contain no Lambda layers: anything Keras lacks is a small
registered layer here with a complete ``get_config``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import keras
from keras import ops

from .autodiff import recomputed

PACKAGE = "archspec"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelPad(keras.layers.Layer):
    """Appends zero channels up to ``channels`` (shortcut option A of He et al. 2015)."""

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, x):
        extra = self.channels - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LowestPadding2D(keras.layers.Layer):
    """Pads height and width by ``padding`` on every side with -inf, which a following max pool never
    picks: PyTorch's padded max pool. (``ZeroPadding2D`` lets 0 win over negative values.)"""

    def __init__(self, padding: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=float("-inf"))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, *(None if size is None else size + 2 * self.padding for size in (h, w)), c)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelSlice(keras.layers.Layer):
    """Channels ``start:stop`` of its input (a DPN block splits one conv's output into two paths)."""

    def __init__(self, start: int, stop: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start, self.stop = start, stop

    def call(self, x):
        return x[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.stop - self.start,)

    def get_config(self) -> dict:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package=PACKAGE)
class InputNormalization(keras.layers.Layer):
    """A spec's ``preprocess``: pixel values 0..255 to what the weights expect, without weights.

    ``(x * scale - mean) / std`` per channel (``mean`` and ``std`` hold one value or one per channel),
    after reversing RGB to BGR with ``reverse_channels``. The scaling divides by ``1 / scale``, so the
    presets compute exactly what their libraries' ``preprocess_input`` and a pipeline dividing by
    255 compute (``x / 255``, not ``x * (1 / 255)``, which can differ in the last bit); steps that
    change nothing are skipped.
    """

    def __init__(self, scale: float, mean: list[float], std: list[float], reverse_channels: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale, self.mean, self.std = float(scale), [float(m) for m in mean], [float(s) for s in std]
        self.reverse_channels = reverse_channels

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.reverse_channels:
            x = ops.flip(x, axis=-1)
        if self.scale != 1:
            x = x / (1 / self.scale)
        if any(self.mean):
            x = x - ops.convert_to_tensor(self.mean, dtype=x.dtype)
        if any(s != 1 for s in self.std):
            x = x / ops.convert_to_tensor(self.std, dtype=x.dtype)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "mean": self.mean, "std": self.std,
                "reverse_channels": self.reverse_channels}


@keras.saving.register_keras_serializable(package=PACKAGE)
class WeightedAdd(keras.layers.Layer):
    """``shortcut + alpha * branch`` for inputs ``[shortcut, branch]``, one learned scalar ``alpha``.

    Weighted residuals (Shen & Zeng 2016); ``init=0`` starts every block as the identity
    (ReZero, SkipInit).
    """

    def __init__(self, init: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape) -> None:
        init = keras.initializers.Constant(self.init)
        self.alpha = self.add_weight(name="alpha", shape=(), initializer=init)

    def call(self, inputs):
        shortcut, branch = inputs
        return shortcut + self.alpha * branch

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "init": self.init}


@keras.saving.register_keras_serializable(package=PACKAGE)
class HighwayMerge(keras.layers.Layer):
    """``gate * branch + (1 - gate) * carry`` for inputs ``[carry, branch, gate]`` (Srivastava et al. 2015).

    The gate is computed outside (a 1x1 conv and a sigmoid), so this layer has no weights.
    """

    def call(self, inputs):
        carry, branch, gate = inputs
        return carry + gate * (branch - carry)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package=PACKAGE)
class GradientRoute(keras.layers.Layer):
    """Forward: its input ``x``, unchanged. Backward: the gradient times a per-sample 0/1 switch.

    Inputs ``[x, route]``, ``route`` a batch of switches, one column per residual block; the
    layer reads column ``block`` (0-based), or one minus it with ``shortcut=True``. Placed on both
    inputs of every residual merge it lets each sample's gradient through one route per block,
    the branch or the shortcut: a single path of Veit et al. 2016's unravelled view.
    """

    def __init__(self, block: int, shortcut: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.block, self.shortcut = block, shortcut

    def call(self, inputs):
        x, route = inputs
        switch = route[:, self.block]
        switch = ops.cast(1 - switch if self.shortcut else switch, x.dtype)
        switch = ops.reshape(switch, (-1,) + (1,) * (len(x.shape) - 1))
        held = ops.stop_gradient(x)
        return held + switch * (x - held)  # equals x; its gradient is switch * the incoming one

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "block": self.block, "shortcut": self.shortcut}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DropPath(keras.layers.Layer):
    """Stochastic depth (Huang et al. 2016): while training, zeroes a sample's whole input with
    probability ``rate`` and scales the kept ones by ``1 / (1 - rate)`` (timm's convention), so
    inference is the identity and needs no rescaling.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}")
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or not self.rate:
            return x
        per_sample = (None,) + (1,) * (len(x.shape) - 1)
        return keras.random.dropout(x, self.rate, noise_shape=per_sample, seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelConv(keras.layers.Conv1D):
    """ECA's 1D convolution across channels: a (batch, 1, 1, C) map's channels as a length-C sequence,
    ``kernel`` taps zero-padded to keep C, one filter, no bias. A ``Conv1D``, so its kernel is (k, 1, 1)."""

    def __init__(self, kernel: int, **kwargs) -> None:
        super().__init__(1, kernel, padding="same", use_bias=False, **kwargs)
        self.kernel_taps = kernel

    def build(self, input_shape):
        super().build((input_shape[0], input_shape[-1], 1))
        self.input_spec = keras.layers.InputSpec(ndim=4)  # Conv1D's own would check the reshaped input

    def call(self, x):
        channels = x.shape[-1]
        y = super().call(ops.reshape(x, (-1, channels, 1)))
        return ops.reshape(y, (-1, 1, 1, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**keras.layers.Layer.get_config(self), "kernel": self.kernel_taps}

    def macs(self, input_shape) -> int:
        return self.kernel_taps * input_shape[-1]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelPool(keras.layers.Layer):
    """Each position's mean and max over the channels, stacked as two channels (CBAM's spatial attention)."""

    def call(self, x):
        return ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2,)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPool(keras.layers.Layer):
    """``[x, logits]`` -> a 1x1 map: the positions of ``x`` summed with weights softmax(logits) over the
    positions (global context's attention pooling)."""

    def call(self, inputs):
        x, logits = inputs
        shape = ops.shape(x)
        positions = ops.reshape(x, (shape[0], -1, shape[3]))
        weights = ops.softmax(ops.reshape(logits, (shape[0], -1)), axis=-1)
        # a (1 x positions) by (positions x channels) product: LiteRT has no Einsum of this pattern
        return ops.reshape(ops.matmul(ops.expand_dims(weights, 1), positions), (shape[0], 1, 1, shape[3]))

    def compute_output_shape(self, input_shapes):
        n, _, _, c = input_shapes[0]
        return (n, 1, 1, c)

    def macs(self, input_shapes) -> int:
        _, h, w, c = input_shapes[0]
        return h * w * c  # the weighted sum over the positions


@keras.saving.register_keras_serializable(package=PACKAGE)
class RadixSelect(keras.layers.Layer):
    """``[x, logits]`` -> the softmax-weighted sum of ``x``'s ``radix`` channel blocks (ResNeSt's splits, SK's
    paths), one weight per block and channel from the 1x1 ``logits``, read in timm's RadixSoftmax layout
    (groups, radix, channels per group); radix 1: ``x`` times the logits' sigmoid."""

    def __init__(self, radix: int, groups: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.radix, self.groups = radix, groups

    def call(self, inputs):
        x, logits = inputs
        if self.radix == 1:
            return x * ops.sigmoid(logits)
        channels = x.shape[-1] // self.radix
        weights = ops.softmax(ops.reshape(logits, (-1, self.groups, self.radix, channels // self.groups)), axis=2)
        weights = ops.reshape(ops.transpose(weights, (0, 2, 1, 3)), (-1, 1, 1, self.radix * channels))
        weighted = x * weights
        return sum(weighted[..., r * channels:(r + 1) * channels] for r in range(self.radix))

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0][:-1]) + (input_shapes[0][-1] // self.radix,)

    def get_config(self) -> dict:
        return {**super().get_config(), "radix": self.radix, "groups": self.groups}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RelativeSelfAttention(keras.layers.Layer):
    """BoTNet's multi-head self-attention over all positions of a (batch, H, W, C) map of stacked queries, keys
    and values (head-major), with relative position logits: query (i, j) and key (k, l) add
    q . height_rel[k - i + H - 1] + q . width_rel[l - j + W - 1] to q . k / sqrt(dim_qk) (timm's PosEmbedRel,
    its tables ``height_rel`` (2H - 1, dim_qk) and ``width_rel`` (2W - 1, dim_qk)). Fixed H and W."""

    def __init__(self, heads: int, dim_qk: int, dim_v: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads, self.dim_qk, self.dim_v = heads, dim_qk, dim_v

    def build(self, input_shape):
        _, self.map_height, self.map_width, _ = input_shape
        init = keras.initializers.RandomNormal(stddev=self.dim_qk ** -0.5)
        self.height_rel = self.add_weight(shape=(2 * self.map_height - 1, self.dim_qk), initializer=init,
                                          name="height_rel")
        self.width_rel = self.add_weight(shape=(2 * self.map_width - 1, self.dim_qk), initializer=init,
                                         name="width_rel")

    def call(self, qkv):
        h, w, n, dq, dv = self.map_height, self.map_width, self.heads, self.dim_qk, self.dim_v
        q = ops.reshape(qkv[..., :n * dq], (-1, h, w, n, dq))
        k = ops.reshape(qkv[..., n * dq:2 * n * dq], (-1, h * w, n, dq))
        v = ops.reshape(qkv[..., 2 * n * dq:], (-1, h * w, n, dv))
        rel_h = ops.einsum("bijnd,ikd->bnijk", q, _relative_table(self.height_rel, h, h))  # query row i, key row k
        rel_w = ops.einsum("bijnd,jld->bnijl", q, _relative_table(self.width_rel, w, w))  # query col j, key col l
        rel = ops.reshape(_outer_sum(rel_h, rel_w), (-1, n, h * w, h * w))
        logits = ops.einsum("bpnd,bqnd->bnpq", ops.reshape(q, (-1, h * w, n, dq)), k) * dq ** -0.5 + rel
        out = ops.einsum("bnpq,bqnd->bpnd", ops.softmax(logits, axis=-1), v)
        return ops.reshape(out, (-1, h, w, n * dv))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.heads * self.dim_v,)

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads, "dim_qk": self.dim_qk, "dim_v": self.dim_v}

    def macs(self, input_shape) -> int:
        """q k, attention times v, and the position logits, per image."""
        _, h, w, _ = input_shape
        return self.heads * h * w * (h * w * (self.dim_qk + self.dim_v) + (h + w) * self.dim_qk)


def _outer_sum(a, b):
    """``a[..., :, None] + b[..., None, :]`` as (batch, rows, k, l), computed in 4-D tensors: LiteRT slices and
    broadcasts at most 5-D ones, and the 6-D expression keeps BoTNet from converting."""
    rows = math.prod(a.shape[1:-1])
    return ops.reshape(a, (-1, rows, a.shape[-1], 1)) + ops.reshape(b, (-1, rows, 1, b.shape[-1]))


def _relative_table(table, queries: int, window: int):
    """Rows of a relative position ``table`` for each query offset i and key offset k: row k - i + window - 1."""
    return ops.take(table, [[k - i + window - 1 for k in range(window)] for i in range(queries)], axis=0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class HaloAttention(keras.layers.Layer):
    """HaloNet's blocked self-attention on ``[q, kv]``: the map is cut into ``block_size`` blocks; each block's
    queries (``q``, head-major, maybe strided) attend to the keys and values (``kv``, per head: keys then values)
    of the block widened by ``halo_size`` (zero-padded at the edges), with relative position logits from tables
    ``height_rel`` and ``width_rel`` of 2 x window - 1 rows, as timm's HaloAttn."""

    def __init__(self, heads: int, dim_qk: int, dim_v: int, block_size: int, halo_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads, self.dim_qk, self.dim_v = heads, dim_qk, dim_v
        self.block_size, self.halo_size = block_size, halo_size

    def build(self, input_shapes):
        window = self.block_size + 2 * self.halo_size
        init = keras.initializers.RandomNormal(stddev=self.dim_qk ** -0.5)
        self.height_rel = self.add_weight(shape=(2 * window - 1, self.dim_qk), initializer=init, name="height_rel")
        self.width_rel = self.add_weight(shape=(2 * window - 1, self.dim_qk), initializer=init, name="width_rel")

    def call(self, inputs):
        q, kv = inputs
        n, dq, dv, bs, halo = self.heads, self.dim_qk, self.dim_v, self.block_size, self.halo_size
        rows, cols = kv.shape[1] // bs, kv.shape[2] // bs
        bq, window, blocks = q.shape[1] // rows, bs + 2 * halo, rows * cols
        padded = ops.pad(kv, [[0, 0], [halo, halo], [halo, halo], [0, 0]])
        windows = ops.stack([padded[:, i * bs:i * bs + window, j * bs:j * bs + window, :]
                             for i in range(rows) for j in range(cols)], axis=1)
        windows = ops.reshape(windows, (-1, blocks, window * window, n, dq + dv))
        k, v = windows[..., :dq], windows[..., dq:]
        # block rows and columns swapped in 5-D tensors (LiteRT transposes at most 6-D ones, archspec's at most 5)
        queries = ops.reshape(ops.transpose(ops.reshape(q, (-1, rows, bq, cols, bq * n * dq)), (0, 1, 3, 2, 4)),
                              (-1, blocks, bq, bq, n, dq))
        rel_h = ops.einsum("bzijnd,ikd->bznijk", queries, _relative_table(self.height_rel, bq, window))
        rel_w = ops.einsum("bzijnd,jld->bznijl", queries, _relative_table(self.width_rel, bq, window))
        rel = ops.reshape(_outer_sum(rel_h, rel_w), (-1, blocks, n, bq * bq, window * window))
        logits = ops.einsum("bzpnd,bzqnd->bznpq", ops.reshape(queries, (-1, blocks, bq * bq, n, dq)), k)
        out = ops.einsum("bznpq,bzqnd->bzpnd", ops.softmax(logits * dq ** -0.5 + rel, axis=-1), v)
        out = ops.transpose(ops.reshape(out, (-1, rows, cols, bq, bq * n * dv)), (0, 1, 3, 2, 4))
        return ops.reshape(out, (-1, rows * bq, cols * bq, n * dv))

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0][:-1]) + (self.heads * self.dim_v,)

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads, "dim_qk": self.dim_qk, "dim_v": self.dim_v,
                "block_size": self.block_size, "halo_size": self.halo_size}

    def macs(self, input_shapes) -> int:
        """Each block's query-key and attention-value products and its position logits."""
        (_, hq, _, _), (_, h, w, _) = input_shapes
        window, bq = self.block_size + 2 * self.halo_size, self.block_size * hq // h
        blocks = (h // self.block_size) * (w // self.block_size)
        return blocks * self.heads * bq * bq * (window ** 2 * (self.dim_qk + self.dim_v) + 2 * window * self.dim_qk)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LambdaAttention(keras.layers.Layer):
    """A lambda layer on ``[q, k, v]`` (queries head-major, keys, values): each position's queries times the
    content lambda (keys softmaxed over the positions, times the values) plus its position lambda (a ``context``
    x ``context`` conv with a bias, one filter per key channel, over each value channel), as timm's LambdaLayer
    with its conv positions. Any map size."""

    def __init__(self, heads: int, context: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads, self.context = heads, context

    def build(self, input_shapes):
        dim_qk = input_shapes[1][-1]
        self.kernel = self.add_weight(shape=(self.context, self.context, 1, dim_qk), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=dim_qk ** -0.5))
        self.bias = self.add_weight(shape=(dim_qk,), initializer="zeros", name="bias")

    def call(self, inputs):
        q, k, v = inputs
        n, dk, dv = self.heads, k.shape[-1], v.shape[-1]
        b, h, w = ops.shape(q)[0], ops.shape(q)[1], ops.shape(q)[2]
        keys = ops.softmax(ops.reshape(k, (b, h * w, dk)), axis=1)
        content = ops.einsum("bmk,bmv->bkv", keys, ops.reshape(v, (b, h * w, dv)))
        queries = ops.reshape(q, (b, h, w, n, dk))
        planes = ops.reshape(ops.transpose(v, (0, 3, 1, 2)), (b * dv, h, w, 1))
        position = ops.reshape(ops.conv(planes, self.kernel, padding="same") + self.bias, (b, dv, h, w, dk))
        out = ops.einsum("bhwnk,bkv->bhwnv", queries, content) + ops.einsum("bhwnk,bvhwk->bhwnv", queries, position)
        return ops.reshape(out, (b, h, w, n * dv))

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0][:-1]) + (self.heads * input_shapes[2][-1],)

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads, "context": self.context}

    def macs(self, input_shapes) -> int:
        """The content lambda, the position lambdas' conv and both applications to the queries."""
        (_, h, w, _), (_, _, _, dk), (_, _, _, dv) = input_shapes
        return h * w * dk * dv * (1 + 2 * self.heads + self.context ** 2)


@keras.saving.register_keras_serializable(package=PACKAGE)
class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D(groups=g)`` with the same weights, computed the fastest way on the device at hand.

    XLA's CPU grouped convolution (Keras's TensorFlow backend compiles every grouped conv with
    it; JAX always uses it) runs a training step tens to hundreds of times slower than the dense
    conv it replaces (benchmarks/RESULTS.md). So on CPU, on those backends, this layer runs ``g``
    ordinary convolutions on channel slices with ``keras.ops`` and concatenates them (identical
    results, the backend's regular kernels). On torch it keeps the native grouped convolution:
    torch's CPU kernel is fast, and Keras runs torch eagerly, so ``g`` convs each with their own
    layout transposes cost more (resnext50_32x4d's training step, 64x64, batch 4: 3.6 s split,
    2.2 s native). On a GPU every backend uses its native kernel (cuDNN). The kernel layout is
    Conv2D's, so weights move between the two unchanged.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or not _split_is_faster(keras.backend.backend()):
            return super().convolution_op(inputs, kernel)
        pairs = zip(ops.split(inputs, self.groups, axis=-1), ops.split(kernel, self.groups, axis=-1))
        return ops.concatenate(
            [ops.conv(x, k, self.strides, self.padding, self.data_format, self.dilation_rate) for x, k in pairs],
            axis=-1)


@functools.cache
def _split_is_faster(backend: str) -> bool:
    """Whether ``GroupedConv2D`` should split: XLA's backends on CPU. Asked once per backend, not per call."""
    from .devices import accelerators

    return backend != "torch" and not accelerators()


@keras.saving.register_keras_serializable(package=PACKAGE)
class StridedDilatedConv2D(GroupedConv2D):
    """A convolution both strided and dilated (SK's dilated path on a strided block), which Keras's Conv2D
    refuses: computed at stride 1 on the explicitly padded input, then every stride-th output kept, which are
    the outputs the strided dilated convolution gives. Grouped as ``GroupedConv2D``; its kernel is Conv2D's."""

    def __init__(self, filters: int, kernel_size, strides=1, **kwargs) -> None:
        super().__init__(filters, kernel_size, strides=1, **kwargs)
        self.subsample = strides if isinstance(strides, int) else strides[0]

    def call(self, inputs):
        s = self.subsample
        return super().call(inputs)[:, ::s, ::s, :]

    def compute_output_shape(self, input_shape):
        n, h, w, c = super().compute_output_shape(input_shape)
        return (n, *(None if d is None else -(-d // self.subsample) for d in (h, w)), c)

    def get_config(self) -> dict:
        return {**super().get_config(), "strides": (self.subsample, self.subsample)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BlurPool2D(keras.layers.Layer):
    """Anti-aliased downsampling (Zhang 2019) as timm's ``BlurPool2d``: the map padded by reflection, blurred channel by
    channel with the outer product of the binomial coefficients of ``size`` taps (1 2 1 / 4 for 3), every
    ``stride``-th output kept. A fixed filter: no weights."""

    def __init__(self, size: int = 3, stride: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size, self.stride = size, stride

    def call(self, x):
        # the filter is made here, a constant of the traced graph (SavedModel, ONNX), not a captured tensor
        taps = [math.comb(self.size - 1, k) / 2 ** (self.size - 1) for k in range(self.size)]
        blur = [[[[a * b]] * x.shape[-1] for b in taps] for a in taps]  # (size, size, channels, 1)
        pad = (self.stride - 1 + self.size - 1) // 2
        x = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
        return ops.depthwise_conv(x, ops.convert_to_tensor(blur, dtype=x.dtype), strides=self.stride, padding="valid")

    def compute_output_shape(self, input_shape):
        pad = (self.stride - 1 + self.size - 1) // 2
        n, h, w, c = input_shape
        return (n, *(None if d is None else (d + 2 * pad - self.size) // self.stride + 1 for d in (h, w)), c)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "stride": self.stride}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StandardizedConv2D(GroupedConv2D):
    """A convolution whose kernel is standardised per output filter before each use: its mean subtracted, divided by
    the square root of its variance plus ``epsilon`` (Qiao et al. 2019; BiT's and timm's ``StdConv2d``). Grouped as
    ``GroupedConv2D``; the stored kernel is Conv2D's, unstandardised, as timm stores it."""

    def __init__(self, filters: int, kernel_size, epsilon: float = 1e-6, **kwargs) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        self.epsilon = epsilon

    def convolution_op(self, inputs, kernel):
        mean = ops.mean(kernel, axis=(0, 1, 2), keepdims=True)
        variance = ops.mean(ops.square(kernel - mean), axis=(0, 1, 2), keepdims=True)
        return super().convolution_op(inputs, (kernel - mean) * ops.rsqrt(variance + self.epsilon))

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


class _ChannelAffine(keras.layers.Layer):
    """A norm that keeps no statistics: a per-channel scale (``gamma``) and shift (``beta``) after its own
    normalisation, and with ``activated`` a third per-channel weight of its nonlinearity (``extra``)."""

    extra = ""  # the nonlinearity's weight, named as timm names it
    extra_initializer = "zeros"

    def __init__(self, epsilon: float = 1e-5, activated: bool = True, gamma_initializer: str = "ones",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon, self.activated, self.gamma_initializer = epsilon, activated, gamma_initializer

    def build(self, input_shape) -> None:
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(shape=channels, initializer=self.gamma_initializer, name="gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        if self.activated:
            self.nonlinearity = self.add_weight(shape=channels, initializer=self.extra_initializer, name=self.extra)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon, "activated": self.activated,
                "gamma_initializer": self.gamma_initializer}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FilterResponseNorm(_ChannelAffine):
    """Filter response normalisation (Singh and Krishnan 2020) as timm's ``FilterResponseNormTlu2d``: each channel
    divided by the root of its mean square over the positions plus ``epsilon``, scaled and shifted; ``activated``:
    then the thresholded linear unit max(x, tau), which takes the place of a ReLU."""

    extra = "tau"

    def call(self, x):
        x = x * ops.rsqrt(ops.mean(ops.square(x), axis=(1, 2), keepdims=True) + self.epsilon)
        x = x * self.gamma + self.beta
        return ops.maximum(x, self.nonlinearity) if self.activated else x


@keras.saving.register_keras_serializable(package=PACKAGE)
class EvoNormB0(_ChannelAffine):
    """EvoNorm-B0 (Liu et al. 2020) as timm's ``EvoNorm2dB0``: ``activated``, x divided by the larger of the root of
    the batch's per-channel variance plus ``epsilon`` (its moving average, ``running_var``, at inference) and
    v x + x's standard deviation over its positions; then scaled and shifted. The moving average follows Keras's
    ``momentum`` and, as PyTorch's, the unbiased variance."""

    extra = "v"
    extra_initializer = "ones"

    def __init__(self, momentum: float = 0.9, **kwargs) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.running_var = self.add_weight(shape=(input_shape[-1],), initializer="ones", trainable=False,
                                           name="running_var")

    def call(self, x, training=None):
        if self.activated:
            if training:
                mean = ops.mean(x, axis=(0, 1, 2))
                variance = ops.mean(ops.square(x - mean), axis=(0, 1, 2))
                n = ops.cast(ops.size(x) // x.shape[-1], x.dtype)
                self.running_var.assign(self.running_var * self.momentum
                                        + variance * (1 - self.momentum) * n / (n - 1))
            else:
                variance = self.running_var
            spatial_mean = ops.mean(x, axis=(1, 2), keepdims=True)
            instance_std = ops.sqrt(ops.mean(ops.square(x - spatial_mean), axis=(1, 2), keepdims=True) + self.epsilon)
            x = x / ops.maximum(ops.sqrt(variance + self.epsilon), x * self.nonlinearity + instance_std)
        return x * self.gamma + self.beta

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class EvoNormS0(_ChannelAffine):
    """EvoNorm-S0 (Liu et al. 2020) as timm's ``EvoNorm2dS0``: ``activated``, x * sigmoid(v x) divided by the
    standard deviation of x's channel group (over its channels and positions, plus ``epsilon`` under the root), then
    scaled and shifted; without ``activated`` only the scale and shift, as timm has it."""

    extra = "v"
    extra_initializer = "ones"

    def __init__(self, groups: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        if self.activated:
            mean = self._group_mean(ops.mean(x, axis=(1, 2), keepdims=True))
            variance = self._group_mean(ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True))
            x = x * ops.sigmoid(x * self.nonlinearity) * ops.rsqrt(variance + self.epsilon)
        return x * self.gamma + self.beta

    def _group_mean(self, per_channel):
        """(batch, 1, 1, channels) -> the mean of each channel's group, in every channel of it."""
        channels = per_channel.shape[-1]
        grouped = ops.reshape(per_channel, (-1, 1, 1, self.groups, channels // self.groups))
        mean = ops.repeat(ops.mean(grouped, axis=-1, keepdims=True), channels // self.groups, axis=-1)
        return ops.reshape(mean, (-1, 1, 1, channels))

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


def _shapes(input_shape) -> list:
    """One shape or several as a list of shapes (a shape is a sequence of sizes, read back from JSON as a list)."""
    several = isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple))
    return list(input_shape) if several else [input_shape]


@keras.saving.register_keras_serializable(package=PACKAGE)
class Recompute(keras.layers.Layer):
    """Layers whose intermediate outputs are recomputed in the backward pass, not stored (gradient
    checkpointing): only the group's inputs and outputs stay alive between the passes.

    A memory-efficient stage makes each block one group (a memory-efficient DenseNet, Pleiss et al. 2017,
    each dense layer's concatenation, BN, ReLU and first conv). ``wiring`` lists the group's calls in order,
    each as [member index in ``chain``, indices of what it reads among the group's inputs followed by the
    calls' outputs] (a member may be called twice: CBAM's shared MLP); ``None`` is a chain, each member
    reading the one before. ``returns`` picks the values the group returns (``None``: the last).

    The group runs under ``recomputed`` on every backend (a custom gradient on TensorFlow, ``jax.checkpoint``,
    ``torch.utils.checkpoint``) as a pure function: the variables' values go in (random seeds included,
    so a recomputed drop path drops the same samples), the outputs and the updated state (batch norms'
    moving statistics, seeds) come out, and the state is assigned outside it. The recomputation in the
    backward pass therefore updates nothing (torch's checkpointing would otherwise update them twice, and
    ``jax.checkpoint`` cannot assign at all): a step updates them once, exactly as without recomputation.
    """

    def __init__(self, chain: list, wiring: list[list] | None = None, returns: list[int] | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain = [c if isinstance(c, keras.layers.Layer) else keras.saving.deserialize_keras_object(c)
                      for c in chain]
        self.wiring = wiring
        self.returns = returns

    def _calls(self, inputs: int) -> list[tuple[keras.layers.Layer, list[int]]]:
        """Each call's member and its inputs as indices into [group inputs..., call outputs...]."""
        if self.wiring is None:
            return [(layer, [inputs - 1 + i]) for i, layer in enumerate(self.chain)]
        return [(self.chain[member], sources) for member, sources in self.wiring]

    def _results(self, values: list) -> object:
        picked = [values[i] for i in self.returns] if self.returns else [values[-1]]
        return picked if self.returns and len(self.returns) > 1 else picked[0]

    def _traced(self, input_shape) -> tuple[list[tuple[keras.layers.Layer, object]], list]:
        """Each call's member with the shape(s) it reads, and every value's shape (inputs, then outputs)."""
        shapes = _shapes(input_shape)
        calls = []
        for layer, sources in self._calls(len(shapes)):
            shape = [shapes[i] for i in sources] if len(sources) > 1 else shapes[sources[0]]
            calls.append((layer, shape))
            shapes.append(layer.compute_output_shape(shape))
        return calls, shapes

    def members(self, input_shape) -> list[tuple[keras.layers.Layer, object]]:
        """Each member with the shape(s) it reads, for counting its MACs."""
        return self._traced(input_shape)[0]

    def build(self, input_shape) -> None:
        for layer, shape in self.members(input_shape):
            if not layer.built:  # deserialised members arrive built
                layer.build(shape)

    def compute_output_shape(self, input_shape):
        return self._results(self._traced(input_shape)[1])

    def run(self, inputs, apply: Callable[[keras.layers.Layer, Any], Any]):
        """The group's results, each member applied by ``apply(member, its inputs)`` as wired."""
        values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for layer, sources in self._calls(len(values)):
            values.append(apply(layer, [values[i] for i in sources] if len(sources) > 1 else values[sources[0]]))
        return self._results(values)

    def _run(self, inputs, training=None):
        return self.run(inputs, lambda layer, x: layer(x, training=training) if layer._call_has_training_arg
                        else layer(x))

    def call(self, inputs, training=None):
        if not training:
            return self._run(inputs, training)
        flat = keras.tree.flatten(inputs)
        # the state goes in as copies: torch assigns in place, and its checkpoint keeps the arguments;
        # integer state (random seeds) is captured rather than passed, as nothing differentiates it
        values = {id(v): v.value if v.trainable else ops.copy(v.value) for v in self.variables}
        passed = [v for v in self.variables if "int" not in str(v.dtype)]
        fixed = [(v, values[id(v)]) for v in self.variables if "int" in str(v.dtype)]
        state = [v for v in self.variables if not v.trainable]

        def group(*args):
            # A pure function of its arguments: the variables' values come in, the updated state goes out
            with keras.StatelessScope(state_mapping=[*zip(passed, args[len(flat):]), *fixed]) as scope:
                y = self._run(keras.tree.pack_sequence_as(inputs, list(args[:len(flat)])), training=True)
            return *keras.tree.flatten(y), *(scope.get_current_value(v) for v in state)

        results = recomputed(group)(*flat, *(values[id(v)] for v in passed))
        returned = len(self.returns) if self.returns else 1
        for v, value in zip(state, results[returned:]):
            v.assign(value)
        return list(results[:returned]) if self.returns and len(self.returns) > 1 else results[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "chain": [keras.saving.serialize_keras_object(c) for c in self.chain],
                "wiring": self.wiring, "returns": self.returns}


def planned_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """``model.layers`` with each recompute group's members in its place: one layer per planned node under the
    plan's name, so weights match by name whether or not a model recomputes."""
    return [member for layer in model.layers for member in (layer.chain if isinstance(layer, Recompute) else [layer])]
