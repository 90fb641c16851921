"""Plain-text renderings of complexity figures for the CLI (no TensorFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .complexity import Complexity
from .schema import ModelSpec

if TYPE_CHECKING:
    from .zoo import ZooEntry


def human(n: float) -> str:
    """1234567 -> '1.23M': compact figures for tables."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def complexity_table(spec: ModelSpec, c: Complexity) -> str:
    shape = "x".join(map(str, spec.input_shape))
    lines = [
        f"{spec.name}: {c.params:,} params ({c.total_params:,} with norm statistics), "
        f"{c.macs / 1e9:.3f} GMACs at {shape}, depth {c.depth}, {c.layers} Keras layers",
        f"  {'part':<8} {'output':>14} {'params':>13} {'MACs':>9}",
    ]
    for p in c.parts:
        out = "x".join(map(str, p.output_shape))
        lines.append(f"  {p.scope:<8} {out:>14} {p.params:>13,} {human(p.macs):>9}")
    return "\n".join(lines)


def zoo_markdown(entries: list["ZooEntry"]) -> str:
    """The README's zoo table: computed figures beside the published ones and their source."""
    rows = [
        "| name | family | input | params | GMACs | published params | published error (%) | source |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for e in entries:
        p = e.published
        pub_params = f"{p.params:,}" if p and p.params else ""
        error = f"{p.error:.2f}" if p and p.error is not None else ""
        source = (p.source or p.protocol or "") if p else ""
        rows.append(f"| {e.name} | {e.family} | {e.input_size} | {e.params:,} | {e.macs / 1e9:.3f} | "
                    f"{pub_params} | {error} | {source} |")
    return "\n".join(rows)


def csv_text(rows: list[dict]) -> str:
    """Rows of dicts as CSV text, columns in order of first appearance (histories, experiment results)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, list(dict.fromkeys(k for row in rows for k in row)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
