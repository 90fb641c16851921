"""State dicts written as the files PyTorch's side reads, without PyTorch and without pickling code.

``.safetensors``: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
and byte range, then the raw little-endian data, as ``safetensors.torch.save_file`` writes it.

``.pth``: the zip archive ``torch.save`` writes (PyTorch 1.6 and later): ``archive/data.pkl`` beside one
stored member per tensor under ``archive/data/``, each aligned to 64 bytes as torch aligns them. The
pickle is written opcode by opcode here rather than by ``pickle.dump``, so it can name only the globals a
state dict of plain tensors needs (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the
storage types), the ones ``torch.load(weights_only=True)`` and archspec's own reader accept, and nothing
from this process is ever pickled.

Both are written beside the target and renamed into place, so an interrupted or failed write (a full
disk) leaves no file behind.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from ...utils.atomic import replacing

DType = Literal["float32", "float16", "bfloat16"]
ALIGNMENT = 64  # torch.save's storage alignment in its zip archives
ARCHIVE = "archive"  # the folder inside the zip (torch.load takes whatever name the archive's first entry has)
# numpy dtype name -> (safetensors dtype, torch storage type)
CODES = {"float32": ("F32", "FloatStorage"), "float16": ("F16", "HalfStorage"), "bfloat16": ("BF16", "BFloat16Storage"),
         "float64": ("F64", "DoubleStorage"), "int64": ("I64", "LongStorage"), "int32": ("I32", "IntStorage")}


def cast(tensors: dict[str, np.ndarray], dtype: DType | None) -> dict[str, np.ndarray]:
    """Floating tensors as ``dtype`` (bfloat16 rounded to nearest even, through ml_dtypes, which Keras ships
    with); integer ones (``num_batches_tracked``) kept; None keeps every dtype."""
    if dtype is None:
        return tensors
    import ml_dtypes

    target = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    return {name: t.astype(target) if np.issubdtype(t.dtype, np.floating) or t.dtype == ml_dtypes.bfloat16 else t
            for name, t in tensors.items()}


def _code(array: np.ndarray, column: int) -> str:
    try:
        return CODES[array.dtype.name][column]
    except KeyError:
        raise TypeError(f"a tensor of dtype {array.dtype.name}, which these files do not carry") from None


def _bytes(array: np.ndarray) -> bytes:
    """The tensor's data in C order, little-endian."""
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(tensors: dict[str, np.ndarray], path: Path, metadata: dict[str, str] | None = None) -> None:
    """``tensors`` as a ``.safetensors`` file, written atomically; ``metadata`` goes under ``__metadata__``."""
    header: dict[str, object] = {"__metadata__": {"format": "pt", **(metadata or {})}}
    offset = 0
    for name, array in tensors.items():
        size = array.size * array.dtype.itemsize
        header[name] = {"dtype": _code(array, 0), "shape": list(array.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the safetensors library pads it
    with replacing(path) as tmp, open(tmp, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text)
        for array in tensors.values():
            file.write(_bytes(array))


def write_pth(tensors: dict[str, np.ndarray], path: Path) -> None:
    """``tensors`` as the zip archive ``torch.save(state_dict)`` writes, written atomically."""
    with replacing(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        _member(archive, "data.pkl", state_dict_pickle(tensors))
        for name, value in ((".format_version", b"1"), (".storage_alignment", str(ALIGNMENT).encode()),
                            ("byteorder", b"little")):
            _member(archive, name, value)
        for key, array in enumerate(tensors.values()):
            _member(archive, f"data/{key}", _bytes(array), align=True)
        _member(archive, "version", b"3\n")


def _member(archive: zipfile.ZipFile, name: str, data: bytes, align: bool = False) -> None:
    """A stored member; with ``align``, its data starts at a multiple of ``ALIGNMENT`` in the file, padded by
    an extra field in its local header as torch pads it."""
    info = zipfile.ZipInfo(f"{ARCHIVE}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    if align:
        start = archive.fp.tell() + 30 + len(info.filename.encode()) + 4  # header, name, the extra field's own 4
        start += 20 if len(data) >= zipfile.ZIP64_LIMIT else 0  # zipfile's zip64 extra for large members
        padding = -start % ALIGNMENT
        info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
    archive.writestr(info, data)


def state_dict_pickle(tensors: dict[str, np.ndarray]) -> bytes:
    """The pickle of an ``OrderedDict`` of tensors, each rebuilt by ``torch._utils._rebuild_tensor_v2`` from
    its own storage (persistent id ``('storage', torch.<Type>Storage, key, 'cpu', numel)``, key = its index),
    contiguous, offset 0, no gradient; protocol 2, as torch.save writes."""
    out = io.BytesIO()
    write = out.write
    write(pickle.PROTO + b"\x02")
    _ordered_dict(write)
    write(pickle.MARK)
    for key, (name, array) in enumerate(tensors.items()):
        write(_text(name))
        write(_global("torch._utils", "_rebuild_tensor_v2"))
        write(pickle.MARK)
        write(pickle.MARK + _text("storage") + _global("torch", _code(array, 1)) + _text(str(key)) + _text("cpu"))
        write(_int(array.size) + pickle.TUPLE + pickle.BINPERSID)
        strides = [int(np.prod(array.shape[i + 1:])) for i in range(array.ndim)]
        write(_int(0) + _ints(array.shape) + _ints(strides) + pickle.NEWFALSE)
        _ordered_dict(write)  # backward hooks: none
        write(pickle.TUPLE + pickle.REDUCE)
    write(pickle.SETITEMS + pickle.STOP)
    return out.getvalue()


def _ordered_dict(write) -> None:
    write(_global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE)


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return pickle.BININT + struct.pack("<i", value)
    data = pickle.encode_long(value)
    return pickle.LONG1 + bytes([len(data)]) + data


def _ints(values: tuple[int, ...] | list[int]) -> bytes:
    return pickle.MARK + b"".join(_int(int(v)) for v in values) + pickle.TUPLE if values else pickle.EMPTY_TUPLE
