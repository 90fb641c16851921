"""Import Keras (and TensorFlow, where it is needed) without start-up chatter on the terminal.

TensorFlow 2.21 writes the absl banner, oneDNN and CUDA-stub notices to file descriptor 2 while it is
imported, before its logging is configured, so no environment variable silences them; JAX warns about
missing GPU plugins the same way. They are imported with that descriptor pointed at a temporary file,
and the captured text is replayed only if the import fails; TF_CPP_MIN_LOG_LEVEL=3 (inherited by any
process archspec starts) silences what TensorFlow logs later (cuInit's error on a machine without a GPU).
``quiet_imports`` makes that hold for every import of them in the process, whichever module comes
first, so no command's path can lose it. ARCHSPEC_DEBUG=1 (``--debug`` sets it) leaves all of it raw.

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
from collections.abc import Iterator, Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

from ..spec.errors import RunError

DEBUG = "ARCHSPEC_DEBUG"  # set (to anything but 0 or empty): every library's raw logs, tracebacks behind failures
NOISY = ("tensorflow", "keras", "jax", "jaxlib")  # top-level packages whose import writes C++ logs to stderr


def debugging() -> bool:
    """Whether raw logs were asked for, by ``--debug`` or the environment."""
    return os.environ.get(DEBUG, "") not in ("", "0")


@contextlib.contextmanager
def stderr_captured() -> Iterator[None]:
    """File descriptor 2 into a temporary file for the block; replayed if the block raises."""
    if debugging():
        yield
        return
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


class _QuietLoader(Loader):
    """A package's own loader, run with file descriptor 2 captured."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # resource readers and the like ask it
        with stderr_captured():
            self.loader.exec_module(module)


class _QuietFinder(MetaPathFinder):
    """Finds the noisy packages as Python would, by the finders after it (an editable install's, one that
    blocks a package), and hands them to ``_QuietLoader``."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in NOISY:
            return None
        finders = (f for f in sys.meta_path if f is not self and hasattr(f, "find_spec"))
        spec = next((found for f in finders if (found := f.find_spec(name, path, target)) is not None), None)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_imports() -> None:
    """From now on in this process (and those it starts) TensorFlow, Keras and JAX start without their
    C++ log lines, unless ``debugging()``; the CLI calls it before any command runs."""
    if debugging():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def import_keras() -> str:
    """Import Keras and its backend's devices quietly; returns the backend's name."""
    quiet_imports()
    if "keras" not in sys.modules:
        with stderr_captured():
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
    quiet_imports()
    try:
        with stderr_captured():
            import keras  # noqa: F401  (on the TensorFlow backend, imports it and initialises its devices)
            import tensorflow as tf

            tf.config.list_logical_devices()
    except ModuleNotFoundError as error:
        if error.name != "tensorflow":
            raise
        raise tensorflow_missing(purpose) from None
