"""Image files that fail mid-epoch: found and named.

Folders are listed at start-up, not opened (a million files would take minutes), so a file
that is no image, or a truncated one, is met by TensorFlow in the middle of an epoch, whose
error does not say which file. The run then stops, and this module finds the file by decoding
the source's files in parallel, so the message names it; the epochs already committed stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...spec.errors import RunError
from .base import Data, decode


def unreadable_image(files: Sequence[str], channels: int) -> tuple[str, str] | None:
    """The first of ``files`` that TensorFlow cannot read and decode as the pipeline does, and why."""
    import tensorflow as tf

    def failure(path: str) -> str | None:
        try:
            decode(tf.io.read_file(path), channels)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.PermissionDeniedError) as err:
            return err.message.strip().splitlines()[0]
        return None

    with ThreadPoolExecutor() as pool:  # TensorFlow's decoders release the GIL
        for path, reason in zip(files, pool.map(failure, files)):
            if reason:
                return path, reason
    return None


def bad_image_error(data: Data, channels: int, error: Exception, epochs: int, out: Path,
                    log: Callable[[str], None]) -> Exception:
    """A RunError naming the image behind ``error`` (TensorFlow's, raised mid-epoch), or ``error``
    itself when every file of ``data`` decodes (the failure was elsewhere)."""
    files = [*data.train.files, *data.val.files]
    if files:
        log(f"TensorFlow could not decode an image; looking for it among the {len(files)} files of {data.source}")
    found = unreadable_image(files, channels)
    if found is None:
        return error
    path, reason = found
    return RunError(f"image '{path}' cannot be read ({reason}); the run stopped at the first epoch that met it. "
                    f"Delete or replace the file and run the same command again: {epochs} epoch(s) are committed "
                    f"in {out}")
