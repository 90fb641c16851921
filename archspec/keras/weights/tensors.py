"""Named tensors from a weights file, whatever its format: shapes up front, data when asked for.

The transfer checks every name and shape before it reads a byte of data, then reads and converts
one tensor at a time, so memory stays at the model plus one layer's weights beyond what the
operating system maps from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .torch_pickle import WeightsFileError, read_checkpoint

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


@dataclass
class TensorFile:
    """A file's tensors: ``shapes`` by name, ``read(name)`` a numpy array, ``close()`` releases the file."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], np.ndarray]
    close: Callable[[], None]

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def open_tensors(path: str | Path) -> TensorFile:
    """A PyTorch checkpoint (``.pth``, zip or legacy) or a ``.safetensors`` file, read without PyTorch."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file '{path}' does not exist")
    if path.suffix == ".safetensors":
        return _safetensors(path)
    if path.suffix in TORCH_SUFFIXES:
        checkpoint = read_checkpoint(path)
        shapes = {name: ref.shape for name, ref in checkpoint.tensors.items()}
        return TensorFile(path, shapes, checkpoint.read, checkpoint.close)
    raise WeightsFileError(f"{path}: expected a PyTorch checkpoint ({', '.join(TORCH_SUFFIXES)}) or a "
                           f".safetensors file")


def _safetensors(path: Path) -> TensorFile:
    """Through the safetensors package's numpy API: a JSON header and raw little-endian data, no code."""
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise WeightsFileError(f"{path}: reading .safetensors files needs the safetensors package") from None
    try:
        handle = safe_open(str(path), framework="numpy")
        names = [k for k in handle.keys() if not k.endswith("num_batches_tracked")]
        shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in names}
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsFileError(f"{path}: not a readable .safetensors file: {err}") from None

    def read(name: str) -> np.ndarray:
        try:
            return handle.get_tensor(name)
        except (SafetensorError, TypeError, ValueError) as err:
            raise WeightsFileError(f"{path}: cannot read tensor {name!r}: {err}") from None

    return TensorFile(path, shapes, read, lambda: None)
