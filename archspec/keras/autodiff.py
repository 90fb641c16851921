"""Gradients through each Keras backend's own machinery: TensorFlow's tape, JAX's ``grad``, torch's autograd.

The experiments that look inside a network's gradient (paths --measure, gradients) ask for
d(scalar)/d(input) here, so they run on whichever backend Keras has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np


def input_gradient(scalar: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """``f(x, *rest)`` -> d scalar(x, *rest) / dx as a numpy array, compiled once (tf.function, jax.jit);
    the model weights ``scalar`` reads are held constant."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def traced(x, *rest):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = scalar(x, *rest)
            return tape.gradient(value, x)

        return lambda x, *rest: traced(tf.convert_to_tensor(x), *map(tf.convert_to_tensor, rest)).numpy()
    if backend == "jax":
        import jax

        compiled = jax.jit(jax.grad(scalar))
        return lambda x, *rest: np.asarray(compiled(x, *rest))
    if backend == "torch":
        import torch

        def torch_gradient(x, *rest):
            leaf = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
            gradient, = torch.autograd.grad(scalar(leaf, *map(keras.ops.convert_to_tensor, rest)), [leaf])
            return gradient.detach().cpu().numpy()

        return torch_gradient
    raise NotImplementedError(f"gradients on Keras's {backend} backend")


def variable_gradients(scalar: Callable[[], Any], variables: Sequence[keras.Variable]) -> list[np.ndarray]:
    """d scalar() / d each of ``variables`` as numpy arrays (zeros for one ``scalar`` does not read).

    On JAX, which has no tape, ``scalar`` is traced with the variables' values swapped in through a
    ``keras.StatelessScope``: any variable it assigns (batch-norm statistics) is left as it was."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = scalar()
        grads = tape.gradient(value, list(variables))
    elif backend == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return scalar()

        grads = jax.grad(pure)([v.value for v in variables])
    elif backend == "torch":
        import torch

        grads = torch.autograd.grad(scalar(), [v.value for v in variables], allow_unused=True)
    else:
        raise NotImplementedError(f"gradients on Keras's {backend} backend")
    return [np.zeros(v.shape, v.dtype) if g is None else keras.ops.convert_to_numpy(g)
            for v, g in zip(variables, grads)]


def recomputed(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` with its intermediate values recomputed in the backward pass instead of kept from the forward one.

    ``keras.remat`` on JAX and torch. On TensorFlow a custom gradient of archspec's own: ``tf.recompute_grad``
    (what ``keras.remat`` calls there) nests a second custom gradient whose variable search walks back through
    every layer before the group, so tracing a training step grows with the square of the depth (cifar_resnet110:
    14 s against 6 s plain; cifar_resnet1202 did not trace in 45 minutes). ``f`` must be a pure function of its
    arguments (no variable read inside it)."""
    if keras.backend.backend() != "tensorflow":
        return keras.remat(f)
    import tensorflow as tf

    @tf.custom_gradient
    def group(*args):
        def gradient(*upstream):
            # a data dependency on the upstream gradient keeps the recomputation in the backward pass, where
            # XLA would otherwise move it (it drops control dependencies); it adds zero, NaN and inf included
            first = tf.reshape(upstream[0], [-1])[:1]
            after = tf.reduce_sum(tf.where(tf.cast(first, tf.bool) == tf.cast(first, tf.bool), 0.0, 1.0))
            with tf.GradientTape() as tape:
                again = [a + tf.cast(after, a.dtype) for a in args]
                tape.watch(again)
                results = f(*again)
            return tape.gradient(results, again, output_gradients=list(upstream),
                                 unconnected_gradients=tf.UnconnectedGradients.ZERO)

        # the forward pass reads stopped copies, so no tape records (and keeps) what happens inside it
        return f(*map(tf.stop_gradient, args)), gradient

    return group


class _Probe(keras.layers.Layer):
    """Adds a zero offset to a layer's output: d loss / d offset is d loss / d that output."""

    def __init__(self, batch: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.batch = batch

    def build(self, input_shape) -> None:
        self.offset = self.add_weight((self.batch, *input_shape[1:]), initializer="zeros", name="offset")

    def call(self, inputs):
        return inputs + keras.ops.cast(self.offset, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def probed(model: keras.Model, layers: Sequence[str], batch: int) -> tuple[keras.Model, list[keras.Variable]]:
    """``model`` (its very layers, so its weights) with a zero offset added to each named layer's output,
    for batches of ``batch`` images; the offsets, in the order of ``layers``, are the variables whose
    gradients are the gradients at those outputs (``variable_gradients``)."""
    probes = {name: _Probe(batch, name=f"{name}_probe") for name in layers}

    def call(layer: keras.layers.Layer, *args, **kwargs):
        output = layer(*args, **kwargs)
        return probes[layer.name](output) if layer.name in probes else output

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return clone, [probes[name].offset for name in layers]
