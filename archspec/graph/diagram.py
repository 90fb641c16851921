"""One residual (or plain, dense, dual path) block of a planned network as a Graphviz DOT graph, laid out by
``dot`` (the layered-graph engine keras.utils.plot_model uses), so that no line is placed by hand.

Each layer is drawn in the style of the path its node is on (``Node.branch``): the main path, the shortcut,
or an attention or gating branch, with a legend. An identity shortcut has no layer of its own: it is the
line from the block's input straight into the merge, drawn in the shortcut's style. No TensorFlow.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..spec.errors import RunError
from .ir import Branch, Graph, Node

BLOCK = re.compile(r"^(conv\d+_block\d+)_")  # every block's layers are named conv{stage + 1}_block{n}_...
MERGES = ("add", "weighted_add", "highway", "concat")  # where a line from the block's input is a shortcut
INSTALL = "install Graphviz (apt-get install graphviz, brew install graphviz, conda install graphviz)"


@dataclass(frozen=True)
class Style:
    label: str
    fill: str
    line: str  # colour of its boxes' borders and of its lines
    dash: str  # Graphviz style of both: solid, dashed, dotted


STYLES: dict[Branch, Style] = {
    "main": Style("main path", "#dbe8fb", "#2f5d9e", "solid"),
    "shortcut": Style("shortcut", "#fde9c8", "#b86e00", "dashed"),
    "gate": Style("attention / gate", "#d9f2dc", "#2b7a3d", "dotted"),
}


def block_names(graph: Graph) -> list[str]:
    """The blocks of the network, in order (``conv2_block1``, ...)."""
    return list(dict.fromkeys(m.group(1) for n in graph.nodes if (m := BLOCK.match(n.name))))


def default_block(graph: Graph) -> str:
    """The first block of the second stage, which usually changes the map's shape (so its shortcut
    projects), else the first block."""
    names = block_names(graph)
    if not names:
        raise RunError("this network has no blocks (layers named conv{n}_block{m}_...) to draw")
    return next((name for name in names if name.startswith("conv3_")), names[0])


def _ranges(names: list[str]) -> str:
    """``conv2_block1 to conv2_block3, conv3_block1 to conv3_block4``: a stage's blocks in one item."""
    stages: dict[str, list[str]] = {}
    for name in names:
        stages.setdefault(name.split("_")[0], []).append(name)
    return ", ".join(b[0] if len(b) == 1 else f"{b[0]} to {b[-1]}" for b in stages.values())


def _what(n: Node) -> str:
    """What a layer computes, in a few words: ``3x3 conv 128, /2, 32 groups``."""
    a = n.attrs
    if n.op == "conv":
        extras = {f"/{a['stride']}": a["stride"] > 1, f"{a['groups']} groups": a["groups"] > 1,
                  f"dilation {a['dilation']}": a["dilation"] > 1, "shared": bool(a["shares"])}
        return ", ".join([f"{a['kernel']}x{a['kernel']} conv {a['filters']}", *[e for e, on in extras.items() if on]])
    if n.op == "act":
        return a["kind"]
    if n.op in ("pool", "global_pool"):
        window = f" {a['size']}x{a['size']}, /{a['stride']}" if n.op == "pool" else ""
        return f"{'global ' * (n.op == 'global_pool')}{a['kind']} pool{window}"
    if n.op == "channel_conv":
        return f"1D conv across channels, {a['kernel']}"
    if n.op in ("dropout", "drop_path"):
        return f"{n.op.replace('_', '-')} {a['rate']:.3g}"
    if n.op == "slice":
        return f"channels {a['start']}:{a['stop']}"
    return {"norm": "batch norm", "layer_norm": "layer norm", "weighted_add": "weighted add"}.get(
        n.op, n.op.replace("_", " "))


def _quote(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _label(what: str, below: str) -> str:
    return f'<<B>{_quote(what)}</B><BR/><FONT POINT-SIZE="9">{_quote(below)}</FONT>>'


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _legend(title: str, branches: list[Branch]) -> str:
    """The title over a row of sample boxes, one per kind of path drawn: the graph's own label, so no
    line can cross it."""
    cells = "".join(f'<TD BGCOLOR="{STYLES[b].fill}" COLOR="{STYLES[b].line}" STYLE="{STYLES[b].dash}" '
                    f'BORDER="2">{STYLES[b].label}</TD>' for b in branches)
    return (f'<<TABLE BORDER="0" CELLSPACING="6" CELLPADDING="4"><TR><TD COLSPAN="{len(branches)}">'
            f'<B>{_quote(title)}</B></TD></TR><TR>{cells}</TR></TABLE>>')


def _line(source: Branch | None, target: Node) -> Branch:
    """The path a line belongs to: a gate's if either end is a gate's, else a shortcut's if either end is
    a shortcut's or it runs from the block's input (``source`` None) straight into a merge, else the main path's."""
    ends = (source, target.branch)
    if "gate" in ends:
        return "gate"
    return "shortcut" if "shortcut" in ends or (source is None and target.op in MERGES) else "main"


def block_dot(graph: Graph, block: str, title: str) -> str:
    """The layers named ``{block}_...`` as DOT text: main-path layers kept in one straight column, the
    block's input and output as ovals, every line in the style of the path it belongs to."""
    nodes = [n for n in graph.nodes if n.name.startswith(f"{block}_")]
    if not nodes:
        raise RunError(f"this network has no block {block!r}; its blocks are {_ranges(block_names(graph))}")
    branches = {n.name: n.branch for n in nodes}
    shapes = {n.name: n.shape for n in graph.nodes}
    sources = list(dict.fromkeys(i for n in nodes for i in n.inputs if i not in branches))
    lines = ["digraph block {",
             '  graph [rankdir=TB, nodesep=0.3, ranksep=0.28, fontname="Helvetica", fontsize=12, labelloc=t];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, margin="0.12,0.04"];',
             "  edge [arrowsize=0.6, penwidth=1.6];"]
    for source in sources:
        below = f"{source} · {_size(shapes[source])}" if len(sources) > 1 else _size(shapes[source])
        lines.append(f'  "{source}" [label={_label("block input", below)}, shape=oval, fillcolor="#eeeeee", '
                     f'color="#666666", group=main];')
    for n in nodes:
        s = STYLES[n.branch]
        below = f"{n.name.removeprefix(block + '_')} · {_size(n.shape)}"
        group = ", group=main" if n.branch == "main" else ""
        lines.append(f'  "{n.name}" [label={_label(_what(n), below)}, fillcolor="{s.fill}", color="{s.line}", '
                     f'style="rounded,filled,{s.dash}"{group}];')
    drawn: set[Branch] = set(branches.values())
    for n in nodes:
        for i in n.inputs:
            kind = _line(branches.get(i), n)
            drawn.add(kind)
            s = STYLES[kind]
            weight = 8 if kind == "main" else 1  # pulls the main path straight
            lines.append(f'  "{i}" -> "{n.name}" [color="{s.line}", style={s.dash}, weight={weight}];')
    last = nodes[-1].name
    lines.append(f'  "{block} output" [label={_label("block output", _size(nodes[-1].shape))}, shape=oval, '
                 f'fillcolor="#eeeeee", color="#666666", group=main];')
    lines.append(f'  "{last}" -> "{block} output" [color="{STYLES["main"].line}", weight=8];')
    lines.append(f"  label={_legend(title, [b for b in STYLES if b in drawn])};")
    return "\n".join(lines) + "\n}\n"


def dot_version() -> str | None:
    """The version of Graphviz's ``dot`` on the PATH (``2.43.0``), or None where there is none."""
    if shutil.which("dot") is None:
        return None
    done = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=False)
    found = re.search(r"version (\S+)", done.stderr + done.stdout)
    return found.group(1) if found else "unknown"


def _need_dot() -> None:
    if shutil.which("dot") is None:
        raise RunError(f"drawing a block as .svg needs Graphviz's dot, which is not on the PATH: {INSTALL}; "
                       f"or write its DOT text to a .dot file")


def check_block_file(out: Path) -> None:
    """Fail before planning if ``out`` cannot be drawn here: a .dot file needs nothing, an .svg needs ``dot``."""
    if out.suffix not in (".svg", ".dot"):
        raise RunError(f"'{out}': a block is drawn as .svg (by Graphviz) or written as its .dot text")
    if out.suffix == ".svg":
        _need_dot()


def render_svg(dot: str) -> str:
    """``dot``'s SVG of a DOT text."""
    _need_dot()
    done = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RunError(f"Graphviz's dot failed: {done.stderr.strip()}")
    return done.stdout
