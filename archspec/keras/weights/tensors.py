"""Named tensors from a weights file, whatever its format: shapes up front, data when asked for.

The transfer checks every name and shape before it reads a byte of data, then reads and converts
one tensor at a time, so memory stays at the model plus one layer's weights beyond what the
operating system maps from the file.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Callable, Literal

import numpy as np

from .torch_pickle import WeightsFileError, read_checkpoint, truncated_checkpoint

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP, torch.compile: stripped as timm does
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MIN_BYTES = 9  # a safetensors header's length and its opening brace; no weights file is shorter
SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors package refuses a longer header
PICKLE_PROBE_BYTES = 1 << 16  # a legacy torch.save stream's first pickle, its magic number, takes 15 to 28 bytes
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
    loads as what it is. A folder, an empty, truncated or foreign file is a ``WeightsFileError``.

    The test nothing else passes comes first: a safetensors file's first 8 bytes give its header's length N,
    at most 100 MB (so bytes 4 to 7 are zero), and byte 8 opens it with ``{``; no pickle that Python or
    PyTorch writes starts so, so one whose N's low byte is 0x80 is not taken for a pickle. A pickle is told
    by its opcodes, so protocols 0 and 1, which lack the 0x80 mark, are told too. A file cut short or damaged
    is named as its kind."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix in (".safetensors", ".pth", ".pt", ".bin", ".h5"))
        hint = f" ({', '.join(inside[:3])})" if inside else ""
        raise WeightsFileError(f"weights '{path}' is a folder: pass the weights file inside it{hint}")
    if not path.is_file():
        raise WeightsFileError(f"weights file '{path}' does not exist")
    try:
        with open(path, "rb") as file:
            head = file.read(PICKLE_PROBE_BYTES)
            size = os.fstat(file.fileno()).st_size
            if not head:
                raise WeightsFileError(f"weights file '{path}' is empty")
            if size < MIN_BYTES:
                raise WeightsFileError(f"{path}: holds only {size} bytes, too few for any weights file: it is "
                                       f"truncated; download or copy it again")
            if _is_safetensors(path, file, head, size):
                return "safetensors"
            if head.startswith(b"PK\x03\x04"):
                return _zip_kind(path, file)
            if head.startswith(HDF5_MAGIC):
                return "h5"
    except OSError as err:
        raise WeightsFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    if _is_pickle(path, head, size):
        return "torch"
    raise WeightsFileError(f"{path}: not a weights file archspec reads (a PyTorch checkpoint, a .safetensors file, "
                           f"a Keras .keras or .h5 file): it starts with bytes {head[:8]!r}")


def _is_safetensors(path: Path, file: BinaryIO, head: bytes, size: int) -> bool:
    """Whether the file has a safetensors file's layout: its header's length N as 8 little-endian bytes, N bytes
    of a JSON object, then the tensors' bytes; one so laid out but cut short or damaged is refused.
    Reads at most the header, which safetensors caps at 100 MB."""
    (length,) = struct.unpack("<Q", head[:8])
    if head[8:9] != b"{" or length > SAFETENSORS_MAX_HEADER:
        return False
    if 8 + length > size:
        raise WeightsFileError(f"{path}: a .safetensors file that is truncated: its header is {length:,} bytes, the "
                               f"file holds {size:,}; download or copy it again")
    damaged = f"{path}: a .safetensors file whose header is damaged: {{}}; download or copy it again"
    try:
        header = json.loads((head[8:8 + length] if 8 + length <= len(head) else
                             os.pread(file.fileno(), length, 8)).decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise WeightsFileError(damaged.format(f"its {length:,} bytes are not UTF-8 JSON ({err})")) from None
    try:
        whole = 8 + length + max((entry["data_offsets"][1] for name, entry in header.items()
                                  if name != "__metadata__"), default=0)
        short = whole > size
    except (AttributeError, TypeError, KeyError, IndexError):
        raise WeightsFileError(damaged.format("it is not a JSON object giving each tensor's data_offsets")) from None
    if short:
        raise WeightsFileError(f"{path}: a .safetensors file that is truncated: its header and tensors take "
                               f"{whole:,} bytes, the file holds {size:,}; download or copy it again")
    return True


class _Probe(io.BytesIO):
    """A file's first bytes that note whether a read asked for more than they hold: a pickle cut short rather
    than bytes that are not a pickle."""

    ran_out = False

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.ran_out |= len(data) < size
        return data

    def readline(self, size: int = -1) -> bytes:
        line = super().readline(size)
        self.ran_out |= not line.endswith(b"\n")
        return line


def _is_pickle(path: Path, head: bytes, size: int) -> bool:
    """Whether the file starts with a pickle: its first pickle's opcodes parse, and keep the stack sound, to
    its end or as far as ``head`` reaches; one that ends inside it is refused as truncated. ``pickletools.dis``
    only parses and tracks the stack: it never builds an object or calls anything the pickle names."""
    if head[0] == pickle.PROTO[0] and head[1] > pickle.HIGHEST_PROTOCOL:
        return False
    probe = _Probe(head)
    try:
        pickletools.dis(probe, out=io.StringIO())
    except ValueError:
        if not probe.ran_out:
            return False
        if len(head) == size:
            detail = f"it ends inside its first pickle, at byte {size:,}"
            raise WeightsFileError(truncated_checkpoint(path, detail)) from None
    return True  # a long first pickle is taken for one when it is sound as far as the probe reads


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
