"""Block diagrams: each layer in the style of its path (main, shortcut, attention or gate), as the graph IR
marks it, laid out by Graphviz with no line through a box, and `archspec plot SPEC --block`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from archspec.cli import main
from archspec.graph.diagram import STYLES, block_dot, default_block
from archspec.graph.load import load_spec
from archspec.graph.plan import plan

ROOT = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot (apt-get install graphviz)")
USER_SPEC = """\
name: my_eca_net
input_shape: [32, 32, 3]
num_classes: 10
stem: {type: cifar, width: 16}
stages:
  - {type: basic, depth: 1, width: 16}
  - {type: basic, depth: 2, width: 32, stride: 2, attention: {type: eca}}
"""
GATED = [  # a zoo entry and what its gate layers' names hold
    ("se_resnet50", "_se_"), ("ecaresnet50d", "_eca_"), ("cbam_resnet50", "_cbam_"), ("gcresnet50t", "_gc_"),
    ("skresnext50_32x4d", "_sk_"), ("resnest50d", "_2_"), ("cifar_highway_resnet56", "_0_gate"),
]


def dot_of(entry: str, block: str | None = None) -> str:
    graph = plan(load_spec(entry))
    return block_dot(graph, block or default_block(graph), entry)


def node_styles(dot: str) -> dict[str, str]:
    """Each layer's line style: solid (main path), dashed (shortcut) or dotted (attention or gate)."""
    return dict(re.findall(r'^  "([^"]+)" \[label=.*style="rounded,filled,(\w+)"', dot, re.M))


def edge_styles(dot: str) -> dict[tuple[str, str], str]:
    return {(a, b): style for a, b, style in re.findall(r'^  "([^"]+)" -> "([^"]+)" \[.*style=(\w+)', dot, re.M)}


@pytest.mark.parametrize("entry", ["se_resnet50", "ecaresnet50d"])
def test_se_and_eca_layers_are_drawn_as_a_gate_not_as_the_shortcut(entry):
    styles = node_styles(dot_of(entry))
    module = "_se_" if entry == "se_resnet50" else "_eca_"
    gate = {name for name in styles if module in name and not name.endswith("_scale")}
    assert len(gate) >= 3 and {styles[name] for name in gate} == {STYLES["gate"].dash}
    assert styles[f"conv3_block1{module}scale"] == STYLES["main"].dash  # the product is on the main path
    assert styles["conv3_block1_0_conv"] == STYLES["shortcut"].dash
    assert styles["conv3_block1_1_conv"] == STYLES["main"].dash


@pytest.mark.parametrize("entry, marker", GATED)
def test_every_attention_and_gating_module_marks_its_layers_as_a_gate(entry, marker):
    graph = plan(load_spec(entry))
    block = [n for n in graph.nodes if n.name.startswith(f"{default_block(graph)}_")]
    gates = [n.name for n in block if n.branch == "gate"]
    assert gates and all(marker in name for name in gates)
    assert not [n.name for n in block if n.branch == "shortcut" and marker in n.name]


def test_lines_take_the_style_of_their_path_an_identity_shortcut_included():
    edges = edge_styles(dot_of("resnet50", "conv2_block2"))
    assert edges[("conv2_block1_out", "conv2_block2_add")] == STYLES["shortcut"].dash  # no layer of its own
    assert edges[("conv2_block1_out", "conv2_block2_1_conv")] == STYLES["main"].dash
    edges = edge_styles(dot_of("se_resnet50"))
    assert edges[("conv3_block1_3_bn", "conv3_block1_se_squeeze")] == STYLES["gate"].dash
    assert edges[("conv3_block1_se_gate", "conv3_block1_se_scale")] == STYLES["gate"].dash
    assert edges[("conv3_block1_0_bn", "conv3_block1_add")] == STYLES["shortcut"].dash


def test_the_legend_names_the_paths_drawn():
    assert all(STYLES[b].label in dot_of("se_resnet50") for b in STYLES)
    assert STYLES["gate"].label not in dot_of("resnet50")


def test_gates_add_no_depth():
    from archspec.graph.complexity import complexity

    assert complexity(load_spec("se_resnet50")).depth == complexity(load_spec("resnet50")).depth == 50


def crossings(dot: str) -> list[tuple[str, str, str]]:
    """(tail, head, box) for each line of dot's layout that passes through a box other than its ends,
    from the cubic Bezier pieces of each line sampled 20 times."""
    layout = json.loads(subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, text=True,
                                       check=True).stdout)
    boxes = {o["_gvid"]: (o["name"], *map(float, o["pos"].split(",")), float(o["width"]) * 36 - 1,
                          float(o["height"]) * 36 - 1, o.get("shape")) for o in layout["objects"] if "pos" in o}
    found = []
    for e in layout.get("edges", []):
        points = [tuple(map(float, p.split(","))) for p in e["pos"].split() if not p.startswith(("e,", "s,"))]
        samples = [tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t * t * c + t ** 3 * d
                         for a, b, c, d in zip(*points[k:k + 4]))
                   for k in range(0, len(points) - 3, 3) for t in (i / 20 for i in range(21))]
        for gvid, (name, x, y, half_w, half_h, shape) in boxes.items():
            if gvid in (e["tail"], e["head"]):
                continue
            inside = [((sx - x) / half_w) ** 2 + ((sy - y) / half_h) ** 2 < 1 if shape == "oval"
                      else abs(sx - x) < half_w and abs(sy - y) < half_h for sx, sy in samples]
            if any(inside):
                found.append((boxes[e["tail"]][0], boxes[e["head"]][0], name))
    return found


@needs_dot
def test_the_crossing_check_sees_a_line_through_a_box():
    assert crossings('digraph { splines=line; node [shape=box, width=3]; a -> b -> c; a -> c }')


@needs_dot
@pytest.mark.parametrize("entry", sorted({*[about["block"] for about in yaml.safe_load(
    (ROOT / "docs" / "families.yaml").read_text()).values()], *[entry for entry, _ in GATED], "res2net50_26w_4s"}))
def test_no_line_crosses_a_box(entry):
    assert crossings(dot_of(entry)) == []


def plot(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["plot", *args], env=env)


@needs_dot
def test_plot_block_writes_an_svg(tmp_path):
    result = plot("se_resnet50", "--block", str(tmp_path / "se.svg"))
    assert result.exit_code == 0, result.output
    svg = (tmp_path / "se.svg").read_text()
    assert "<svg" in svg and "se_squeeze" in svg and "attention / gate" in svg
    assert result.output.rstrip().endswith(f"wrote {tmp_path / 'se.svg'}")


@needs_dot
def test_plot_block_draws_a_users_own_spec_at_the_block_asked(tmp_path):
    (tmp_path / "mine.yaml").write_text(USER_SPEC)
    result = plot(str(tmp_path / "mine.yaml"), "--block", str(tmp_path / "b.svg"), "--at", "conv3_block2")
    assert result.exit_code == 0, result.output
    svg = (tmp_path / "b.svg").read_text()
    assert "my_eca_net: conv3_block2" in svg and "conv3_block2_eca_conv" in svg and "conv3_block1_eca" not in svg


def test_without_graphviz_an_svg_is_refused_in_one_line_and_the_dot_text_still_written(tmp_path):
    result = plot("se_resnet50", "--block", str(tmp_path / "se.svg"), env={"PATH": str(tmp_path)})
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output
    assert "needs Graphviz's dot" in result.stderr and "install Graphviz" in result.stderr
    assert not list(tmp_path.iterdir())
    result = plot("se_resnet50", "--block", str(tmp_path / "se.dot"), env={"PATH": str(tmp_path)})
    assert result.exit_code == 0 and (tmp_path / "se.dot").read_text().startswith("digraph block {")


def test_plot_block_imports_neither_keras_nor_tensorflow(tmp_path):
    code = ("import sys; from archspec.cli import main; "
            "main(['plot', 'se_resnet50', '--block', sys.argv[1]], standalone_mode=False); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b.dot")], cwd=ROOT, check=True, timeout=120)
    assert (tmp_path / "b.dot").read_text().startswith("digraph block {")


@pytest.mark.parametrize("args, message", [
    (["--block", "b.png"], "a block is drawn as .svg (by Graphviz) or written as its .dot text"),
    (["--block", "b.dot", "--at", "conv9_block1"],
     "no block 'conv9_block1'; its blocks are conv2_block1 to conv2_block3, conv3_block1 to conv3_block4, "),
    (["--at", "conv2_block1"], "--at names the block --block draws"),
])
def test_plot_block_refuses_in_one_line(tmp_path, args, message):
    result = plot("resnet50", *[str(tmp_path / a) if a.startswith("b.") else a for a in args])
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not list(tmp_path.iterdir())
