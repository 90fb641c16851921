"""The zoo's entries with their computed figures, for `archspec zoo list` and ``list_zoo``.

The catalogue itself (names, files, published figures) is ``archspec.spec.zoo``; computing
an entry's params and MACs needs the planner, so the listing lives here, above both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..spec.zoo import Published, published, zoo_paths
from .complexity import graph_complexity
from .load import load_planned
from .plan import planned_shape


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
    """Every zoo entry with its computed figures (from the plan that loading checks it with), sorted by family
    then name."""
    entries = []
    for name, path in zoo_paths().items():
        spec, graph = load_planned(path)
        c = graph_complexity(graph)
        entries.append(ZooEntry(name, spec.family, path, c.params, c.total_params, c.macs,
                                planned_shape(spec)[0], published().get(name)))
    return sorted(entries, key=lambda e: (e.family, e.name))
