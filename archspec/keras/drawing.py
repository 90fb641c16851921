"""Pictures of networks: a compact stage diagram (text, no TensorFlow), the full layer graph of a
built model (keras.utils.plot_model, which needs pydot and Graphviz's ``dot``), and nets'
params and MACs per part side by side (matplotlib)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from ..graph.complexity import Complexity, complexity
from ..graph.report import compare_parts
from ..spec.errors import RunError
from ..spec.schema import (
    Attention,
    BasicStage,
    BottleneckStage,
    DenseStage,
    DualPathStage,
    ModelSpec,
    PlainStage,
    Stem,
)
from ..utils.figures import pyplot, save_figure

GRAPH_SUFFIXES = (".png", ".svg", ".pdf", ".dot")


def _stem(stem: Stem) -> str:
    return {
        "imagenet": f"7x7/2 conv {stem.width}" if stem.kernel == 7 else f"{stem.kernel}x{stem.kernel}/2 conv {stem.width}",
        "cifar": f"3x3 conv {stem.width}",
        "deep": f"3x3/2, 3x3, 3x3{'/2' if stem.pool == 'stride' else ''} conv {stem.width}",
        "none": "none",
    }[stem.type] + ({True: ", 3x3/2 max pool", "conv": ", 3x3/2 conv"}.get(stem.pool, "")
                    if stem.type in ("imagenet", "deep") else "")


def _grouped(width: int, groups: int) -> str:
    return f"{width}/{groups}g" if groups > 1 else str(width)


def _attention(a: Attention) -> str:
    """``SE x0.0625``, ``ECA``, ``GC x0.125 after 3x3``: the module, its squeeze and where it sits."""
    squeeze = f" x{a.ratio:g}{' of input' if a.ratio_of == 'input' else ''}" if a.ratio else ""
    return f"{a.type.upper()}{squeeze}{' after 3x3' if a.at == 'after_3x3' else ''}"


def _stage(stage: Any) -> str:
    """``3 x basic [3x3 16, 3x3 16] + shortcut A, stride 2``: what one block of the stage computes."""
    if isinstance(stage, PlainStage):
        body = ", ".join([f"3x3 {stage.width}"] * stage.convs)
    elif isinstance(stage, BasicStage):
        body = ", ".join([f"3x3 {_grouped(stage.inner_width, stage.conv_groups)}"] * 2)
    elif isinstance(stage, BottleneckStage):
        body = f"1x1 {stage.inner_width}, 3x3 {_grouped(stage.inner_width, stage.conv_groups)}, 1x1 {stage.out_width}"
    elif isinstance(stage, DenseStage):
        bottleneck = f"1x1 {stage.bn_size * stage.growth_rate}, " if stage.bn_size else ""
        body = f"{bottleneck}3x3 {stage.growth_rate}, concat"
    else:
        assert isinstance(stage, DualPathStage)
        body = (f"1x1 {stage.width}, 3x3 {_grouped(stage.inner_width, stage.groups)}, 1x1 "
                f"{stage.residual_width}+{stage.increment}")
    extras = []
    if isinstance(stage, (BasicStage, BottleneckStage)):
        extras.append(f"+ shortcut {stage.shortcut}")
        extras += [f"order {stage.order}"] if stage.order != "post" else []
        extras += [_attention(stage.attention)] if stage.attention else []
    if isinstance(stage, DenseStage) and stage.compression < 1:
        extras.append(f"transition x{stage.compression:g}")
    if isinstance(stage, PlainStage) and not stage.norm:
        extras.append("no norm")
    if isinstance(stage, PlainStage) and stage.downsample == "maxpool" and stage.stride > 1:
        extras.append(f"after a {stage.stride}x{stage.stride} max pool")
    elif stage.stride > 1:
        last = isinstance(stage, (BasicStage, BottleneckStage)) and stage.downsample_at == "last"
        extras.append(f"stride {stage.stride}" + (" in the last block" if last else ""))
    return f"{stage.depth} x {stage.type} [{body}] {', '.join(extras)}".rstrip()


def stage_diagram(spec: ModelSpec) -> str:
    """One line per part, input to output: what it computes, its output shape and its params."""
    c = complexity(spec)
    head = (f"max pool {spec.head.max_pool}, " if spec.head.max_pool else "") + (
        "flatten, " if spec.head.pooling == "flatten" else f"{spec.head.pooling} pool, ")
    head += "".join(f"dense {u}, " for u in spec.head.hidden)
    head += f"dropout {spec.head.dropout:g}, " if spec.head.dropout else ""
    what = {"stem": f"{spec.stem.type}: {_stem(spec.stem)}",
            "head": f"{head}dense {spec.num_classes} {spec.head.activation}"}
    what.update({f"stage{i + 1}": _stage(s) for i, s in enumerate(spec.stages)})
    rows = [("input", "", "x".join(map(str, spec.input_shape)), "")]
    rows += [(p.scope, what[p.scope], "x".join(map(str, p.output_shape)), f"{p.params:,}") for p in c.parts]
    width = max(len(r[1]) for r in rows)
    lines = [f"{spec.name}: {c.params:,} params, {c.macs / 1e9:.3f} GMACs, depth {c.depth}"]
    lines += [f"  {name:<8} {text:<{width}}  {shape:>12} {params:>12}".rstrip() for name, text, shape, params in rows]
    return "\n".join(lines)


def check_graph_tools(out: Path) -> None:
    """Fail before building if the layer graph cannot be drawn here."""
    if out.suffix not in GRAPH_SUFFIXES:
        raise RunError(f"'{out}': the layer graph is drawn as {', '.join(GRAPH_SUFFIXES)}")
    missing = [name for name, ok in (("pydot", importlib.util.find_spec("pydot") is not None),
                                     ("Graphviz's dot", shutil.which("dot") is not None)) if not ok]
    if missing:
        raise RunError(f"drawing the layer graph needs {' and '.join(missing)}: pip install 'archspec[plot]' "
                       f"and install Graphviz (apt-get install graphviz, brew install graphviz); the stage "
                       f"diagram above needs neither")


def draw_graph(model: Any, out: Path) -> None:
    """Every layer with its output shape, via keras.utils.plot_model."""
    import keras

    keras.utils.plot_model(model, to_file=str(out), show_shapes=True, show_layer_names=True, dpi=72)


def compare_plot(specs: list[ModelSpec], figures: list[Complexity], path: Path) -> None:
    """Params and MACs per part of each net, side by side (He et al. 2015's Fig. 3), as a PNG."""
    plt = pyplot()
    parts = compare_parts(figures)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(specs)
    for k, (spec, c) in enumerate(zip(specs, figures)):
        by_scope = {p.scope: p for p in c.parts}
        xs = [i + (k - (len(specs) - 1) / 2) * width for i in range(len(parts))]
        for ax, key, scale in ((axes[0], "macs", 1e9), (axes[1], "params", 1e6)):
            values = [getattr(by_scope[s], key) / scale if s in by_scope else 0 for s in parts]
            ax.bar(xs, values, width, label=f"{spec.name} ({c.depth} layers, {getattr(c, key) / scale:.2f})")
    for ax, title in ((axes[0], "GMACs per part"), (axes[1], "params per part (M)")):
        ax.set_xticks(range(len(parts)), parts)
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
