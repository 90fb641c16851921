"""Images that fail mid-epoch: found and named.

Folders are listed at start-up, not opened (a million files would take minutes), so a file
that is no image, or a truncated one, is met by TensorFlow in the middle of an epoch, whose
error does not say which file. The run then stops, and this module finds the file by decoding
the source's files in parallel, so the message names it; the epochs already committed stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...spec.errors import RunError, reason
from .base import Data, decode


def unreadable_image(files: Sequence[str], channels: int) -> tuple[str, str] | None:
    """The first of ``files`` that TensorFlow cannot read and decode as the pipeline does, and why."""
    import tensorflow as tf

    def failure(path: str) -> str | None:
        try:
            decode(tf.io.read_file(path), channels)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.PermissionDeniedError) as err:
            return reason(err)
        return None

    with ThreadPoolExecutor() as pool:  # TensorFlow's decoders release the GIL
        for path, why in zip(files, pool.map(failure, files)):
            if why:
                return path, why
    return None


def bad_image_error(data: Data, channels: int, error: Exception, epochs: int, out: Path,
                    log: Callable[[str], None]) -> Exception:
    """A RunError naming the image (or, for TFRecord shards, the record's fault) behind ``error``
    (TensorFlow's, raised mid-epoch), or ``error`` itself when every file of ``data`` decodes (the
    failure was elsewhere)."""
    after = (f"the run stopped at the first epoch that met it. {epochs} epoch(s) are committed in {out}: "
             f"after fixing the data, run the same command again to continue")
    if data.train.records is not None:
        return RunError(f"a record of {data.source} cannot be used ({reason(error)}); {after}")
    files = [*data.train.files, *data.val.files]
    if files:
        log(f"TensorFlow could not decode an image; looking for it among the {len(files)} files of {data.source}")
    found = unreadable_image(files, channels)
    if found is None:
        return error
    path, why = found
    return RunError(f"image '{path}' cannot be read ({why}); {after}")
