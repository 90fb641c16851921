"""A loaded spec written back as YAML: the whole network it resolves to, for a person to read.

``extends`` is already merged and every default filled in by loading; this writes the result in
the schema's field order (a ``type`` first), with short lists of numbers on one line, and quotes every string the
loader would read as something else, so loading the text gives an equal ``ModelSpec``.
"""

from __future__ import annotations

from typing import Any

import yaml

from .loader import add_core_resolvers
from .schema import ModelSpec

FLOW_ITEMS = 8  # lists of scalars up to this long go on one line: [32, 32, 3]
SECTIONS = ("regnet", "train", "source")  # optional sections a spec may not have: left out, not written as null


class _SpecDumper(yaml.SafeDumper):
    """SafeDumper that writes no aliases, short scalar lists in flow style, and quotes by YAML 1.2 too."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a spec repeats values; the loader caps aliases, so never write them


add_core_resolvers(_SpecDumper)


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.SequenceNode:
    scalars = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=scalars and len(data) <= FLOW_ITEMS)


_SpecDumper.add_representer(list, _represent_list)


def _type_first(data: Any) -> Any:
    """Mappings with their ``type`` first: a stage's type is defined last (in its subclass), but read first."""
    if isinstance(data, dict):
        ordered = {"type": data["type"], **data} if "type" in data else data
        return {k: _type_first(v) for k, v in ordered.items()}
    if isinstance(data, list):
        return [_type_first(v) for v in data]
    return data


def resolved_yaml(spec: ModelSpec) -> str:
    """``spec`` as YAML with every field, in the schema's order; a ``regnet:`` generator is kept beside the
    stages it expands to (the schema accepts both when they agree), so a reader sees both."""
    data = {k: v for k, v in spec.model_dump(mode="json").items() if not (k in SECTIONS and v is None)}
    return yaml.dump(_type_first(data), Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=120)
