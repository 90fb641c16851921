"""What differs between two specs: their fields, and the size of the networks they describe.

Fields are compared after loading, so a spec that ``extends`` another is compared as the
network it describes, defaults filled in. No TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..spec.schema import ModelSpec
from .complexity import Complexity, complexity
from .load import at_reference_size
from .report import human

ABSENT = "-"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as one level: ``{"stages[1].width": 32, ...}``.

    An empty mapping or list stays a value, so adding its first item reads as a change.
    """
    if isinstance(data, Mapping) and data:
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in data.items()]
    elif isinstance(data, (list, tuple)) and data and not all(isinstance(v, (int, float)) for v in data):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(data)]
    else:
        return {prefix: list(data) if isinstance(data, tuple) else data}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, key))
    return out


def field_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(path, value in a, value in b)`` for every field that differs, in a's field order.

    Where an object changes ``type`` (a basic stage becoming a plain one), the fields only one
    of the two types has are left out: the type change says it.
    """
    fa, fb = flatten(a), flatten(b)
    retyped = tuple(k[: -len("type")] for k in fa if k.endswith(".type") and fa[k] != fb.get(k, fa[k]))
    keys = list(fa) + [k for k in fb if k not in fa]
    return [(k, fa.get(k, ABSENT), fb.get(k, ABSENT)) for k in keys
            if fa.get(k, ABSENT) != fb.get(k, ABSENT) and not (k.startswith(retyped) and (k not in fa or k not in fb))]


def _show(value: Any) -> str:
    """A field value as YAML would write it (true, null, "")."""
    return value if isinstance(value, str) and value else json.dumps(value)


def _change(old: int, new: int) -> str:
    if old == new:
        return ""
    percent = f" ({(new - old) / old:+.2%})" if old else ""
    return f"{new - old:+,}{percent}"


def _figures(c: Complexity) -> dict[str, tuple[int, int]]:
    """Row -> (params, MACs): the whole network, then each part."""
    rows = {"total": (c.params, c.macs)}
    rows.update({p.scope: (p.params, p.macs) for p in c.parts})
    return rows


def diff_report(a: ModelSpec, b: ModelSpec) -> str:
    """The field changes, then params, MACs and depth side by side with their change."""
    changes = field_changes(a.model_dump(mode="json"), b.model_dump(mode="json"))
    lines = [f"A: {a.name}, B: {b.name}: {len(changes) or 'no'} field{'s' if len(changes) != 1 else ''} differ"]
    lines += [f"  {path}: {_show(old)} -> {_show(new)}" for path, old, new in changes]
    ca, cb = complexity(at_reference_size(a)), complexity(at_reference_size(b))
    fa, fb = _figures(ca), _figures(cb)
    lines += ["", f"  {'part':<8} {'params A':>13} {'params B':>13} {'change':>19} {'MACs A':>9} {'MACs B':>9} "
                  f"{'change':>9}"]
    for part in list(fa) + [p for p in fb if p not in fa]:
        (pa, ma), (pb, mb) = fa.get(part, (0, 0)), fb.get(part, (0, 0))
        mac_change = "" if ma == mb else f"{(mb - ma) / ma:+.1%}" if ma else "new"
        lines.append(f"  {part:<8} {pa:>13,} {pb:>13,} {_change(pa, pb):>19} {human(ma):>9} {human(mb):>9} "
                     f"{mac_change:>9}".rstrip())
    lines.append(f"  depth {ca.depth} -> {cb.depth}, Keras layers {ca.layers} -> {cb.layers}")
    return "\n".join(lines)
