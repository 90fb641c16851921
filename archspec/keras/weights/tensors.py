"""Named tensors from a weights file, whatever its format: shapes up front, data when asked for.

The transfer checks every name and shape before it reads a byte of data, then reads and converts
one tensor at a time, so memory stays at the model plus one layer's weights beyond what the
operating system maps from the file.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from .torch_pickle import WeightsFileError, read_checkpoint

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP, torch.compile: stripped as timm does
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
Kind = Literal["safetensors", "torch", "keras", "h5"]


@dataclass
class TensorFile:
    """A file's tensors: ``shapes`` by name, ``read(name)`` a numpy array, ``close()`` releases the file;
    ``wrapper``: the checkpoint entry they came from, ``unused_ema``: an entry of EMA weights left unused."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], np.ndarray]
    close: Callable[[], None]
    wrapper: str = ""
    unused_ema: str = ""

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def file_kind(path: str | Path) -> Kind:
    """What a weights file is, from its first bytes rather than its name: a safetensors file named ``.pth``
    loads as what it is. A folder, an empty, truncated or foreign file is a ``WeightsFileError``."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix in (".safetensors", ".pth", ".pt", ".bin", ".h5"))
        hint = f" ({', '.join(inside[:3])})" if inside else ""
        raise WeightsFileError(f"weights '{path}' is a folder: pass the weights file inside it{hint}")
    if not path.is_file():
        raise WeightsFileError(f"weights file '{path}' does not exist")
    try:
        with open(path, "rb") as file:
            head = file.read(16)
            size = os.fstat(file.fileno()).st_size
            if head.startswith(b"PK\x03\x04"):
                return _zip_kind(path, file)
    except OSError as err:
        raise WeightsFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    if not head:
        raise WeightsFileError(f"weights file '{path}' is empty")
    if head.startswith(HDF5_MAGIC):
        return "h5"
    if head.startswith(b"\x80"):  # a pickle: the legacy format of torch.save
        return "torch"
    if len(head) > 8 and head[8:9] == b"{" and 8 + struct.unpack("<Q", head[:8])[0] <= size:
        return "safetensors"
    raise WeightsFileError(f"{path}: not a weights file archspec reads (a PyTorch checkpoint, a .safetensors file, "
                           f"a Keras .keras or .h5 file): it starts with bytes {head[:8]!r}")


def _zip_kind(path: Path, file: Any) -> Kind:
    """A zip: a PyTorch checkpoint (a ``data.pkl`` inside) or a ``.keras`` model; one cut short has no
    central directory at its end."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        raise WeightsFileError(f"{path}: a zip archive (a PyTorch checkpoint or a .keras model) that is truncated "
                               f"or damaged: its end is missing; download or copy it again") from None
    if any(name.endswith("data.pkl") for name in names):
        return "torch"
    if "config.json" in names:
        return "keras"
    raise WeightsFileError(f"{path}: a zip archive holding neither a PyTorch checkpoint (data.pkl) nor a Keras "
                           f"model (config.json)")


def open_tensors(path: str | Path, ema: bool = False) -> TensorFile:
    """A PyTorch checkpoint (zip or legacy; its EMA weights with ``ema``) or a safetensors file, whatever its
    name, read without PyTorch; tensor names lose the ``module.`` and ``_orig_mod.`` prefixes of wrapped models."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "safetensors":
        if ema:
            raise WeightsFileError(f"{path}: a .safetensors file holds one set of weights, no separate EMA ones: "
                                   f"leave out --ema")
        tensors = _safetensors(path)
    elif kind == "torch":
        checkpoint = read_checkpoint(path, ema)
        tensors = TensorFile(path, {name: ref.shape for name, ref in checkpoint.tensors.items()}, checkpoint.read,
                             checkpoint.close, checkpoint.wrapper, checkpoint.unused_ema)
    else:
        raise WeightsFileError(f"{path}: a Keras {kind} file, not a PyTorch or safetensors checkpoint")
    return _unwrapped(tensors)


def _unwrapped(tensors: TensorFile) -> TensorFile:
    """The names as the bare model has them: ``module.layer1.0.conv1.weight`` as ``layer1.0.conv1.weight``."""
    original = {}
    for name in tensors.shapes:
        bare = name
        while bare.startswith(WRAPPER_PREFIXES):
            bare = bare.split(".", 1)[1]
        original[bare] = name
    if len(original) < len(tensors.shapes) or all(k == v for k, v in original.items()):
        return tensors  # nothing to strip, or stripping would merge two tensors
    read = tensors.read
    return replace(tensors, shapes={bare: tensors.shapes[name] for bare, name in original.items()},
                   read=lambda bare: read(original[bare]))


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
