"""Plain-text renderings of complexity figures for the CLI (no TensorFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec.schema import ModelSpec
from .complexity import Complexity

if TYPE_CHECKING:
    from .catalogue import ZooEntry


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


def compare_parts(figures: list[Complexity]) -> list[str]:
    """The parts of several nets, aligned: stem, stage1 ... the most stages any has, head."""
    stages = max(sum(p.scope.startswith("stage") for p in c.parts) for c in figures)
    return ["stem", *(f"stage{i + 1}" for i in range(stages)), "head"]


def compare_table(specs: list[ModelSpec], figures: list[Complexity]) -> str:
    """Nets side by side in the spirit of He et al. 2015, Fig. 3: depth, params and MACs, whole and
    per part (output size, params, MACs of each stage)."""
    name = max(len("model"), *(len(s.name) for s in specs))  # columns as wide as their longest entry
    lines = [f"{'model':<{name}} {'depth':>5} {'layers':>6} {'params':>13} {'GMACs':>8}"]
    for spec, c in zip(specs, figures):
        lines.append(f"{spec.name:<{name}} {c.depth:>5} {c.layers:>6} {c.params:>13,} {c.macs / 1e9:>8.3f}")
    rows = [[scope] for scope in compare_parts(figures)]
    for c in figures:
        for row in rows:
            part = next((p for p in c.parts if p.scope == row[0]), None)
            row.append("-" if part is None else
                       f"{'x'.join(map(str, part.output_shape))} / {human(part.params)} / {human(part.macs)}")
    header = ["part", *(s.name for s in specs)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines += ["", "per part: output / params / MACs"]
    for row in [header, *rows]:
        lines.append(f"{row[0]:<{widths[0]}}" + "".join(f"  {cell:>{w}}" for cell, w in zip(row[1:], widths[1:])))
    return "\n".join(lines)


def zoo_markdown(entries: list["ZooEntry"]) -> str:
    """The zoo as a Markdown table: computed figures beside the published ones and their source."""
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


SOURCE_NAMES = {"keras.applications": "imagenet", "torchvision": "torchvision", "timm": "timm"}


def weights_table(spec: ModelSpec) -> str:
    """The published weights a spec records: what ``--weights`` takes for each, its top-1 and transform."""
    source = spec.source
    if source is None or not source.weights:
        return "published weights: none recorded (train it, or load a file of its family with --weights)"
    lines = [f"published weights of {source.library}'s {source.model} (--weights NAME; the first is the default):"]
    for w in source.weights:
        name = SOURCE_NAMES.get(source.library, source.library)
        name = name if name == "imagenet" else f"{name}:{w.name}"
        top1 = f"top-1 {w.top1:.2f}%" if w.top1 is not None else "top-1 not recorded"
        transform = (f"eval resize {w.eval.resize}, crop {w.eval.crop}, {w.eval.interpolation}" if w.eval
                     else "eval: shorter side to size / 0.875, centre crop")
        lines.append(f"  {name:<34}{top1:<20}{transform}  {w.url}")
    return "\n".join(lines)
