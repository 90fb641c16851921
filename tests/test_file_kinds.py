"""``file_kind`` tells a weights file by its structure, not by one leading byte: a safetensors file whatever
its header's length (one whose low byte is 0x80 was once taken for a pickle and refused), a pickle of any
protocol (0 and 1 lack the 0x80 mark), a zip and an HDF5 file each stay what they are; protocol 1 to 5
legacy checkpoints read back exactly; and a file of each kind cut anywhere says it is that kind, truncated,
in a ``WeightsFileError``, never another kind's message and never another exception."""

from __future__ import annotations

import collections
import io
import json
import pickle
import re
import struct
import sys
import types
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import save as safetensors_save

from archspec.keras.weights.tensors import MIN_BYTES, WRAPPER_PREFIXES, file_kind, open_tensors
from archspec.keras.weights.torch_pickle import LEGACY_MAGIC, LEGACY_PROTOCOL, WeightsFileError

CHECKPOINTS = Path(__file__).parent / "fixtures" / "checkpoints"
FEW = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SAFETENSORS_DTYPES = {"<f4": "F32", "<f2": "F16", "<f8": "F64", "<i8": "I64", "<i4": "I32", "|i1": "I8",
                      "|u1": "U8", "|b1": "BOOL"}
STORAGES = {"<f4": "FloatStorage", "<f2": "HalfStorage", "<i8": "LongStorage", "|u1": "ByteStorage"}
TRUNCATED = {  # each kind's own message for a file of it cut short
    "safetensors": r"a \.safetensors file that is truncated",
    "torch": r"a PyTorch checkpoint that is truncated",
    "zip": r"a zip archive \(a PyTorch checkpoint or a \.keras model\) that is truncated or damaged",
}
TOO_SHORT = r"holds only \d bytes, too few for any weights file"

names = st.from_regex(r"[a-z][a-z0-9_.]{0,11}", fullmatch=True).filter(lambda n: not n.startswith(WRAPPER_PREFIXES))
plain = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3), max_leaves=8)


def tensors(dtypes: dict[str, str], min_size: int = 0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Up to four named arrays of small shapes (scalars and empty ones too) of the given numpy dtypes."""
    array = st.sampled_from(sorted(dtypes)).flatmap(
        lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
    return st.dictionaries(names, array, min_size=min_size, max_size=4)


def safetensors_bytes(arrays: dict[str, np.ndarray], low: int, high: int = 0) -> bytes:
    """A safetensors file written by hand, its JSON header padded with spaces to the first length at or past
    the JSON's own whose low byte is ``low``, plus ``high`` times 256."""
    header, offset = {}, 0
    for name, array in arrays.items():
        header[name] = {"dtype": SAFETENSORS_DTYPES[array.dtype.str], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    length = len(text) + (low - len(text)) % 256 + 256 * high
    return struct.pack("<Q", length) + text.ljust(length) + b"".join(a.tobytes() for a in arrays.values())


def legacy_checkpoint(arrays: dict[str, np.ndarray], protocol: int) -> bytes:
    """What ``torch.save(state, f, _use_new_zipfile_serialization=False, pickle_protocol=protocol)`` writes,
    without PyTorch: magic, protocol, system info, the state dict (tensors as ``_rebuild_tensor_v2`` of a
    storage reference), the sorted storage keys, then each storage's element count and bytes. Stand-ins named
    as torch's classes are in ``sys.modules`` only while pickling; the reader resolves names, never imports."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for storage in STORAGES.values():
        setattr(torch, storage, type(storage, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args: object) -> None:  # pragma: no cover - named in the pickle, never called
        """Stands for torch's, for the pickle to name."""

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2

    class Storage:
        """A tensor's storage: the pickle holds a reference to it, its bytes follow the pickles."""

        def __init__(self, key: str, array: np.ndarray) -> None:
            self.key, self.array = key, array

    class Tensor:
        """Pickled as torch's tensors are: ``_rebuild_tensor_v2(storage, offset, shape, stride, ...)``."""

        def __init__(self, storage: Storage) -> None:
            self.storage = storage

        def __reduce__(self) -> tuple:
            shape = self.storage.array.shape
            stride = tuple(int(s) // self.storage.array.itemsize for s in self.storage.array.strides)
            return _rebuild_tensor_v2, (self.storage, 0, shape, stride, False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> tuple | None:
            if not isinstance(obj, Storage):
                return None
            kind = getattr(torch, STORAGES[obj.array.dtype.str])
            return "storage", kind, obj.key, "cpu", obj.array.size, None

    storages = {str(i): Storage(str(i), a) for i, a in enumerate(arrays.values())}  # C-ordered, as drawn
    state = collections.OrderedDict((name, Tensor(s)) for name, s in zip(arrays, storages.values()))
    system = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
              "type_sizes": {"short": 2, "int": 4, "long": 4}}
    stream = [pickle.dumps(item, protocol) for item in (LEGACY_MAGIC, LEGACY_PROTOCOL, system)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "torch", torch)
        patch.setitem(sys.modules, "torch._utils", utils)
        for item in (state, sorted(storages)):
            buffer = io.BytesIO()
            Pickler(buffer, protocol).dump(item)
            stream.append(buffer.getvalue())
    stream += [struct.pack("<q", s.array.size) + s.array.tobytes() for _, s in sorted(storages.items())]
    return b"".join(stream)


def keras_zip(path: Path) -> Path:
    """A ``.keras`` file as Keras lays it out (config, metadata, weights), enough for its kind."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3"}))
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}}))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    return path


def h5_file(path: Path) -> Path:
    """A small HDF5 file as h5py writes it, a dataset in a group, as Keras's ``.h5`` weights are."""
    with h5py.File(path, "w") as file:
        file.create_dataset("dense/kernel", data=np.arange(12, dtype="<f4").reshape(3, 4))
    return path


def read_back(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of the file, read through ``open_tensors``."""
    with open_tensors(path) as opened:
        return {name: opened.read(name) for name in opened.shapes}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """The same names, dtypes, shapes and bytes (NaNs and -0.0 included)."""
    assert got.keys() == want.keys()
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        assert got[name].tobytes() == array.tobytes(), name


def verdict(path: Path) -> str:
    """The file's kind, its tensors read to the last; or the ``WeightsFileError``'s message. Any other
    exception fails the test."""
    try:
        kind = file_kind(path)
        if kind in ("safetensors", "torch"):
            read_back(path)
        return kind
    except WeightsFileError as err:
        assert "\n" not in str(err)
        return str(err)


def assert_cut_says(path: Path, data: bytes, cut: int, message: str) -> None:
    """The first ``cut`` bytes of ``data`` give ``message``, or the one for a file too short for any kind."""
    path.write_bytes(data[:cut])
    said = verdict(path)
    assert re.search(TOO_SHORT if cut < MIN_BYTES else message, said), (cut, said)


def test_a_safetensors_file_is_itself_whatever_the_low_byte_of_its_header_length(tmp_path):
    arrays = {"conv.weight": np.arange(24, dtype="<f4").reshape(2, 3, 4), "fc.bias": np.array([1, -2], "<i8")}
    path = tmp_path / "model.safetensors"
    for low in range(256):
        path.write_bytes(safetensors_bytes(arrays, low))
        assert path.read_bytes()[0] == low
        assert file_kind(path) == "safetensors", low
        assert_same(read_back(path), arrays)


@FEW
@given(arrays=tensors(SAFETENSORS_DTYPES), low=st.integers(0, 255), high=st.integers(0, 300))
def test_safetensors_files_of_any_header_length_read_back_exactly(tmp_path, arrays, low, high):
    path = tmp_path / "drawn.safetensors"
    path.write_bytes(safetensors_bytes(arrays, low, high))  # up to 77 KB of header, past what the pickle probe reads
    assert file_kind(path) == "safetensors"
    assert_same(read_back(path), arrays)


def test_a_safetensors_file_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    arrays = {"stem.conv.weight": np.ones((4, 3, 3, 3), "<f4"), "head.fc.bias": np.zeros(10, "<f4")}
    written = [safetensors_save(arrays, {"note": "x" * k}) for k in range(256)]  # headers padded to 8 bytes
    data = next(data for data in written if struct.unpack("<Q", data[:8])[0] % 256 == 0x80)
    (tmp_path / "timm.safetensors").write_bytes(data)
    assert file_kind(tmp_path / "timm.safetensors") == "safetensors"
    assert_same(read_back(tmp_path / "timm.safetensors"), arrays)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.dictionaries(st.text(max_size=8), plain, min_size=1, max_size=4))
def test_a_pickle_of_any_protocol_is_a_torch_file(tmp_path, protocol, state):
    path = tmp_path / "state.pkl"
    path.write_bytes(pickle.dumps(state, protocol))
    assert file_kind(path) == "torch"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_legacy_stream_of_any_protocol_is_a_torch_file(tmp_path, protocol):
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps(LEGACY_MAGIC, protocol) + pickle.dumps(LEGACY_PROTOCOL, protocol))
    assert file_kind(path) == "torch"


@pytest.mark.parametrize("protocol", [0, 5])
def test_a_first_pickle_longer_than_the_probe_is_a_torch_file(tmp_path, protocol):
    (tmp_path / "long.pkl").write_bytes(pickle.dumps({"note": "x" * 100_000}, protocol))
    assert file_kind(tmp_path / "long.pkl") == "torch"


@FEW
@given(arrays=tensors(STORAGES, min_size=1), protocol=st.integers(1, pickle.HIGHEST_PROTOCOL))
def test_legacy_checkpoints_of_protocols_1_to_5_read_back_exactly(tmp_path, arrays, protocol):
    path = tmp_path / "legacy.pth"
    path.write_bytes(legacy_checkpoint(arrays, protocol))
    assert file_kind(path) == "torch"
    assert_same(read_back(path), arrays)


def test_a_protocol_0_legacy_checkpoint_is_refused_in_one_line(tmp_path):
    """Protocol 0 writes a storage reference as the text of its tuple, which ``torch.load`` cannot read either."""
    path = tmp_path / "legacy0.pth"
    path.write_bytes(legacy_checkpoint({"w": np.ones(3, "<f4")}, 0))
    assert file_kind(path) == "torch"
    with pytest.raises(WeightsFileError, match="refusing to read it as a PyTorch checkpoint: an object reference "
                                               "that is not a tensor storage"):
        open_tensors(path)


def test_zip_and_hdf5_files_stay_what_they_are(tmp_path):
    assert file_kind(CHECKPOINTS / "wrapped.pth") == "torch"
    assert file_kind(keras_zip(tmp_path / "model.keras")) == "keras"
    assert file_kind(h5_file(tmp_path / "model.weights.h5")) == "h5"


@FEW
@given(arrays=tensors(SAFETENSORS_DTYPES), low=st.integers(0, 255), cut=st.floats(0, 1, exclude_max=True))
def test_a_cut_safetensors_file_says_so(tmp_path, arrays, low, cut):
    data = safetensors_bytes(arrays, low)
    assert_cut_says(tmp_path / "cut.safetensors", data, max(1, int(cut * len(data))), TRUNCATED["safetensors"])


@FEW
@given(arrays=tensors(STORAGES, min_size=1), protocol=st.integers(1, pickle.HIGHEST_PROTOCOL),
       cut=st.floats(0, 1, exclude_max=True))
def test_a_cut_legacy_checkpoint_says_so(tmp_path, arrays, protocol, cut):
    data = legacy_checkpoint(arrays, protocol)
    assert_cut_says(tmp_path / "cut.pth", data, max(1, int(cut * len(data))), TRUNCATED["torch"])


@pytest.mark.parametrize("make", [lambda _: CHECKPOINTS / "wrapped.pth", lambda tmp: keras_zip(tmp / "m.keras")])
@FEW
@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_cut_zip_says_so(tmp_path, make, cut):
    data = make(tmp_path).read_bytes()
    assert_cut_says(tmp_path / "cut.zip", data, max(1, int(cut * len(data))), TRUNCATED["zip"])


@FEW
@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_cut_hdf5_file_stays_hdf5(tmp_path, cut):
    """An HDF5 file's signature is its first 8 bytes; Keras, which reads it, reports damage past them."""
    data = h5_file(tmp_path / "model.h5").read_bytes()
    assert_cut_says(tmp_path / "cut.h5", data, max(1, int(cut * len(data))), "^h5$")


def test_a_damaged_safetensors_header_and_a_foreign_file_are_named(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 16) + b'{"w": {"dtype" ' + bytes(8))
    with pytest.raises(WeightsFileError, match=r"a \.safetensors file whose header is damaged: its 16 bytes are "
                                               r"not UTF-8 JSON"):
        file_kind(path)
    path.write_bytes(struct.pack("<Q", 8) + b'{"w": 1}')
    with pytest.raises(WeightsFileError, match="header is damaged: it is not a JSON object giving each tensor's "
                                               "data_offsets"):
        file_kind(path)
    path.write_bytes(b"<!DOCTYPE html><html><body>Not Found</body></html>")
    with pytest.raises(WeightsFileError, match=r"not a weights file archspec reads .* starts with bytes b'<!DOCTYP'"):
        file_kind(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(min_size=1, max_size=64),
                      st.tuples(st.sampled_from([b"\x80\x02", b"\x80\x05\x95", b"L1", b"(dp0\n", b"PK\x03\x04",
                                                 b"\x89HDF\r\n\x1a\n", struct.pack("<Q", 30) + b"{"]),
                                st.binary(max_size=48)).map(b"".join)))
def test_any_bytes_give_a_kind_or_a_weights_file_error(tmp_path, data):
    path = tmp_path / "any.bin"
    path.write_bytes(data)
    try:
        assert file_kind(path) in ("safetensors", "torch", "keras", "h5")
    except WeightsFileError as err:
        assert "\n" not in str(err)
