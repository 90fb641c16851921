"""Writes that never leave a half-written file: write beside the target, then rename.

``os.replace`` within one folder is atomic, so a reader (or a resumed run) sees the old
file or the new one, never a torn one. A folder (a SavedModel) replaces the old one whole.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, which Keras insists on) to write to;
    it becomes ``path`` when the block succeeds and is removed when it fails."""
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            old = path.with_name(f".{path.stem}.old-{os.getpid()}{path.suffix}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)


def copy_file(source: Path, path: Path) -> None:
    """``source``'s bytes at ``path``, atomically."""
    with replacing(path) as tmp:
        shutil.copyfile(source, tmp)


def write_text(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows of dicts as CSV, columns in order of first appearance (histories, experiment results)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(dict.fromkeys(k for row in rows for k in row)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())


def check_writable(path: Path) -> None:
    """Refuse, before any work is spent, a file target whose folder is missing or read-only."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"cannot save to '{path}': folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK):
        raise OSError(f"cannot save to '{path}': folder '{folder}' is not writable")
