"""The zoo's entries with their computed figures, for `archspec zoo list` and ``list_zoo``.

The catalogue itself (names, files, published figures) is ``archspec.spec.zoo``; computing
an entry's params and MACs needs the planner, so the listing lives here, above both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..spec.zoo import Published, published, zoo_paths
from .complexity import complexity
from .load import load_spec


@dataclass(frozen=True)
class ZooEntry:
    name: str
    family: str
    path: Path
    params: int
    total_params: int
    macs: int
    input_size: int
    published: Published | None


def list_zoo() -> list[ZooEntry]:
    """Every zoo entry with its computed figures, sorted by family then name."""
    entries = []
    for name, path in zoo_paths().items():
        spec = load_spec(path)
        c = complexity(spec)
        entries.append(ZooEntry(name, spec.family, path, c.params, c.total_params, c.macs,
                                spec.input_shape[0], published().get(name)))
    return sorted(entries, key=lambda e: (e.family, e.name))
