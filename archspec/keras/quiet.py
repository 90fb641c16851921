"""Import Keras (and TensorFlow, where it is needed) without start-up chatter on the terminal.

TensorFlow 2.21 writes oneDNN, CUDA-stub and cuInit notices to file descriptor 2 before its
logging is configured, so no environment variable silences them; JAX warns about missing GPU
plugins the same way. The CLI imports them with that descriptor pointed at a temporary file, and
replays the captured text only if the import fails.

``import_keras`` imports TensorFlow only when it is Keras's backend, so building, predicting and
benchmarking run on JAX or PyTorch where TensorFlow is not installed; ``import_tensorflow`` is for
what TensorFlow does on every backend (the training data pipeline, SavedModel export) and says so
in one line when it is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator

from ..spec.errors import RunError


@contextlib.contextmanager
def _stderr_captured() -> Iterator[None]:
    """File descriptor 2 into a temporary file for the block; replayed if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras() -> str:
    """Import Keras and its backend's devices quietly; returns the backend's name."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" not in sys.modules:
        with _stderr_captured():
            import keras
    import keras

    if keras.backend.backend() == "tensorflow":
        import_tensorflow()
    return keras.backend.backend()


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported, asked without importing it (seconds) where it is."""
    return importlib.util.find_spec("tensorflow") is not None


def tensorflow_missing(purpose: str) -> RunError:
    """The one-line error for ``purpose`` where TensorFlow is not installed."""
    return RunError(f"{purpose} needs TensorFlow, which is not installed: pip install tensorflow (building, "
                    "loading weights, predicting and benchmarking on synthetic data run without it on "
                    "KERAS_BACKEND=jax or torch)")


def import_tensorflow(purpose: str = "this") -> None:
    """Import TensorFlow quietly (with Keras), whatever Keras's backend; a RunError if it is not installed."""
    if sys.modules.get("tensorflow") is not None:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _stderr_captured():
            import keras  # noqa: F401  (on the TensorFlow backend, imports it and initialises its devices)
            import tensorflow as tf

            tf.config.list_logical_devices()
    except ModuleNotFoundError as error:
        if error.name != "tensorflow":
            raise
        raise tensorflow_missing(purpose) from None
