"""PyTorch checkpoints read without PyTorch, and without letting their pickle run code.

A ``.pth`` file is a pickle whose tensors point at raw storages: in a zip archive (PyTorch 1.6 and
later: ``NAME/data.pkl`` beside ``NAME/data/<key>``) or, in the legacy stream older torchvision
files such as ``densenet121-a639ec97.pth`` use, as pickles followed by the storages' bytes.
A pickle names the functions that rebuild its objects, and ``pickle.load`` calls whatever it
names, so a hostile file runs code. The unpickler here knows a fixed handful of names, the ones
a state dict of plain tensors needs (``OrderedDict``, the storage types, the tensor rebuild
functions), maps each to a numpy stand-in, and refuses any other before calling anything, as
``torch.load(weights_only=True)`` does.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...spec.errors import RunError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-1.6 torch.save stream
LEGACY_PROTOCOL = 1001
MAX_PICKLE_BYTES = 64 << 20  # a state dict's pickle is names and shapes: ResNet-152's is under 100 KiB

DTYPES = {  # storage class -> numpy dtype (bfloat16 is widened to float32 when read)
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class WeightsFileError(RunError):
    """A weights file that cannot be read, is refused as unsafe, or does not fit the model."""


@dataclass(frozen=True)
class StorageRef:
    """A storage the pickle points at: its key in the file, dtype and length in elements."""

    key: str
    dtype: str
    numel: int


@dataclass(frozen=True)
class TensorRef:
    """A tensor as a strided view of a storage, read only when asked for."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _StorageType:
    """What the pickle gets for ``torch.FloatStorage`` and its kin: a name, never called."""

    def __init__(self, name: str) -> None:
        self.dtype = DTYPES[name]


def _rebuild_tensor(storage: StorageRef, offset: int, shape: tuple, stride: tuple, *_: Any) -> TensorRef:
    if not isinstance(storage, StorageRef) or not all(isinstance(v, int) for v in (offset, *shape, *stride)):
        raise pickle.UnpicklingError("a tensor whose storage, shape or strides are not what a tensor has")
    if any(v < 0 for v in (offset, *shape, *stride)):
        raise pickle.UnpicklingError(f"a tensor with a negative size, stride or offset: {shape}, {stride}")
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else offset - 1
    if last >= storage.numel:
        raise pickle.UnpicklingError(f"a tensor of shape {tuple(shape)} reaching element {last} of a storage "
                                     f"of {storage.numel}")
    return TensorRef(storage, offset, tuple(shape), tuple(stride))


def _rebuild_parameter(data: TensorRef, *_: Any) -> TensorRef:
    return data


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    return collections.OrderedDict(*args)


ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,  # the legacy format's
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the names in ``ALLOWED``; storages come through ``persistent_load``."""

    def __init__(self, file: Any, storage: Callable[[tuple], StorageRef]) -> None:
        super().__init__(file)
        self._storage = storage

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a file of plain tensors never needs "
                                         f"and which loading could run") from None

    def persistent_load(self, pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"an object reference that is not a tensor storage: {str(pid)[:80]}")
        return self._storage(pid)


@dataclass
class TorchCheckpoint:
    """The tensors of a ``.pth`` file by name; each tensor's storage is read from the file when asked for,
    so memory holds one tensor at a time, not the file."""

    path: Path
    tensors: dict[str, TensorRef]
    _file: io.BufferedReader
    _offsets: dict[str, int]  # storage key -> byte offset of its data in the file
    wrapper: str = ""  # the entry the state dict came from ("state_dict", "model_ema"), "" for a bare one
    unused_ema: str = ""  # an entry of EMA weights the file also holds, not used

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a C-ordered numpy array (float32 for bfloat16)."""
        ref = self.tensors[name]
        store = ref.storage
        size = np.dtype(store.dtype).itemsize
        count = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride)) + 1 if all(ref.shape) else 0
        raw = os.pread(self._file.fileno(), count * size, self._offsets[store.key])
        if len(raw) < count * size:
            raise WeightsFileError(f"{self.path}: truncated inside tensor {name!r}")
        data = np.frombuffer(raw, dtype=store.dtype)
        view = np.lib.stride_tricks.as_strided(data[ref.offset:], ref.shape, tuple(s * size for s in ref.stride))
        array = np.array(view)  # C order; the view may overlap itself
        if store.dtype == "<u2":  # bfloat16: the high half of a float32
            array = (array.astype("<u4") << 16).view("<f4")
        return array

    def close(self) -> None:
        self._file.close()


def truncated_checkpoint(path: Path, detail: str) -> str:
    """The one message for a PyTorch checkpoint cut short, whichever check finds it."""
    return f"{path}: a PyTorch checkpoint that is truncated: {detail}; download or copy it again"


def read_checkpoint(path: Path, ema: bool = False) -> TorchCheckpoint:
    """The state dict in a ``.pth`` file (zip or legacy format), refusing any global but a state dict's;
    with ``ema``, its EMA weights."""
    try:
        file = open(path, "rb")
    except OSError as err:
        raise WeightsFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    try:
        state, offsets = _read_zip(path, file) if zipfile.is_zipfile(file) else _read_legacy(path, file)
        tensors, wrapper, unused_ema = _tensors_of(path, state, ema)
        return TorchCheckpoint(path, tensors, file, offsets, wrapper, unused_ema)
    except WeightsFileError:  # before ValueError, which it is
        file.close()
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, zipfile.BadZipFile, OverflowError, MemoryError, RecursionError) as err:
        file.close()
        raise WeightsFileError(f"{path}: refusing to read it as a PyTorch checkpoint: {err}") from None


def _read_zip(path: Path, file: io.BufferedReader) -> tuple[Any, dict[str, int]]:
    """The pickle of a zip checkpoint, and where each stored (uncompressed) storage starts in the file."""
    size = os.fstat(file.fileno()).st_size
    with zipfile.ZipFile(file) as archive:
        pickles = [i for i in archive.infolist() if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError("a zip archive without a PyTorch data.pkl")
        if pickles[0].file_size > MAX_PICKLE_BYTES:
            raise ValueError(f"its data.pkl unpacks to {pickles[0].file_size:,} bytes, more than the "
                             f"{MAX_PICKLE_BYTES:,} a state dict's names and shapes take")
        root = pickles[0].filename[: -len("data.pkl")]
        entries = {i.filename[len(root) + 5:]: i for i in archive.infolist() if i.filename.startswith(root + "data/")}
        offsets: dict[str, int] = {}

        def storage(pid: tuple) -> StorageRef:
            ref = StorageRef(pid[2], pid[1].dtype, pid[4])
            info = entries.get(ref.key)
            if info is None:
                raise ValueError(f"storage {ref.key!r} is missing from the archive")
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"storage {ref.key!r} is compressed, which torch.save never does")
            if info.file_size < ref.numel * np.dtype(ref.dtype).itemsize:
                raise ValueError(f"storage {ref.key!r} holds {info.file_size} bytes, fewer than its "
                                 f"{ref.numel} elements need")
            offsets[ref.key] = _data_offset(file, info, size)
            return ref

        state = _Unpickler(io.BytesIO(archive.read(pickles[0])), storage).load()
    return state, offsets


def _data_offset(file: io.BufferedReader, info: zipfile.ZipInfo, size: int) -> int:
    """Where a stored zip member's bytes begin: after its local header (30 bytes, its name, its extra field)."""
    start = info.header_offset
    name_length, extra_length = struct.unpack("<HH", os.pread(file.fileno(), 4, start + 26))
    offset = start + 30 + name_length + extra_length
    if offset + info.file_size > size:
        raise ValueError("the archive is truncated")
    return offset


def _read_legacy(path: Path, stream: io.BufferedReader) -> tuple[Any, dict[str, int]]:
    """The pre-1.6 stream: magic, protocol, system info, the state pickle, the storage keys, then per
    storage its element count (int64) and bytes, in the order of the keys. Its pickles may be of any protocol,
    but protocol 0 writes a storage reference as text, refused here as by ``torch.load``."""
    stream.seek(0)
    size = os.fstat(stream.fileno()).st_size

    def load(storage: Callable[[tuple], StorageRef]) -> Any:
        try:
            return _Unpickler(stream, storage).load()
        except (pickle.UnpicklingError, EOFError):
            if stream.tell() < size:  # the unpickler reads past what it peeked at only when it needs more
                raise
            detail = f"it ends inside its pickles, at byte {size:,}"
            raise WeightsFileError(truncated_checkpoint(path, detail)) from None

    def plain() -> Any:  # the framing pickles hold only ints, strings, lists and dicts
        return load(_no_storage)

    if plain() != LEGACY_MAGIC:
        raise ValueError("not a PyTorch checkpoint (neither a zip archive nor the legacy format's magic number)")
    if plain() != LEGACY_PROTOCOL:
        raise ValueError("an unknown legacy protocol version")
    plain()  # system info: byte order and type sizes; the data are read little-endian
    storages: dict[str, StorageRef] = {}

    def storage(pid: tuple) -> StorageRef:
        if len(pid) > 5 and pid[5] is not None:
            raise ValueError("it uses storage views (PyTorch 0.3 and older), which are not supported")
        return storages.setdefault(pid[2], StorageRef(pid[2], pid[1].dtype, pid[4]))

    state = load(storage)
    keys = plain()
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise ValueError("the storage keys after the state do not match the storages it uses")
    position = stream.tell()
    end = position + sum(8 + storages[key].numel * np.dtype(storages[key].dtype).itemsize for key in keys)
    if end > size:
        raise WeightsFileError(truncated_checkpoint(path, f"its tensors' data end at byte {end:,}, the file holds "
                                                          f"{size:,}"))
    offsets: dict[str, int] = {}
    for key in keys:
        (numel,) = struct.unpack("<q", os.pread(stream.fileno(), 8, position))
        ref = storages[key]
        if numel != ref.numel:
            raise ValueError(f"storage {key!r} holds {numel} elements where the state says {ref.numel}")
        offsets[key] = position + 8
        position += 8 + numel * np.dtype(ref.dtype).itemsize
    return state, offsets


def _no_storage(pid: tuple) -> StorageRef:
    raise pickle.UnpicklingError("a storage where the file's framing should be")


WRAPPERS = ("state_dict", "model", "model_state_dict")  # what training scripts wrap a state dict in
EMA_WRAPPERS = ("state_dict_ema", "model_ema")  # timm's exponential moving average of the weights


def _tensors_of(path: Path, state: Any, ema: bool) -> tuple[dict[str, TensorRef], str, str]:
    """The checkpoint's tensors by name, from the wrapper timm's ``load_checkpoint`` would choose (EMA weights
    only with ``ema``), with the wrapper used and an EMA wrapper left unused; ``num_batches_tracked``
    counters are not weights."""
    used = unused_ema = ""
    if isinstance(state, dict) and not any(isinstance(v, TensorRef) for v in state.values()):
        emas = [k for k in EMA_WRAPPERS if isinstance(state.get(k), dict)]
        plain = [k for k in WRAPPERS if isinstance(state.get(k), dict)]
        if ema and not emas:
            raise WeightsFileError(f"{path}: holds no EMA weights ({' or '.join(EMA_WRAPPERS)}) to use; its entries "
                                   f"are {', '.join(map(str, state)) or 'none'}: leave out --ema")
        if not ema and not plain and emas:
            raise WeightsFileError(f"{path}: holds only EMA weights ({emas[0]}): pass --ema (ema=True) to use them")
        used = emas[0] if ema else plain[0] if plain else ""
        unused_ema = emas[0] if emas and not ema else ""
        state = state[used] if used else state
    elif ema:
        raise WeightsFileError(f"{path}: holds one state dict and no EMA weights ({' or '.join(EMA_WRAPPERS)}): "
                               f"leave out --ema")
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise WeightsFileError(f"{path}: holds a {type(state).__name__}, not a state dict of named tensors")
    tensors = {k: v for k, v in state.items() if isinstance(v, TensorRef) and not k.endswith("num_batches_tracked")}
    if not tensors:
        raise WeightsFileError(f"{path}: holds no tensors")
    return tensors, used, unused_ema
