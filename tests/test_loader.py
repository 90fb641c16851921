"""The loader: safe YAML, extends, and errors located at file:line:col with a useful message."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from archspec.graph.load import check_spec, load_spec, load_text
from archspec.spec import loader, zoo
from archspec.spec.errors import Problem, SpecError
from archspec.spec.loader import MAX_BYTES
from archspec.spec.schema import Head, ModelSpec

ROOT = Path(__file__).resolve().parents[1]
BAD_SPECS = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))

TINY = """\
name: tiny
input_shape: [32, 32, 3]
num_classes: 10
stem: {type: cifar, width: 16}
stages:
  - {type: basic, depth: 2, width: 16, shortcut: A}
  - {type: bottleneck, depth: 1, width: 32, stride: 2, groups: 4, base_width: 8}
"""


def spec_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(text: str, filename: str = "net.yaml") -> list[Problem]:
    with pytest.raises(SpecError) as info:
        load_text(spec_text(text), filename)
    return info.value.problems


def only(text: str, filename: str = "net.yaml") -> Problem:
    found = problems(text, filename)
    assert len(found) == 1, found
    return found[0]


def where(p: Problem) -> tuple:
    return p.file, p.line, p.col


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_text(text))
    return path


# ---- valid specs and YAML 1.2 scalars ---------------------------------------------------------


def test_minimal_spec_loads():
    spec = load_text(TINY)
    assert spec.name == "tiny" and spec.input_shape == (32, 32, 3)
    assert [s.type for s in spec.stages] == ["basic", "bottleneck"]


def test_exponents_are_floats_and_yes_no_stay_strings():
    spec = load_text(TINY + "defaults: {l2: 1e-4, norm: {epsilon: 1E-5}}\nhead: {dropout: 2.5e-3}\n"
                            "description: yes\nfamily: no\n")
    assert spec.defaults.l2 == 1e-4 and spec.defaults.norm.epsilon == 1e-5 and spec.head.dropout == 2.5e-3
    assert (spec.description, spec.family) == ("yes", "no")


def test_float_where_an_int_is_due_is_refused():
    p = only(TINY.replace("num_classes: 10", "num_classes: 1e3"))
    assert where(p) == ("net.yaml", 3, 14)
    assert str(p) == "net.yaml:3:14: num_classes: Input should be a valid integer, got 1000.0"


def test_explicit_standard_tags_are_fine():
    assert load_text(TINY + "description: !!str 123\n").description == "123"


# ---- unsafe and unknown tags -------------------------------------------------------------------


@pytest.mark.parametrize("value, tag", [
    ("!!python/object/apply:os.system [echo hi]", "!!python/object/apply:os.system"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!custom thing", "!custom"),
    ("!!binary aGVsbG8=", "!!binary"),
    ("!!set {a, b}", "!!set"),
])
def test_tags_beyond_plain_data_are_refused(value, tag):
    p = only(TINY + f"description: {value}\n")
    assert where(p) == ("net.yaml", 8, 14)
    assert f"unsupported tag {tag}" in p.message and p.path == "description"


def test_explicit_tag_with_text_it_cannot_hold():
    p = only(TINY + "num_classes2: !!int ten\n")
    assert (p.line, p.col) == (8, 15) and p.message == "'ten' is not a valid !!int"


# ---- duplicate keys, merge keys, aliases, nesting ----------------------------------------------


def test_duplicate_top_level_key_points_at_the_second():
    p = only(TINY + "num_classes: 100\n")
    assert where(p) == ("net.yaml", 8, 1)
    assert p.message == "duplicate key 'num_classes' (first defined on line 3)"


def test_duplicate_key_in_a_flow_mapping_inside_a_list():
    p = only("""
        stages:
          - {type: basic, depth: 2, width: 16}
          - {type: basic, depth: 2, width: 16, depth: 3}
        """)
    assert (p.line, p.col, p.path) == (3, 40, "stages[1].depth")
    assert "first defined on line 3" in p.message


def test_merge_keys_are_refused_with_a_pointer_to_extends():
    p = only("""
        base: &b {type: basic, depth: 2, width: 16}
        stages:
          - {<<: *b, width: 32}
        """)
    assert (p.line, p.col) == (3, 6) and "merge keys (<<) are not supported" in p.message


def test_aliases_are_fine_up_to_the_cap():
    text = TINY.replace("stages:\n", "stages:\n  - &s {type: basic, depth: 1, width: 16}\n  - *s\n")
    assert len(load_text(text).stages) == 4


def test_too_many_aliases():
    text = "x: &a 1\nl: [" + ", ".join(["*a"] * 101) + "]\n"
    p = only(text)
    assert (p.line, p.col) == (2, 5 + 4 * 100) and "more than 100 aliases" in p.message


def test_recursive_alias():
    p = only("a: &x [1, *x]\n")
    assert (p.line, p.col) == (1, 11) and "alias *x refers to a collection that contains it" in p.message


def test_nesting_cap():
    p = only("x: " + "[" * 60 + "]" * 60 + "\n")
    assert (p.line, p.col) == (1, 3 + 50) and "nesting deeper than 50 levels" in p.message


def test_size_cap_on_text_and_files(tmp_path):
    big = "# " + "x" * MAX_BYTES + "\n" + TINY
    with pytest.raises(SpecError, match="larger than the 1 MiB limit"):
        load_text(big)
    with pytest.raises(SpecError, match=r"big\.yaml: larger than the 1 MiB limit"):
        load_spec(write(tmp_path / "big.yaml", big))


# ---- documents that are not specs ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_document(text):
    p = only(text)
    assert p.file == "net.yaml" and p.line is None and "the spec is empty" in p.message


@pytest.mark.parametrize("text, received", [("- a\n- b\n", "a list"), ("resnet50\n", "the value 'resnet50'")])
def test_root_must_be_a_mapping(text, received):
    p = only(text)
    assert (p.line, p.col) == (1, 1)
    assert p.message.endswith(f"mapping of fields (name, stages, ...), not {received}")


@pytest.mark.parametrize("text, line, col, fragment", [
    ("name: x\nstages: [\n  {type: basic\n", 4, 1, "invalid YAML: "),
    ("name: x\n  depth: 2\n", 2, 8, "mapping values are not allowed here"),
    ("name: x\n---\nname: y\n", 2, 1, "expected a single document"),
    ("stages:\n\t- {type: basic}\n", 2, 1, "indent with spaces, not tabs"),
    ('name: "open\n', 2, 1, "found unexpected end of stream"),
])
def test_syntax_errors_have_line_and_column(text, line, col, fragment):
    p = only(text)
    assert (p.line, p.col) == (line, col) and fragment in p.message and p.message.startswith("invalid YAML: ")


def outline(node: Node) -> tuple:
    """A node tree as nested tuples: each node's kind, tag, value, style and start."""
    start = (node.start_mark.name, node.start_mark.line, node.start_mark.column)
    if isinstance(node, ScalarNode):
        return "scalar", node.tag, node.value, node.style or None, start  # plain: PyYAML's None, libyaml's ""
    if isinstance(node, SequenceNode):
        return "sequence", node.tag, start, [outline(item) for item in node.value]
    return "mapping", node.tag, start, [(outline(key), outline(value)) for key, value in node.value]


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML is built without libyaml")
def test_libyaml_parses_every_zoo_file_as_pyyaml_does():
    """libyaml parses specs for speed and PyYAML's own parser where libyaml refuses the text: both must find the
    same nodes at the same places, or an error would point elsewhere depending on the parser that read the file."""
    texts = {str(path): path.read_text(encoding="utf-8") for path in zoo.zoo_paths().values()}
    texts["styles.yaml"] = "a: &x {b: 'q', c: \"d\\n\", e: [1, 2.5, ~, true]}\nf: *x\ng: |\n  text\nh: !!str 3\n"
    for name, text in texts.items():
        by_libyaml = loader._LibyamlLoader(text, name).get_single_node()
        assert outline(by_libyaml) == outline(loader._PyYAMLLoader(text, name).get_single_node()), name


def test_undecodable_bytes(tmp_path):
    path = tmp_path / "image.yaml"
    path.write_bytes(b"name: x\n\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    p, = info.value.problems
    assert where(p) == (str(path), 2, 1) and p.message.startswith("not UTF-8 text: byte 0x89")


def test_control_characters_in_valid_utf8(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"name: x\nstages: \x00\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    p, = info.value.problems
    assert where(p) == (str(path), 2, 9) and "character #x0000 is not allowed" in p.message


def test_missing_file_directory_and_unknown_name(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match=r"nope\.yaml: no such file$"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=r"nope\.yaml: no such file$"):
        load_spec(str(tmp_path / "nope.yaml"))
    with pytest.raises(SpecError, match="is a directory, not a spec file"):
        load_spec(tmp_path)
    monkeypatch.setattr(zoo, "zoo_paths", lambda: {"resnet50": tmp_path / "r.yaml"})
    monkeypatch.setattr(zoo, "aliases", lambda: {})  # the stand-in zoo's entry is no file to read aliases from
    with pytest.raises(SpecError) as info:
        load_spec("resnet5")
    assert str(info.value) == "'resnet5' is neither a spec file nor a zoo name; did you mean 'resnet50'?"


def test_unloadable_source_type():
    with pytest.raises(SpecError, match="cannot load a spec from a int"):
        load_spec(42)


# ---- pydantic errors mapped to the source -------------------------------------------------------


def test_unknown_field_in_a_stage_suggests_the_closest():
    p = only(TINY.replace("groups: 4", "grups: 4"))
    assert where(p) == ("net.yaml", 7, 56) and p.path == "stages[1].grups"
    assert p.message == "unknown field 'grups'; did you mean 'groups'?"


def test_unknown_field_at_the_top_knows_extends():
    p = only(TINY + "extnds: resnet50\n")
    assert (p.line, p.col, p.path) == (8, 1, "extnds") and p.message.endswith("did you mean 'extends'?")


def test_unknown_field_with_nothing_close_lists_the_valid_ones():
    p = only(TINY + "head: {softmax: true}\n")
    assert (p.line, p.col) == (8, 8)
    assert p.message == f"unknown field 'softmax' (valid fields: {', '.join(Head.model_fields)})"


def test_unknown_stage_type_suggests_the_closest():
    p = only(TINY.replace("type: bottleneck", "type: bottlenek"))
    assert (p.line, p.col, p.path) == (7, 12, "stages[1].type")
    assert p.message.startswith("unknown stage type 'bottlenek'; did you mean 'bottleneck'? (expected plain, ")


def test_stage_without_type():
    p = only(TINY.replace("type: basic, ", ""))
    assert (p.line, p.col, p.path) == (6, 5, "stages[0]") and "a stage needs a 'type'" in p.message


def test_missing_field_points_at_the_mapping_that_lacks_it():
    p = only("""
        stages:
          - type: basic
            depth: 2
        """)
    assert (p.line, p.col, p.path) == (2, 5, "stages[0].width") and p.message == "required field is missing"


def test_literal_error_lists_the_allowed_values_and_suggests():
    p = only(TINY.replace("stem: {type: cifar", "stem: {type: cifra"))
    assert (p.line, p.col, p.path) == (4, 14, "stem.type")
    assert p.message == ("Input should be 'imagenet', 'cifar', 'deep' or 'none', got 'cifra'; "
                         "did you mean 'cifar'?")


def test_plain_union_errors_become_one_line():
    p = only(TINY + "defaults: {conv_bias: maybe}\n")
    assert (p.line, p.col, p.path) == (8, 23, "defaults.conv_bias")
    assert p.message == "Input should be a valid boolean or 'unnormalized', got 'maybe'"


def test_model_validator_error_points_at_the_field_it_names():
    p = only(TINY.replace("shortcut: A}", "shortcut: A, groups: 3}"))
    assert (p.line, p.col, p.path) == (6, 61, "stages[0].groups")
    assert not p.message.startswith("Value error") and "groups 3 must divide" in p.message


def test_all_errors_are_reported_one_line_each():
    with pytest.raises(SpecError) as info:
        load_text(spec_text("""
            num_classes: 0
            stem: {type: cifar, widht: 16}
            stages:
              - {type: basic, depth: -1, width: 16}
            """), "net.yaml")
    assert str(info.value).splitlines() == [
        "net.yaml:1:14: num_classes: Input should be greater than 0, got 0",
        "net.yaml:2:21: stem.widht: unknown field 'widht'; did you mean 'width'?",
        "net.yaml:4:26: stages[0].depth: Input should be greater than 0, got -1",
    ]


def test_values_are_shown_in_yaml_words():
    p = only(TINY + "description: null\n")
    assert p.message == "Input should be a valid string, got null"


# ---- whole-network (plan) errors ------------------------------------------------------------------


def test_plan_error_points_at_the_stage():
    p = only(TINY.replace("width: 16, shortcut: A", "width: 32, shortcut: identity"))
    assert (p.line, p.col, p.path) == (6, 5, "stages[0]")
    assert "shortcut 'identity' cannot join" in p.message


def test_check_spec_on_a_spec_built_in_python():
    spec = ModelSpec(stem={"type": "cifar", "width": 16},
                     stages=[{"type": "basic", "depth": 1, "width": 32, "shortcut": "identity"}])
    with pytest.raises(SpecError) as info:
        check_spec(spec)
    p, = info.value.problems
    assert (p.file, p.line, p.path) == (None, None, "stages[0]") and "cannot join" in p.message
    check_spec(load_text(TINY))


# ---- extends -----------------------------------------------------------------------------------

BASE = """\
name: base
family: resnet
input_shape: [32, 32, 3]
num_classes: 10
defaults: {activation: relu, l2: 0.0005}
stem: {type: cifar, width: 16}
stages:
  - {type: basic, depth: 2, width: 16}
  - {type: basic, depth: 2, width: 32, stride: 2}
"""


def test_extends_merges_mappings_and_replaces_lists(tmp_path):
    write(tmp_path / "base.yaml", BASE)
    child = write(tmp_path / "nets" / "child.yaml", """
        extends: ../base.yaml
        defaults: {activation: swish}
        stages:
          - {type: basic, depth: 1, width: 8}
        """)
    spec = load_spec(child)
    assert (spec.name, spec.family, spec.num_classes) == ("child", "resnet", 10)
    assert (spec.defaults.activation, spec.defaults.l2) == ("swish", 0.0005)
    assert len(spec.stages) == 1


def test_extends_chain_and_explicit_name(tmp_path):
    write(tmp_path / "base.yaml", BASE)
    write(tmp_path / "mid.yaml", "extends: base.yaml\nnum_classes: 100\n")
    top = write(tmp_path / "top.yaml", "extends: mid.yaml\nname: top_net\nhead: {dropout: 0.5}\n")
    spec = load_spec(top)
    assert (spec.name, spec.num_classes, spec.head.dropout) == ("top_net", 100, 0.5)


def test_error_in_the_base_points_at_the_base_file(tmp_path):
    base = write(tmp_path / "base.yaml", BASE.replace("depth: 2, width: 32", "depth: 0, width: 32"))
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nnum_classes: 5\n")
    with pytest.raises(SpecError) as info:
        load_spec(child)
    p, = info.value.problems
    assert where(p) == (str(base), 9, 26) and p.path == "stages[1].depth"


def test_error_in_a_merged_mapping_points_at_the_child(tmp_path):
    write(tmp_path / "base.yaml", BASE)
    child = write(tmp_path / "child.yaml", "extends: base.yaml\ndefaults: {activaton: swish}\n")
    with pytest.raises(SpecError) as info:
        load_spec(child)
    p, = info.value.problems
    assert where(p) == (str(child), 2, 12) and p.message.endswith("did you mean 'activation'?")


def test_plan_error_in_an_extended_spec_points_at_the_child_stage(tmp_path):
    write(tmp_path / "base.yaml", BASE)
    child = write(tmp_path / "child.yaml", """
        extends: base.yaml
        stem: {width: 32}
        stages:
          - {type: basic, depth: 1, width: 8, shortcut: identity}
        """)
    with pytest.raises(SpecError) as info:
        load_spec(child)
    p, = info.value.problems
    assert where(p) == (str(child), 4, 5) and p.path == "stages[0]"
    assert "cannot join a block that maps 32 channels at stride 1 to 8 channels" in p.message


def test_extends_cycle(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    b = write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "a.yaml")
    p, = info.value.problems
    assert where(p) == (str(b), 1, 10) and p.message.startswith("extends cycle: ")
    assert p.message.endswith("a.yaml -> " + str((tmp_path / "b.yaml").resolve()) + " -> "
                              + str((tmp_path / "a.yaml").resolve()))


def test_extends_itself(tmp_path):
    me = write(tmp_path / "me.yaml", "extends: me.yaml\n")
    with pytest.raises(SpecError, match=r"me\.yaml:1:10: extends: extends cycle"):
        load_spec(me)


def test_extends_missing_file_and_bad_value(tmp_path):
    child = write(tmp_path / "child.yaml", "name: c\nextends: gone.yaml\n")
    with pytest.raises(SpecError) as info:
        load_spec(child)
    p, = info.value.problems
    assert (p.line, p.col, p.path) == (2, 10, "extends") and p.message.startswith("no such base spec: ")
    child.write_text("extends: [base.yaml]\n")
    with pytest.raises(SpecError, match="1:10: extends: extends must be a zoo name or a path to a .yaml"):
        load_spec(child)


def test_extends_zoo_name(tmp_path, monkeypatch):
    base = write(tmp_path / "zoo" / "tinybase.yaml", BASE)
    monkeypatch.setattr(zoo, "zoo_paths", lambda: {"tinybase": base})
    monkeypatch.setattr(zoo, "aliases", lambda: {})  # else the cached aliases would be the stand-in zoo's
    spec = load_spec(write(tmp_path / "mine.yaml", "extends: tinybase\nnum_classes: 3\n"))
    assert (spec.name, spec.num_classes, len(spec.stages)) == ("mine", 3, 2)
    with pytest.raises(SpecError) as info:
        load_text("extends: tinybse\n")
    p, = info.value.problems
    assert (p.line, p.col) == (1, 10)
    assert p.message == "unknown zoo name 'tinybse'; did you mean 'tinybase'? (a path must end in .yaml)"


def test_text_never_inherits_the_base_name(tmp_path, monkeypatch):
    write(tmp_path / "base.yaml", BASE)
    monkeypatch.chdir(tmp_path)
    assert load_text("extends: base.yaml\n").name == "model"


def test_extends_the_real_zoo(tmp_path):
    if zoo.zoo_path("resnet50") is None:
        pytest.skip("no resnet50 in the zoo yet")
    spec = load_spec(write(tmp_path / "my_resnet.yaml", "extends: resnet50\nnum_classes: 10\n"))
    assert (spec.name, spec.family, spec.num_classes, len(spec.stages)) == ("my_resnet", "resnet", 10, 4)



def test_depths_and_every_stage_say_what_a_variant_changes(tmp_path):
    """A base's stages with other depths and a field on every stage: the base's own stage fields kept, the
    shorthand's over them, from a file or as overrides."""
    base = write(tmp_path / "base.yaml", """
        name: base
        family: resnet
        input_shape: [32, 32, 3]
        num_classes: 10
        stages:
          - {type: basic, depth: 1, width: 8, shortcut: C}
          - {type: basic, depth: 1, width: 16, stride: 2, attention: {type: se}}
        """)
    child = write(tmp_path / "child.yaml", """
        extends: base.yaml
        depths: [2, 3]
        widths: [8, 24]
        every_stage: {attention: {type: eca}, shortcut: B}
        """)
    spec = load_spec(child)
    assert [(s.depth, s.width, s.shortcut, s.attention.type) for s in spec.stages] == [(2, 8, "B", "eca"),
                                                                                       (3, 24, "B", "eca")]
    assert [s.depth for s in load_spec(base, overrides={"depths": [4, 5]}).stages] == [4, 5]


@pytest.mark.parametrize("text, where, message", [
    ("depths: [2]", (2, 9), "depths lists one depth per stage: 1 values for this spec's 2 stages"),
    ("depths: 3", (2, 9), "depths lists one depth per stage: not a list of values for this spec's 2 stages"),
    ("widths: [8, 16, 32]", (2, 9), "widths lists one width per stage: 3 values for this spec's 2 stages"),
    ("depths: [2, 0]", (2, 13), "Input should be greater than 0"),
    ("every_stage: [se_ratio]", (2, 14), "every_stage is a mapping of stage fields"),
    ("every_stage: {groupz: 2}", (2, 15), "groupz"),
    ("block_widths: [[[8, 8]]]", (2, 15), "block_widths lists one list of block widths per stage: 1 values for this spec's 2"),
    ("block_widths: [[[8]], [[8, 8]]]", (2, 16), "block_widths lists 2 conv widths for each of the stage's 1 blocks"),
    ("depths: [1, 2]\nblock_widths: [[[8, 8]], [[8, 8], [4, 16]]]", (3, 26),
     "block_widths ends blocks at [8, 16] channels: each block's last conv must give the same width"),
])
def test_stage_shorthand_problems_are_located_in_the_file(tmp_path, text, where, message):
    write(tmp_path / "base.yaml", "name: b\nfamily: resnet\ninput_shape: [32, 32, 3]\nnum_classes: 10\nstages:\n"
                                  "  - {type: basic, depth: 1, width: 8}\n  - {type: basic, depth: 1, width: 8}\n")
    path = write(tmp_path / "child.yaml", f"extends: base.yaml\n{text}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    p = info.value.problems[0]
    assert (Path(p.file).name, p.line, p.col) == ("child.yaml", *where) and message in p.message


def test_block_widths_give_each_blocks_convs_their_own_widths(tmp_path):
    """A pruned network: each block's convs as listed, its projection to the blocks' last width."""
    from archspec.graph.plan import plan

    path = write(tmp_path / "p.yaml", """
        name: p
        input_shape: [32, 32, 3]
        num_classes: 10
        stages:
          - {type: bottleneck, depth: 2, width: 8, block_widths: [[5, 7, 29], [6, 3, 29]]}
        """)
    filters = {n.name: n.attrs["filters"] for n in plan(load_spec(path)).nodes if n.op == "conv"}
    assert [filters[f"conv2_block{b}_{k}_conv"] for b in (1, 2) for k in (1, 2, 3)] == [5, 7, 29, 6, 3, 29]
    assert filters["conv2_block1_0_conv"] == 29


def test_stage_shorthands_need_a_list_of_stages(tmp_path):
    path = write(tmp_path / "r.yaml", "extends: regnetx_002\ndepths: [1, 1, 1, 1]\n")
    with pytest.raises(SpecError, match="depths applies to the spec's list of stages, which it does not have"):
        load_spec(path)


# ---- load_spec sources and overrides --------------------------------------------------------------


def test_name_defaults_to_the_file_stem(tmp_path):
    assert load_spec(write(tmp_path / "my-net.yaml", TINY.replace("name: tiny\n", ""))).name == "my-net"
    assert load_text(TINY.replace("name: tiny\n", "")).name == "model"


def test_model_spec_is_returned_as_is_or_overridden():
    spec = load_text(TINY)
    assert load_spec(spec) is spec
    changed = load_spec(spec, overrides={"input_shape": (64, 64, 3), "num_classes": 7})
    assert (changed.input_shape, changed.num_classes, changed.name) == ((64, 64, 3), 7, "tiny")


def test_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path / "tiny.yaml", TINY)
    spec = load_spec(path, overrides={"num_classes": 2, "head": {"dropout": 0.5}})
    assert (spec.num_classes, spec.head.dropout, spec.head.activation) == (2, 0.5, "softmax")
    with pytest.raises(SpecError) as info:
        load_spec(path, overrides={"num_classes": -1})
    p, = info.value.problems
    assert (p.file, p.line, p.path) == (None, None, "num_classes") and p.message.endswith("got -1")


def test_dict_source_with_extends(tmp_path, monkeypatch):
    write(tmp_path / "base.yaml", BASE)
    monkeypatch.chdir(tmp_path)
    spec = load_spec({"extends": "base.yaml", "num_classes": 4})
    assert (spec.name, spec.num_classes) == ("model", 4)
    with pytest.raises(SpecError) as info:
        load_spec({"stages": [{"type": "basic", "depth": 1, "width": 8, "widht": 3}]})
    p, = info.value.problems
    assert (p.file, p.path) == (None, "stages[0].widht") and p.message.endswith("did you mean 'width'?")


def test_loading_does_not_import_tensorflow():
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from archspec.graph.load import load_text\n"
            f"load_text({TINY!r})\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ---- realistic bad specs ------------------------------------------------------------------------


@pytest.mark.parametrize("path", BAD_SPECS, ids=lambda p: p.stem)
def test_bad_spec(path):
    expect = re.fullmatch(r"# expect: (\d+):(\d+) (.+)", path.read_text().splitlines()[0])
    assert expect, f"{path.name} lacks a first-line '# expect: LINE:COL message' comment"
    line, col, fragment = int(expect[1]), int(expect[2]), expect[3]
    with pytest.raises(SpecError) as info:
        load_spec(path)
    found = info.value.problems
    assert any((p.line, p.col) == (line, col) and fragment in str(p) for p in found), str(info.value)
