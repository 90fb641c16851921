"""CIFAR-10 and CIFAR-100 from the archives keras.datasets uses, in its cache.

The first use downloads the archive (checked against its SHA-256) into the Keras cache
(``$KERAS_HOME/datasets``, by default ``~/.keras/datasets``) and unpacks it where
``keras.datasets.cifar10.load_data`` looks, so either reuses the other's copy. Offline, the
error names the URL and the path to copy the archive to. The batches are Python pickles: they
are read by an unpickler that admits only NumPy arrays, so a doctored archive cannot run code.
The training side is the 50,000 training images, the validation side the 10,000 test images
(what the papers report), so ``validation_split`` does not apply.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...spec.errors import RunError
from .base import Data, Split, pipeline_scale


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str
    folder: str  # keras.datasets' extraction folder under the cache
    inner: str  # the archive's own top folder
    train: tuple[str, ...]
    test: str
    label_key: bytes
    classes: int


ARCHIVES = {
    "cifar10": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                       "cifar-10-batches-py-target", "cifar-10-batches-py",
                       tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels", 10),
    "cifar100": Archive("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                        "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                        "cifar-100-python-target", "cifar-100-python", ("train",), "test", b"fine_labels", 100),
}
DOWNLOAD_TIMEOUT = 30  # seconds without progress before a download counts as failed


def cache_dir() -> Path:
    """Where Keras keeps downloaded data sets."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"


def open_cifar(name: str) -> Data:
    """The training and test images of ``name`` (cifar10 or cifar100), fetched on first use."""
    archive = ARCHIVES[name]
    folder = _unpacked(name, archive)
    x, y = zip(*(_batch(folder / part, archive.label_key) for part in archive.train))
    x_test, y_test = _batch(folder / archive.test, archive.label_key)
    train = Split(np.concatenate(y), pipeline_scale(np.concatenate(x), name)[0])
    return Data(name, name, archive.classes, (32, 32, 3), train, Split(y_test, pipeline_scale(x_test, name)[0]),
                given_val=True)


def _unpacked(name: str, archive: Archive) -> Path:
    """The unpacked batches, unpacking (and first downloading) the archive where they are missing."""
    folder = cache_dir() / archive.folder / archive.inner
    if all((folder / part).is_file() for part in (*archive.train, archive.test)):
        return folder
    tarball = cache_dir() / Path(archive.url).name
    if not tarball.is_file():
        _download(name, archive, tarball)
    target = cache_dir() / archive.folder
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(partial, filter="data")
    except (OSError, tarfile.TarError, EOFError) as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise RunError(f"cannot unpack {tarball} ({err}): it is truncated or not the {name} archive; delete it "
                       f"and run again to download it from {archive.url}") from None
    if not (partial / archive.inner).is_dir():
        shutil.rmtree(partial, ignore_errors=True)
        raise RunError(f"{tarball} holds no folder {archive.inner}/: it is not the {name} archive of {archive.url}; "
                       f"delete it and run again")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return folder


def _download(name: str, archive: Archive, tarball: Path) -> None:
    """The archive from its URL into the cache, checked, renamed into place only when whole."""
    partial = tarball.with_name(tarball.name + ".partial")
    offline = (f"on a machine without internet access, download {archive.url} elsewhere and copy it to "
               f"{tarball} (or set KERAS_HOME to a folder whose datasets/ holds it), then run again")
    try:
        tarball.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with urllib.request.urlopen(archive.url, timeout=DOWNLOAD_TIMEOUT) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (OSError, ValueError) as err:
        partial.unlink(missing_ok=True)
        raise RunError(f"data {name}: cannot download {archive.url} ({getattr(err, 'reason', err)}); "
                       f"{offline}") from None
    if digest.hexdigest() != archive.sha256:
        partial.unlink(missing_ok=True)
        raise RunError(f"data {name}: the download of {archive.url} is damaged (its SHA-256 is not "
                       f"{archive.sha256}); run again, or {offline}")
    partial.rename(tarball)


def _batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: N x 32 x 32 x 3 uint8 images and N labels."""
    try:
        with path.open("rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise RunError(f"cannot read CIFAR batch {path}: {err}; delete {path.parent} to unpack the archive "
                       f"again") from None
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = np.asarray(batch.get(label_key, [])) if isinstance(batch, dict) else np.array([])
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072
            or labels.shape != (len(data),) or labels.dtype.kind not in "iu"):
        raise RunError(f"CIFAR batch {path} does not hold {label_key.decode()} and 32x32x3 8-bit images under "
                       f"'data'; delete {path.parent} to unpack the archive again")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int32)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays, and refuses every other global (which could run code)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # encode: bytes in protocol 2

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}: a CIFAR batch holds only arrays and lists")
        return super().find_class(module, name)
