"""Image files checked before they are used: what is wrong with each, in a few words of archspec's own.

TensorFlow's decoders answer a file that is no image with their op's name and a list of formats
archspec does not read, and decode a truncated JPEG half-grey without a word. Pillow tells these
apart, so every command that reads image files asks it first: ``predict`` of each file, and
``train``, ``evaluate`` and ``data check`` of a whole folder source, in parallel (Pillow's
decoders release the GIL), before the first step rather than in the epoch that meets the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...spec.errors import RunError
from .base import Data, Split

FORMATS = ("PNG", "JPEG", "GIF", "BMP")  # what TensorFlow's decode_image reads: the formats --help lists
SHOWN = 5  # broken files named in a refusal
Progress = Callable[[int, str], contextlib.AbstractContextManager[Callable[[int], None]]]  # (total, label) -> advance


@contextlib.contextmanager
def no_progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A ``Progress`` that shows nothing (the library's default; the CLI shows a bar on a terminal)."""
    yield lambda done: None


def image_problem(path: str) -> str | None:
    """What is wrong with the image file at ``path`` (None: it decodes whole, in a format archspec reads)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.format not in FORMATS:
                return f"a {image.format} image, a format archspec does not read ({', '.join(FORMATS)})"
            image.load()  # decodes every pixel: raises where the file ends early
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "a folder, not an image file"
    except PermissionError:
        return "unreadable: permission denied"
    except UnidentifiedImageError:
        return f"not an image (archspec reads {', '.join(FORMATS)})"
    except OSError as error:
        if "truncated" in str(error).lower() or "broken data stream" in str(error):
            return "truncated: the file ends before its image does"
        return f"damaged: {error}" if str(error) else f"unreadable: {error.strerror or type(error).__name__}"
    except (SyntaxError, ValueError, EOFError) as error:  # Pillow's word for a malformed file
        return f"damaged: {error}" if str(error) else "damaged"
    return None


def image_problems(files: Sequence[str], progress: Progress = no_progress) -> list[tuple[str, str]]:
    """Each file of ``files`` that cannot be used, with why, by path; checked in parallel."""
    found = []
    with progress(len(files), "checking images") as advance, ThreadPoolExecutor() as pool:
        for path, problem in zip(files, pool.map(image_problem, files, chunksize=64)):
            advance(1)
            if problem:
                found.append((path, problem))
    return sorted(found)


def broken_images_error(found: Sequence[tuple[str, str]], total: int, source: str, fix: str) -> RunError:
    """The refusal of a source holding ``found`` broken images, naming the first few."""
    shown = "; ".join(f"'{path}': {problem}" for path, problem in found[:SHOWN])
    more = f"; and {len(found) - SHOWN} more (`archspec data check {source}` lists them all)" if len(found) > SHOWN \
        else ""
    return RunError(f"{len(found)} of the {total} images of {source} cannot be used: {shown}{more}. Remove or "
                    f"replace them, or {fix}")


def checked_images(data: Data, skip_broken: bool, log: Callable[[str], None],
                   progress: Progress = no_progress) -> Data:
    """``data`` whose image files (a folder source) all decode whole: refused (a RunError naming the first few
    broken ones) unless ``skip_broken``, which leaves them out and says how many; other sources as they are."""
    files = [*data.train.files, *data.val.files]
    if not files:
        return data
    found = image_problems(files, progress)
    if not found:
        return data
    if not skip_broken:
        raise broken_images_error(found, len(files), data.source, "pass --skip-broken to leave them out")
    broken = {path for path, _ in found}
    log(f"skipped {len(broken)} of the {len(files)} images of {data.source}, which cannot be used (`archspec data "
        f"check {data.source}` lists them)")
    return dataclasses.replace(data, train=_without(data.train, broken), val=_without(data.val, broken))


def _without(split: Split, broken: set[str]) -> Split:
    keep = np.array([path not in broken for path in split.files], bool)
    return dataclasses.replace(split, labels=split.labels[keep],
                               files=tuple(path for path, kept in zip(split.files, keep) if kept))
