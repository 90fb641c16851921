"""Gradients through each Keras backend's own machinery: TensorFlow's tape, JAX's ``grad``, torch's autograd.

The experiments that look inside a network's gradient (paths --measure, gradients) ask for
d(scalar)/d(input) here, so they run on whichever backend Keras has.
"""

from __future__ import annotations

from collections.abc import Callable
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
