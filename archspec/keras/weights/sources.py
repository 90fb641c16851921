"""Named weight sources: ``"imagenet"`` (keras.applications' file), ``"torchvision"``, ``"timm"``
(optionally ``"torchvision:IMAGENET1K_V2"``, ``"timm:a1_in1k"``) and ``"hf://timm/NAME"``, resolved
from the spec's ``source:`` record to a file in a local cache, downloaded on first use.

Keras's files go to the Keras cache (``~/.keras/models``) through ``keras.utils.get_file`` with
their published MD5, torchvision's to ``~/.keras/archspec/torchvision`` checked against the
SHA-256 prefix in their names, timm's through ``huggingface_hub`` (the ``[hub]`` extra) into the
Hugging Face cache. A file already cached needs no network; a missing one on a machine without
it is one paragraph naming the URL and where to put the file.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import socket
import urllib.parse
from pathlib import Path

from ...spec.schema import ModelSpec
from ...spec.source_schema import WeightFile
from .torch_pickle import WeightsFileError

LIBRARY_OF = {"imagenet": "keras.applications", "torchvision": "torchvision", "timm": "timm"}


def is_named(weights: str | Path) -> bool:
    """Whether ``weights`` names a source rather than a file."""
    text = str(weights)
    return text.startswith("hf://") or text.split(":", 1)[0] in LIBRARY_OF


def check_named_or_file(weights: str | Path) -> None:
    """Refuse weights that are neither a file nor a source name, suggesting the source a typo meant."""
    text = str(weights)
    if is_named(text) or Path(text).exists():
        return
    name, _, tag = text.partition(":")
    close = difflib.get_close_matches(name, [*LIBRARY_OF, "hf"], n=1, cutoff=0.7)
    if not close and ("/" in text or Path(text).suffix):
        raise WeightsFileError(f"weights file '{text}' does not exist")
    hint = ""
    if close:
        hint = f"; did you mean '{close[0]}{':' + tag if tag else ''}'?" if close[0] != "hf" else "; did you mean hf://...?"
    raise WeightsFileError(f"weights '{text}' is neither a file nor a weight source ({', '.join(LIBRARY_OF)}, "
                           f"SOURCE:TAG or hf://timm/NAME){hint}")


def resolve(spec: ModelSpec, weights: str) -> Path:
    """The local file of a named source, fetched into its cache if it is not there yet."""
    if weights.startswith("hf://"):
        return _hub_file(weights)
    name, _, tag = weights.partition(":")
    record = _weight_file(spec, LIBRARY_OF[name], tag, weights)
    if record.url.startswith("hf://"):
        return _hub_file(record.url)
    return _cached(record, "models" if name == "imagenet" else f"archspec/{name}")


def record_for(spec: ModelSpec, weights: str | Path) -> WeightFile | None:
    """The ``source:`` record of these weights: the named source's, the one whose URL ends in the file's name
    (torchvision's file names carry their hash), or the one whose full SHA-256 the file has (timm's files are
    all named model.safetensors); None for weights the spec does not record."""
    if spec.source is None:
        return None
    text = str(weights)
    if text.startswith("hf://"):
        return next((w for w in spec.source.weights if w.url == text), None)
    if is_named(text) and not Path(text).exists():
        name, _, tag = text.partition(":")
        return _weight_file(spec, LIBRARY_OF[name], tag, text)
    path = Path(text)
    by_name = next((w for w in spec.source.weights if w.url.rsplit("/", 1)[-1] == path.name), None)
    if by_name is not None or not path.is_file():
        return by_name
    hashed = [w for w in spec.source.weights if w.sha256 and len(w.sha256) == 64]
    digest = _sha256(path) if hashed else None
    return next((w for w in hashed if w.sha256 == digest), None)


def _weight_file(spec: ModelSpec, library: str, tag: str, asked: str) -> WeightFile:
    source = spec.source
    if source is not None and source.weights and source.library != library:
        own = name_of(source.library)
        raise WeightsFileError(f"{spec.name}: weights={asked!r} asks for {library}'s published weights, but "
                               f"{spec.name} is {source.library}'s {source.model}: use --weights {own} (or "
                               f"{', '.join(f'{own}:{w.name}' for w in source.weights)})")
    if source is None or not source.weights:
        raise WeightsFileError(f"{spec.name}: weights={asked!r} asks for {library}'s published weights, but the "
                               f"spec records no source; pass a weights file, or a zoo entry whose source is "
                               f"{library} (`archspec zoo show NAME` lists them)")
    if not tag:
        return source.weights[0]
    for record in source.weights:
        if record.name == tag:
            return record
    close = difflib.get_close_matches(tag, [w.name for w in source.weights], n=1)
    hint = f"; did you mean {name_of(library)}:{close[0]}?" if close else ""
    raise WeightsFileError(f"{spec.name}: {library} publishes no weights {tag!r} for {source.model}; it has "
                           f"{', '.join(w.name for w in source.weights)}{hint}")


def name_of(library: str) -> str:
    """The source name that asks for ``library``'s weights: torchvision, timm, or imagenet (keras.applications)."""
    return next(name for name, lib in LIBRARY_OF.items() if lib == library)


def cache_home() -> Path:
    """Keras's cache: ``KERAS_HOME``, else ``~/.keras`` (read when asked, so a changed variable counts)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def cache_path(record: WeightFile, subdir: str) -> Path:
    """Where the file is kept once fetched."""
    return cache_home() / subdir / record.url.rsplit("/", 1)[1]


def _cached(record: WeightFile, subdir: str) -> Path:
    import keras

    target = cache_path(record, subdir)
    try:
        path = Path(keras.utils.get_file(target.name, record.url, file_hash=record.md5, cache_subdir=subdir,
                                         cache_dir=str(cache_home())))
    except Exception as err:  # get_file raises bare Exceptions for network failures
        raise WeightsFileError(f"cannot fetch {record.url} ({err}); on a machine without network access, "
                               f"download it elsewhere and put it at {target}") from None
    if record.sha256 and not _sha256(path).startswith(record.sha256):
        raise WeightsFileError(f"{path}: its SHA-256 does not start with {record.sha256}, the hash {record.url} "
                               f"is published with; delete the file to fetch it again")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hub_file(url: str) -> Path:
    """``hf://timm/NAME``: the repository's model.safetensors from the Hugging Face hub (or its cache)."""
    repo = url[len("hf://"):]
    try:
        import huggingface_hub
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise WeightsFileError(f"{url}: fetching from the Hugging Face hub needs huggingface_hub "
                               f"(pip install 'archspec[hub]'), or download model.safetensors from "
                               f"https://huggingface.co/{repo} and pass the file") from None
    try:
        return Path(hf_hub_download(repo, "model.safetensors", local_files_only=True))
    except Exception:  # not in the cache: fetch it, if the hub can be reached at all
        pass
    offline = (f"on a machine without network access, download it from https://huggingface.co/{repo} and "
               f"pass the file")
    unreachable = _unreachable(huggingface_hub.constants.ENDPOINT)
    if unreachable:  # huggingface_hub would retry for half a minute
        raise WeightsFileError(f"cannot fetch model.safetensors of {url}: {unreachable}; {offline}")
    try:
        return Path(hf_hub_download(repo, "model.safetensors"))
    except Exception as err:  # a missing repository, a failed download
        raise WeightsFileError(f"cannot fetch model.safetensors of {url} ({type(err).__name__}: {err}); "
                               f"{offline}") from None


def _unreachable(endpoint: str, timeout: float = 3.0) -> str:
    """Why ``endpoint``'s host cannot be reached within ``timeout`` seconds ("" when it answers)."""
    parts = urllib.parse.urlsplit(endpoint)
    try:
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout).close()
    except OSError as err:
        return f"{parts.hostname} cannot be reached ({err.strerror or err})"
    return ""
