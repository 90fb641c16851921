"""A model's built-in form: the same function and weights in Keras's own layers, so its ``.keras`` file loads
with plain ``keras.saving.load_model`` where archspec is not installed.

Archspec's layers (``layers.py``) stay in memory, where some are faster (``GroupedConv2D`` on a CPU) or
needed for training (``DropPath``, ``WeightedAdd``'s one scalar); ``save_model`` writes ``portable(model)``, and
archspec's loader turns the grouped convolutions and weighted merges back (``native``). Each rewrite computes
what the layer computes (tests/test_portable.py measures every one), bit for bit but for ``ChannelPool``'s mean,
an average pool within 4e-7 of it, and a grouped convolution, which TensorFlow's grouped kernel sums in another
order than the split convolutions (5e-6 on resnest50d's probabilities). Layers without a built-in form stay
custom (``model_io.custom_layers`` names them).
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from .layers import (
    AttentionPool,
    ChannelConv,
    ChannelPad,
    ChannelPool,
    ChannelSlice,
    DropPath,
    GroupedConv2D,
    HighwayMerge,
    InputNormalization,
    LowestPadding2D,
    RadixSelect,
    Recompute,
    StridedDilatedConv2D,
    WeightedAdd,
)

# Activations whose outputs are never negative: a -inf padding after them is a zero padding for a max pool.
NON_NEGATIVE = ("relu", "relu6", "sigmoid", "softplus", "hard_sigmoid", "exponential")
ALPHA = "_alpha"  # the suffix of a WeightedAdd's EinsumDense in a portable file


def portable(model: keras.Model) -> keras.Model:
    """``model`` with every archspec layer that has a built-in form replaced by it (sharing the weights)."""
    if not any(type(layer) in REWRITES for layer in model.layers):
        return model
    return _rebuilt(model, keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=_call))


def native(model: keras.Model) -> keras.Model:
    """A loaded model with its grouped ``Conv2D`` layers (as portable files hold them) as ``GroupedConv2D``,
    which computes them the fast way on a CPU (the same kernels), and its weighted merges (an ``EinsumDense``
    then an ``Add``) as ``WeightedAdd`` again, one learned scalar as built; every other layer shared."""
    grouped = {layer.name: layer for layer in model.layers if type(layer) is keras.layers.Conv2D and layer.groups > 1}
    weighted = _weighted_merges(model)
    if not grouped and not weighted:
        return model
    alphas = {f"{name}{ALPHA}" for name in weighted}

    def call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        if layer.name in alphas:  # the branch goes to the WeightedAdd unscaled
            return args[0]
        if layer.name in weighted:
            return WeightedAdd(name=layer.name, dtype=layer.dtype_policy.name)(*args)
        return layer(*args, **kwargs)

    clone = keras.models.clone_model(model, clone_function=lambda layer: GroupedConv2D.from_config(
        layer.get_config()) if layer.name in grouped else layer, call_function=call)
    for name, layer in grouped.items():
        clone.get_layer(name).set_weights(layer.get_weights())
    for name, alpha in weighted.items():
        clone.get_layer(name).alpha.assign(alpha)
    return _rebuilt(model, clone)


def _weighted_merges(model: keras.Model) -> dict[str, float]:
    """Add layer name -> alpha of each merge that ``_weighted_add`` wrote: an ``Add`` whose second input is the
    output of its ``EinsumDense`` named ``<add>_alpha``, holding one value on every channel."""
    merges, layers = {}, {layer.name: layer for layer in model.layers}
    for layer in model.layers:
        scale = layers.get(f"{layer.name}{ALPHA}")
        if not (type(layer) is keras.layers.Add and type(scale) is keras.layers.EinsumDense
                and scale.equation == "abcd,d->abcd" and layer.input[1] is scale.output):
            continue
        kernel = keras.ops.convert_to_numpy(scale.kernel)
        if np.all(kernel == kernel[0]):
            merges[layer.name] = float(kernel[0])
    return merges


def _rebuilt(model: keras.Model, clone: keras.Model) -> keras.Model:
    """``clone`` with ``model``'s training setup, and its optimizer state where the trainable weights match (a
    WeightedAdd's one scalar replaces a kernel per channel)."""
    if model.compiled:
        clone.compile_from_config(model.get_compile_config())
        if [w.shape for w in clone.trainable_weights] == [w.shape for w in model.trainable_weights]:
            clone.optimizer = model.optimizer
    return clone


def _call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
    rewrite = REWRITES.get(type(layer))
    out = rewrite(layer, *args) if rewrite else None
    return layer(*args, **kwargs) if out is None else out


def _like(layer: keras.layers.Layer, cls: type, suffix: str = "", **config: Any) -> keras.layers.Layer:
    """A built-in layer in ``layer``'s dtype policy, named after it (``suffix`` for the helpers around it)."""
    return cls(**config, name=layer.name + suffix, dtype=layer.dtype_policy.name)


def _with_weights(source: keras.layers.Layer, target: keras.layers.Layer, x: Any) -> Any:
    """``target(x)`` once ``target`` holds ``source``'s weights (the same arrays, in Keras's order)."""
    y = target(x)
    target.set_weights(source.get_weights())
    return y


def _conv(layer: GroupedConv2D, x: Any) -> Any:
    """``Conv2D(groups=g)``: the same config and kernel layout; a strided dilated one (SK) runs at stride 1,
    then a pooling of size 1 keeps every stride-th output, as the layer does."""
    config = layer.get_config()
    if isinstance(layer, StridedDilatedConv2D):
        config["strides"] = 1
    y = _with_weights(layer, keras.layers.Conv2D.from_config(config), x)
    if isinstance(layer, StridedDilatedConv2D):
        y = _like(layer, keras.layers.MaxPooling2D, "_subsample", pool_size=1, strides=layer.subsample)(y)
    return y


def _channel_conv(layer: ChannelConv, x: Any) -> Any:
    """ECA's conv: the channels as a sequence, a ``Conv1D`` with the layer's kernel, back to a 1x1 map."""
    channels = x.shape[-1]
    y = _like(layer, keras.layers.Reshape, "_sequence", target_shape=(channels, 1))(x)
    y = _with_weights(layer, _like(layer, keras.layers.Conv1D, filters=1, kernel_size=layer.kernel_taps,
                                   padding="same", use_bias=False), y)
    return _like(layer, keras.layers.Reshape, "_map", target_shape=(1, 1, channels))(y)


def _on_channels(layer: keras.layers.Layer, x: Any, middle: keras.layers.Layer) -> Any:
    """``middle`` (a 2D cropping or padding) applied to the channel axis: channels moved to axis 1 and back."""
    suffix = middle.name[len(layer.name):]
    y = _like(layer, keras.layers.Permute, f"{suffix}_channels_first", dims=(3, 1, 2))(x)
    return _like(layer, keras.layers.Permute, f"{suffix}_channels_last", dims=(2, 3, 1))(middle(y))


def _channel_slice(layer: ChannelSlice, x: Any) -> Any:
    crop = ((layer.start, x.shape[-1] - layer.stop), (0, 0))
    return _on_channels(layer, x, _like(layer, keras.layers.Cropping2D, cropping=crop))


def _channel_pad(layer: ChannelPad, x: Any) -> Any:
    pad = ((0, layer.channels - x.shape[-1]), (0, 0))
    return _on_channels(layer, x, _like(layer, keras.layers.ZeroPadding2D, padding=pad))


def _lowest_padding(layer: LowestPadding2D, x: Any) -> Any | None:
    """A zero padding where the input is never negative (the stem's ReLU): the max pool after it picks the
    same values. Anywhere else the layer stays."""
    source = x._keras_history.operation
    if not (isinstance(source, keras.layers.Activation) and source.get_config()["activation"] in NON_NEGATIVE
            or isinstance(source, keras.layers.ReLU)):
        return None
    return _like(layer, keras.layers.ZeroPadding2D, padding=layer.padding)(x)


def _input_normalization(layer: InputNormalization, x: Any) -> Any | None:
    """``Normalization`` layers, which divide by ``sqrt(variance)``: the variance is chosen so that its square
    root is exactly the layer's divisor (1 / scale, then std), so ``x / 255`` stays ``x / 255``, not
    ``x * (1 / 255)``; the channel reversal (BGR) as crops of the channels, concatenated in reverse order."""
    divisors = [float(np.float32(1 / layer.scale))] if layer.scale != 1 else []
    variances = [[_square_with_root(d) for d in divisors], [_square_with_root(s) for s in layer.std]]
    if any(v is None for v in variances[0] + variances[1]):
        return None
    y, channels = x, x.shape[-1]
    if layer.reverse_channels:
        crops = [_on_channels(layer, y, _like(layer, keras.layers.Cropping2D, f"_channel{c}",
                                               cropping=((c, channels - c - 1), (0, 0))))
                 for c in reversed(range(channels))]
        y = _like(layer, keras.layers.Concatenate, "_bgr", axis=-1)(crops)
    steps = [("_scale", [0.0], variances[0]) if divisors else None,
             ("_mean", layer.mean, [1.0]) if any(layer.mean) else None,
             ("_std", [0.0], variances[1]) if any(s != 1 for s in layer.std) else None]
    for suffix, mean, variance in filter(None, steps):  # one value per channel, as Normalization takes them
        mean, variance = (v * channels if len(v) == 1 else v for v in (mean, variance))
        y = _like(layer, keras.layers.Normalization, suffix, mean=mean, variance=variance)(y)
    return y


def _square_with_root(value: float) -> float | None:
    """A float32 variance whose float32 square root is ``value`` exactly, or None where none is found."""
    root = np.float32(value)
    square = root * root
    for candidate in (square, np.nextafter(square, np.float32(0)), np.nextafter(square, np.float32(np.inf))):
        if np.sqrt(candidate) == root:
            return float(candidate)
    return None


def _highway(layer: HighwayMerge, inputs: list) -> Any:
    """``carry + gate * (branch - carry)``, the same operations in the same order."""
    carry, branch, gate = inputs
    difference = _like(layer, keras.layers.Subtract, "_difference")([branch, carry])
    gated = _like(layer, keras.layers.Multiply, "_gated")([gate, difference])
    return _like(layer, keras.layers.Add)([carry, gated])


def _weighted_add(layer: WeightedAdd, inputs: list) -> Any:
    """``shortcut + alpha * branch``: the branch times ``alpha`` in an ``EinsumDense`` (Keras has no layer holding
    one scalar weight; its kernel holds ``alpha`` once per channel), then an ``Add``."""
    shortcut, branch = inputs
    scale = _like(layer, keras.layers.EinsumDense, ALPHA, equation="abcd,d->abcd",
                  output_shape=tuple(branch.shape[1:]))
    scaled = scale(branch)
    scale.set_weights([np.full(scale.kernel.shape, keras.ops.convert_to_numpy(layer.alpha))])
    return _like(layer, keras.layers.Add)([shortcut, scaled])


def _channel_pool(layer: ChannelPool, x: Any) -> Any:
    """CBAM's channel mean and max as pools over the channels: the map turned to (width, channels, height) so
    that a (1, channels) pool reduces them at any height and width, then turned back."""
    channels = x.shape[-1]
    y = _like(layer, keras.layers.Permute, "_channels_inner", dims=(2, 3, 1))(x)
    pooled = [_like(layer, pool, f"_{kind}", pool_size=(1, channels))(y)
              for kind, pool in (("mean", keras.layers.AveragePooling2D), ("max", keras.layers.MaxPooling2D))]
    y = _like(layer, keras.layers.Concatenate, "_stack", axis=2)(pooled)
    return _like(layer, keras.layers.Permute, dims=(3, 1, 2))(y)


def _attention_pool(layer: AttentionPool, inputs: list) -> Any:
    """GC's pooling: the logits' softmax over the positions, and the positions' sum weighted by it as a ``Dot``
    (positions flattened, which takes any height and width)."""
    x, logits = inputs
    channels = x.shape[-1]
    weights = _like(layer, keras.layers.Reshape, "_logits", target_shape=(-1, 1))(logits)
    weights = _like(layer, keras.layers.Softmax, "_softmax", axis=1)(weights)
    positions = _like(layer, keras.layers.Reshape, "_positions", target_shape=(-1, channels))(x)
    pooled = _like(layer, keras.layers.Dot, "_sum", axes=1)([positions, weights])
    return _like(layer, keras.layers.Reshape, target_shape=(1, 1, channels))(pooled)


def _radix_select(layer: RadixSelect, inputs: list) -> Any:
    """The radix softmax on the 1x1 logits (reshaped to timm's (groups, radix, channels per group), then to
    radix-major channels), a broadcast ``Multiply`` with ``x``, and the radix blocks cropped (channels first)
    and added; radix 1: a sigmoid gate."""
    x, logits = inputs
    if layer.radix == 1:
        gate = _like(layer, keras.layers.Activation, "_sigmoid", activation="sigmoid")(logits)
        return _like(layer, keras.layers.Multiply)([x, gate])
    radix, groups, width = layer.radix, layer.groups, x.shape[-1]
    channels = width // radix
    y = _like(layer, keras.layers.Reshape, "_splits", target_shape=(groups, radix, channels // groups))(logits)
    y = _like(layer, keras.layers.Softmax, "_softmax", axis=2)(y)
    y = _like(layer, keras.layers.Permute, "_radix_major", dims=(2, 1, 3))(y)
    y = _like(layer, keras.layers.Reshape, "_weights", target_shape=(1, 1, width))(y)
    y = _like(layer, keras.layers.Multiply, "_weighted")([x, y])
    y = _like(layer, keras.layers.Permute, "_channels_first", dims=(3, 1, 2))(y)
    blocks = [_like(layer, keras.layers.Cropping2D, f"_radix{r}", cropping=((r * channels, width - (r + 1) * channels),
                                                                            (0, 0)))(y) for r in range(radix)]
    y = _like(layer, keras.layers.Add, "_sum")(blocks)
    return _like(layer, keras.layers.Permute, dims=(2, 3, 1))(y)


def _recompute(layer: Recompute, x: Any) -> Any:
    """The group's layers in its place, each in its own built-in form: recomputation only saves memory while
    training, and the plain layers keep their names, so the file's weights load into either model."""
    return layer.run(x, _call)


REWRITES: dict[type, Callable[..., Any]] = {
    GroupedConv2D: _conv,
    StridedDilatedConv2D: _conv,
    ChannelConv: _channel_conv,
    ChannelSlice: _channel_slice,
    ChannelPad: _channel_pad,
    LowestPadding2D: _lowest_padding,
    InputNormalization: _input_normalization,
    HighwayMerge: _highway,
    DropPath: lambda layer, x: _like(layer, keras.layers.Identity)(x),  # stochastic depth is off at inference
    Recompute: _recompute,
    WeightedAdd: _weighted_add,
    ChannelPool: _channel_pool,
    AttentionPool: _attention_pool,
    RadixSelect: _radix_select,
}
