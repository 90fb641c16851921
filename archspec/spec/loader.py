"""YAML text -> validated ``ModelSpec``, every problem located at ``file:line:col``.

A spec is first composed into a YAML node tree (each node knows its file, line
and column), ``extends`` is resolved by merging trees node by node, and only
then is the tree turned into plain data for pydantic. Errors from pydantic and
from a caller's whole-network check (the planner's, passed in by ``archspec.graph.load``)
carry a field path, which is walked back through the tree to the node that caused them. The YAML subset is deliberately small: YAML 1.2 core
scalars (``1e-4`` is a float, ``yes`` is a string), no tags beyond the standard
ones, no duplicate keys, and caps on size, aliases and nesting.
"""

from __future__ import annotations

import difflib
import io
import re
import reprlib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from . import zoo
from .errors import PlanError, Problem, SpecError
from .schema import STAGE_TYPES, ModelSpec

MAX_BYTES = 1 << 20
MAX_ALIASES = 100
MAX_DEPTH = 50
SPEC_SUFFIXES = (".yaml", ".yml")

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_PYTHON = "tag:archspec:python"  # a scalar node holding a Python value (dicts, overrides)

Loc = tuple[Union[str, int], ...]  # a field path: ("stages", 1, "groups")


# ---- scalars -----------------------------------------------------------------------------


def _int(text: str) -> int:
    return int(text, 0) if text.lstrip("+-")[:2] in ("0x", "0o") else int(text)


def _float(text: str) -> float:
    return float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"


_SCALARS: dict[str, Callable[[str], Any]] = {
    _STR: str, _INT: _int, _FLOAT: _float, _BOOL: _bool, _NULL: lambda text: None,
}


def _scalar(node: ScalarNode) -> Any:
    """The Python value of a scalar node (the loader has already checked its tag and text)."""
    return node.value if node.tag == _PYTHON else _SCALARS[node.tag](node.value)


def _show_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


# ---- the loader --------------------------------------------------------------------------


class _SpecComposer(Composer, Resolver):
    """Composes a spec's YAML events into a node tree in which every node keeps its mark, whichever parser
    (libyaml's or PyYAML's) reads the text.

    Its resolver is YAML 1.2's core schema (PyYAML's YAML 1.1 one reads ``1e-4``
    as a string and ``no`` as false), and composing refuses what a spec never
    needs: unknown tags, duplicate keys, merge keys, deep nesting, many aliases.
    """

    yaml_implicit_resolvers: dict = {}

    def __init__(self) -> None:
        Composer.__init__(self)
        Resolver.__init__(self)
        self._aliases = 0
        self._open: list[str | None] = []  # anchors of the collections being composed
        self._path: list[str | int | None] = []

    def fail(self, node_or_mark: Any, message: str, *extra: str | int) -> SpecError:
        """An error at a node or mark, its path being the one being composed (plus ``extra``)."""
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        where = _render([p for p in self._path if p is not None] + list(extra))
        return SpecError(Problem(message, where, mark.name, mark.line + 1, mark.column + 1))

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._path.append(index.value if isinstance(index, ScalarNode) else index)
        try:
            event = self.peek_event()
            if isinstance(event, AliasEvent):
                return self._compose_alias(event, parent, index)
            if not isinstance(event, CollectionStartEvent):
                return self._checked(super().compose_node(parent, index))
            if len(self._open) >= MAX_DEPTH:
                raise self.fail(event, f"nesting deeper than {MAX_DEPTH} levels: a spec is never this deep")
            self._open.append(event.anchor)
            try:
                return self._checked(super().compose_node(parent, index))
            finally:
                self._open.pop()
        finally:
            self._path.pop()

    def _compose_alias(self, event: AliasEvent, parent: Node | None, index: Any) -> Node:
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise self.fail(event, f"more than {MAX_ALIASES} aliases: too many *references for a spec")
        if event.anchor in self._open:
            raise self.fail(event, f"alias *{event.anchor} refers to a collection that contains it")
        return super().compose_node(parent, index)

    def _checked(self, node: Node) -> Node:
        """Refuse tags beyond plain data here, where the path is known, so loading never constructs them."""
        if isinstance(node, ScalarNode):
            if node.tag not in _SCALARS:
                raise self.fail(node, f"unsupported tag {_show_tag(node.tag)}: a spec holds only strings, "
                                      "numbers, booleans and null")
            try:
                _scalar(node)
            except ValueError:
                raise self.fail(node, f"{node.value!r} is not a valid {_show_tag(node.tag)}") from None
        elif node.tag not in (_SEQ, _MAP):
            raise self.fail(node, f"unsupported tag {_show_tag(node.tag)}: a spec holds only plain "
                                  "mappings and lists")
        return node

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        first: dict[str, ScalarNode] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                raise self.fail(key, "a mapping key must be a plain name, not a list or mapping")
            if key.value == "<<" and key.tag == _STR and not key.style:  # plain: None from PyYAML, "" from libyaml
                raise self.fail(key, "YAML merge keys (<<) are not supported: use 'extends:' or write "
                                     "the fields out", "<<")
            if key.value in first:
                raise self.fail(key, f"duplicate key {key.value!r} (first defined on line "
                                     f"{first[key.value].start_mark.line + 1})", key.value)
            first[key.value] = key
        return node


def add_core_resolvers(cls: type[yaml.resolver.BaseResolver]) -> None:
    """YAML 1.2 core schema; ints before floats, since the float pattern also matches ints. The spec dumper
    adds them too, so it quotes every string the loader would read as something else."""
    digits = list("-+0123456789")
    bools = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    cls.add_implicit_resolver(_BOOL, bools, list("tTfF"))
    cls.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), digits)
    cls.add_implicit_resolver(
        _FLOAT,
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        digits + ["."],
    )
    cls.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


add_core_resolvers(_SpecComposer)


class _PyYAMLLoader(Reader, Scanner, Parser, _SpecComposer):
    """PyYAML's pure-Python parser: slow, but its messages name the character at fault (libyaml's do not)."""

    def __init__(self, text: str, filename: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _SpecComposer.__init__(self)
        self.name = filename  # marks carry the file, so merged trees still point at the right one


if yaml.__with_libyaml__:
    from yaml.cyaml import CParser

    class _LibyamlLoader(_SpecComposer, CParser):
        """libyaml's parser, in C (the zoo's files compose eight times faster): its events carry PyYAML's marks, but
        for an empty value in a flow mapping (``{depth: }``), which it marks at the token after."""

        def __init__(self, text: str, filename: str) -> None:
            stream = io.StringIO(text)
            stream.name = filename  # libyaml names its marks after the stream
            CParser.__init__(self, stream)
            _SpecComposer.__init__(self)


# ---- text and files -> node trees -----------------------------------------------------------


def _compose(text: str, filename: str) -> MappingNode:
    """Parse one YAML document into a node tree whose root is a mapping."""
    if len(text) > MAX_BYTES:
        raise SpecError(Problem("larger than the 1 MiB limit for a spec", file=filename))
    root = _parse(text, filename)
    if root is None or root.tag == _NULL:
        raise SpecError(Problem("the spec is empty: expected a mapping of fields (name, stages, ...)",
                                file=filename))
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else f"the value {root.value!r}"
        raise SpecError(_problem_at(root, f"the top level must be a mapping of fields (name, stages, ...), "
                                          f"not {kind}"))
    return root


def _parse(text: str, filename: str) -> Node | None:
    """The document's node tree, parsed by libyaml where PyYAML has it (`archspec zoo list` composes every zoo
    file). A text libyaml refuses is parsed again by PyYAML's own parser, whose messages name the character at
    fault; libyaml reads a few that PyYAML's refuses, all valid YAML (a tab between tokens, ``?`` in a flow scalar)."""
    if yaml.__with_libyaml__:
        try:
            return _LibyamlLoader(text, filename).get_single_node()
        except (yaml.YAMLError, UnicodeEncodeError):  # UnicodeEncodeError: a lone surrogate, PyYAML's reader refuses
            pass
    try:
        loader = _PyYAMLLoader(text, filename)
    except yaml.reader.ReaderError as err:
        raise _bad_character(text, filename, err) from None
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err, filename) from None
    finally:
        loader.dispose()


def _syntax_error(err: yaml.MarkedYAMLError, filename: str) -> SpecError:
    mark = err.problem_mark or err.context_mark
    message = f"invalid YAML: {err.problem or err.context}"
    if err.context and err.problem and err.context_mark:
        message += f" ({err.context} on line {err.context_mark.line + 1})"
    if "'\\t'" in message:
        message += "; indent with spaces, not tabs"
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return SpecError(Problem(message, file=filename, line=line, col=col))


def _bad_character(text: str, filename: str, err: yaml.reader.ReaderError) -> SpecError:
    pos = err.position
    line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
    return SpecError(Problem(f"character #x{err.character:04x} is not allowed in YAML text (is this a "
                             f"binary file?)", file=filename, line=line, col=col))


def _read(path: Path) -> str:
    """A spec file's text: at most 1 MiB of strict UTF-8."""
    name = str(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise SpecError(Problem(f"cannot read the file: {err.strerror}", file=name)) from None
    if len(data) > MAX_BYTES:
        raise SpecError(Problem("larger than the 1 MiB limit for a spec", file=name))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - data.rfind(b"\n", 0, err.start)
        raise SpecError(Problem(f"not UTF-8 text: byte 0x{data[err.start]:02x} cannot be decoded "
                                f"(is this a binary file?)", file=name, line=line, col=col)) from None


def _find(source: str | Path) -> Path:
    """A zoo name or a path -> the spec file, or a SpecError saying which it is not."""
    if isinstance(source, str) and (path := zoo.zoo_path(source)) is not None:
        return path
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        raise SpecError(Problem("is a directory, not a spec file", file=str(path)))
    if path.exists():
        raise SpecError(Problem("is not a regular file", file=str(path)))
    if isinstance(source, Path) or path.suffix in SPEC_SUFFIXES or len(path.parts) > 1:
        raise SpecError(Problem("no such file", file=str(path)))
    hint = did_you_mean(source, [*zoo.zoo_paths(), *zoo.aliases()])
    raise SpecError(f"{source!r} is neither a spec file nor a zoo name{hint}")


def _is_real_file(filename: str) -> bool:
    return not filename.startswith("<")


def _load_tree(text: str, filename: str, chain: tuple[Path, ...]) -> MappingNode:
    """Compose, resolve ``extends`` and default the name to the file stem."""
    root = _resolve_extends(_compose(text, filename), filename, chain)
    if _is_real_file(filename) and _get(root, "name") is None:
        stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", Path(filename).stem)
        root = _merge(root, _to_node({"name": stem}))
    return root


def _read_tree(path: Path, chain: tuple[Path, ...]) -> MappingNode:
    return _load_tree(_read(path), str(path), chain + (path.resolve(),))


# ---- extends -----------------------------------------------------------------------------


def _resolve_extends(root: MappingNode, filename: str, chain: tuple[Path, ...]) -> MappingNode:
    """Merge the spec onto its base (recursively). The base's name and source are never inherited: the
    extension is another network, which the base's published weights are not."""
    found = _get(root, "extends")
    if found is None:
        return root
    value = found[1]
    base_path = _base_path(value, filename)
    if base_path.resolve() in chain:
        cycle = " -> ".join(str(p) for p in chain + (base_path.resolve(),))
        raise SpecError(_problem_at(value, f"extends cycle: {cycle}", "extends"))
    base = _read_tree(base_path, chain)
    return _merge(_without(_without(base, "name"), "source"), _without(root, "extends"))


def _base_path(value: Node, filename: str) -> Path:
    """``extends: NAME`` is a zoo name; ``extends: PATH.yaml`` is relative to the extending file."""
    target = _scalar(value) if isinstance(value, ScalarNode) else None
    if not isinstance(target, str) or not target:
        raise SpecError(_problem_at(value, "extends must be a zoo name or a path to a .yaml file", "extends"))
    if target.endswith(SPEC_SUFFIXES):
        here = Path(filename).parent if _is_real_file(filename) else Path.cwd()
        path = here / target
        if not path.is_file():
            raise SpecError(_problem_at(value, f"no such base spec: {path}", "extends"))
        return path
    path = zoo.zoo_path(target)
    if path is None:
        hint = did_you_mean(target, zoo.zoo_paths())
        raise SpecError(_problem_at(value, f"unknown zoo name {target!r}{hint} (a path must end in .yaml)",
                                    "extends"))
    return path


def _merge(base: Node, child: Node) -> Node:
    """Child onto base: mappings merge key by key, anything else is replaced by the child's."""
    if not (isinstance(base, MappingNode) and isinstance(child, MappingNode)):
        return child
    items = {key.value: (key, value) for key, value in base.value}
    for key, value in child.value:
        old = items.get(key.value)
        items[key.value] = (key, _merge(old[1], value) if old else value)
    return MappingNode(child.tag, list(items.values()), child.start_mark or base.start_mark,
                       child.end_mark or base.end_mark)



# ---- stage shorthands ------------------------------------------------------------------------

# key: the stage field it gives a value of for each stage, and what one value is
PER_STAGE = {"depths": ("depth", "depth"), "widths": ("width", "width"),
             "block_widths": ("block_widths", "list of block widths")}
STAGE_SHORTHANDS = (*PER_STAGE, "every_stage")


def _expand_stage_shorthands(root: MappingNode) -> MappingNode:
    """``depths: [3, 4, 23, 3]`` sets each stage's depth, ``widths: [...]`` each stage's width, and ``every_stage:
    {...}`` merges its fields over every stage, once ``extends`` and overrides are merged: a variant says only what
    differs from its base (timm's resnet101d is resnet50d at ResNet-101's depths, seresnet34 is resnet34 with SE on
    every stage, BiT's x3 nets triple the widths). Values keep their place in the file, so a problem with one is
    reported there."""
    given = [(key, found) for key in STAGE_SHORTHANDS if (found := _get(root, key)) is not None]
    if not given:
        return root
    stages = _get(root, "stages")
    if stages is None or not isinstance(stages[1], SequenceNode):
        key, (key_node, _) = given[0]
        raise SpecError(_problem_at(key_node, f"{key} applies to the spec's list of stages, which it does not have "
                                              f"(a regnet: section generates its own)", key))
    items = list(stages[1].value)
    every = _get(root, "every_stage")
    if every is not None:
        if not isinstance(every[1], MappingNode):
            raise SpecError(_problem_at(every[1], "every_stage is a mapping of stage fields, e.g. "
                                                  "{attention: {type: se}}", "every_stage"))
        items = [_merge(item, every[1]) for item in items]
    for key, (stage_field, one) in PER_STAGE.items():
        values = _get(root, key)
        if values is None:
            continue
        if not isinstance(values[1], SequenceNode) or len(values[1].value) != len(items):
            given_count = len(values[1].value) if isinstance(values[1], SequenceNode) else "not a list of"
            raise SpecError(_problem_at(values[1], f"{key} lists one {one} per stage: {given_count} values for "
                                                   f"this spec's {len(items)} stages", key))
        items = [_merge(item, MappingNode(_MAP, [(ScalarNode(_STR, stage_field), value)]))
                 for item, value in zip(items, values[1].value)]
    for key in STAGE_SHORTHANDS:
        root = _without(root, key)
    return _merge(root, MappingNode(_MAP, [(ScalarNode(_STR, "stages"), SequenceNode(_SEQ, items))]))


# ---- node trees <-> Python data -----------------------------------------------------------


def _to_node(value: Any, path: Loc = ()) -> Node:
    """Python data as a node tree without marks, so dicts and overrides merge like YAML.

    What YAML text could not hold is refused here too: nesting deeper than ``MAX_DEPTH`` (a dict
    that contains itself) and ints too long for Python to print (pydantic fails on them unraisably).
    """
    if len(path) > MAX_DEPTH:
        raise SpecError(Problem(f"nesting deeper than {MAX_DEPTH} levels: a spec is never this deep",
                                _render(path)))
    if isinstance(value, Mapping):
        return MappingNode(_MAP, [(ScalarNode(_PYTHON, k), _to_node(v, path + (k,))) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return SequenceNode(_SEQ, [_to_node(v, path + (i,)) for i, v in enumerate(value)])
    if isinstance(value, int) and value.bit_length() > 64:
        try:
            str(value)
        except ValueError:
            raise SpecError(Problem(f"an integer of {value.bit_length():,} bits is too long for a spec",
                                    _render(path))) from None
    return ScalarNode(_PYTHON, value)


def _to_data(node: Node, memo: dict[int, Any] | None = None) -> Any:
    """Plain data for pydantic; an aliased node becomes one shared object, so aliases cannot blow up."""
    memo = {} if memo is None else memo
    if id(node) not in memo:
        if isinstance(node, MappingNode):
            memo[id(node)] = {key.value: _to_data(value, memo) for key, value in node.value}
        elif isinstance(node, SequenceNode):
            memo[id(node)] = [_to_data(item, memo) for item in node.value]
        else:
            memo[id(node)] = _scalar(node)
    return memo[id(node)]


def _without(node: MappingNode, key: str) -> MappingNode:
    kept = [(k, v) for k, v in node.value if k.value != key]
    return MappingNode(node.tag, kept, node.start_mark, node.end_mark)


def _get(node: Node, key: str) -> tuple[Node, Node] | None:
    """The (key, value) nodes of a mapping entry."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if k.value == key:
                return k, v
    return None


# ---- locating problems ----------------------------------------------------------------------


def _render(path: Loc | list[str | int]) -> str:
    """``("stages", 1, "groups")`` -> ``stages[1].groups``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem_at(node: Node | None, message: str, path: str = "") -> Problem:
    """A problem at a node's mark; nodes made from Python data (dicts, overrides) have none."""
    mark = getattr(node, "start_mark", None)
    if mark is None:
        return Problem(message, path)
    return Problem(message, path, mark.name, mark.line + 1, mark.column + 1)


def did_you_mean(word: Any, options: Any) -> str:
    """The closest option, ignoring case (``ReLU`` -> ``relu``), as a hint to append."""
    by_lower = {str(o).lower(): o for o in options}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


@dataclass
class _Spot:
    """Where a pydantic location leads, in the source tree and in the schema."""

    node: Node | None  # the deepest source node reached
    key: Node | None = None  # its key node, when it is a mapping value
    path: list[str | int] = field(default_factory=list)  # the location without union tags
    model: type[BaseModel] | None = None  # the model whose field the last component names
    annotation: Any = None  # the type expected at the end
    found: bool = True  # whether the whole location exists in the source


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` (pydantic locates neither), leaving the type that matters."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and len(members := [a for a in get_args(tp) if a is not type(None)]) == 1:
            tp = members[0]
        else:
            return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _child_type(tp: Any, part: str | int) -> Any:
    if _is_model(tp) and isinstance(part, str) and part in tp.model_fields:
        return tp.model_fields[part].annotation
    args = get_args(tp)
    if get_origin(tp) is list and args:
        return args[0]
    if get_origin(tp) is dict and args:
        return args[1]
    if get_origin(tp) is tuple and isinstance(part, int) and args:
        return args[0] if args[-1] is Ellipsis else args[min(part, len(args) - 1)]
    return None


def _union_member(tp: Any, tag: Any) -> Any:
    """The member of a discriminated union whose ``type`` literal is ``tag`` (pydantic puts tags in locs)."""
    for member in get_args(tp):
        field_info = getattr(member, "model_fields", {}).get("type")
        if field_info is not None and tag in get_args(field_info.annotation):
            return member
    return None


def _locate(root: Node | None, loc: Loc) -> _Spot:
    """Walk a location through the schema (to skip union tags) and the source tree (to find the node)."""
    spot, tp = _Spot(root), ModelSpec
    for part in loc:
        tp = _unwrap(tp)
        if _is_union(tp):
            tp = _union_member(tp, part)
            continue
        spot.path.append(part)
        spot.model = tp if _is_model(tp) else None
        tp = _child_type(tp, part)
        if spot.found:
            entry = _child(spot.node, part)
            spot.found = entry is not None
            if entry:
                spot.key, spot.node = entry
    spot.annotation = _unwrap(tp)
    return spot


def _child(node: Node | None, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(part, str):
        return _get(node, part)
    if isinstance(node, SequenceNode) and part < len(node.value):
        return None, node.value[part]
    return None


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = 5
_short.maxlevel = 2


def _show(value: Any) -> str:
    """A received value, short and in YAML's words for the scalars YAML and Python spell differently."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return _short.repr(value)


def _field_names(model: type[BaseModel] | None) -> list[str]:
    names = list(model.model_fields) if model else []
    return names + ["extends"] if model is ModelSpec else names


def _describe(err: Mapping[str, Any], spot: _Spot) -> tuple[Node | None, str, str]:
    """The node to point at, its field path, and what was received and what was expected."""
    kind, received, path = err["type"], err.get("input"), _render(spot.path)
    if kind == "extra_forbidden":
        name, names = spot.path[-1], _field_names(spot.model)
        hint = did_you_mean(name, names) or (f" (valid fields: {', '.join(names)})" if names else "")
        return spot.key if spot.found else spot.node, path, f"unknown field {name!r}{hint}"
    if kind == "missing":
        part = spot.path[-1]
        if isinstance(part, int):
            return spot.node, path, f"missing item {part}, got {_show(received)}"
        return spot.node, path, "required field is missing"
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        entry = _get(spot.node, "type") if spot.found else None
        message = (f"unknown stage type {tag!r}{did_you_mean(tag, STAGE_TYPES)} "
                   f"(expected {', '.join(STAGE_TYPES)})")
        return (entry[1], f"{path}.type", message) if entry else (spot.node, path, message)
    if kind == "union_tag_not_found":
        return spot.node, path, f"a stage needs a 'type': one of {', '.join(STAGE_TYPES)}"
    if kind == "value_error":
        return _blame(err["msg"].removeprefix("Value error, "), spot)
    message = f"{err['msg']}, got {_show(received)}"
    if get_origin(spot.annotation) is Literal and isinstance(received, str):
        message += did_you_mean(received, get_args(spot.annotation))
    return spot.node, path, message


def _blame(message: str, spot: _Spot) -> tuple[Node | None, str, str]:
    """Point a model validator's error at the field it names first (schema.py's messages start with it)."""
    first = message.split(" ", 1)[0]
    entry = _get(spot.node, first) if spot.found else None
    if entry:
        return entry[1], _render(spot.path + [first]), message
    return spot.node, _render(spot.path), message


def _problems(error: ValidationError, root: Node) -> list[Problem]:
    """One problem per field path; a plain union's per-member errors become one line."""
    merged: dict[str, tuple[Node | None, list[str]]] = {}
    for err in error.errors():
        node, path, message = _describe(err, _locate(root, err["loc"]))
        merged.setdefault(path, (node, []))[1].append(message)
    return [_problem_at(node, _join(messages), path) for path, (node, messages) in merged.items()]


def _join(messages: list[str]) -> str:
    """``Input should be a valid boolean, ...`` + ``Input should be 'unnormalized'`` -> one alternative."""
    prefix = "Input should be "
    if len(messages) == 1 or not all(m.startswith(prefix) and ", got " in m for m in messages):
        return "; ".join(messages)
    wanted = [m[len(prefix):].rsplit(", got ", 1) for m in messages]
    return f"{prefix}{' or '.join(w[0].split(', unable', 1)[0] for w in wanted)}, got {wanted[0][1]}"


# ---- validation ----------------------------------------------------------------------------

Check = Callable[[ModelSpec], object]
"""A whole-network check run after the schema's, raising ``PlanError`` at a field path (the
planner, ``archspec.graph.load``): the loader turns its path into a ``file:line:col``. What it
returns (the planner's graph) the loader ignores."""


def _validate(root: MappingNode, check: Check | None) -> ModelSpec:
    root = _expand_stage_shorthands(root)
    try:
        spec = ModelSpec.model_validate(_to_data(root))
    except ValidationError as err:
        raise SpecError(_problems(err, root)) from None
    if check is not None:
        run_check(spec, check, root)
    return spec


def run_check(spec: ModelSpec, check: Check, root: Node | None = None) -> None:
    """``check(spec)``, its ``PlanError`` turned into a SpecError at the field it names, located
    in ``root`` (the spec's YAML tree) when there is one."""
    try:
        check(spec)
    except PlanError as err:
        spot = _locate(root, err.path)
        raise SpecError(_problem_at(spot.node, str(err), _render(spot.path))) from err


def read_text(text: str, filename: str = "<string>", *, check: Check | None = None) -> ModelSpec:
    """A spec from YAML text; ``filename`` names it in errors and anchors relative ``extends``."""
    return _validate(_load_tree(text, filename, ()), check)


def read_spec(source: ModelSpec | Mapping[str, Any] | str | Path, *,
              overrides: Mapping[str, Any] | None = None, check: Check | None = None) -> ModelSpec:
    """A schema-valid spec from a ModelSpec, a dict, a spec file or a zoo name, then ``check``-ed.

    ``overrides`` are top-level fields merged over the loaded spec before validation.
    """
    if isinstance(source, ModelSpec):
        if not overrides:
            return source
        root: MappingNode = _to_node(source.model_dump())
    elif isinstance(source, Mapping):
        root = _resolve_extends(_to_node(source), "<dict>", ())
    elif isinstance(source, (str, Path)):
        root = _read_tree(_find(source), ())
    else:
        raise SpecError(f"cannot load a spec from a {type(source).__name__}: pass a ModelSpec, a dict, "
                        f"a path to a .yaml file or a zoo name")
    if overrides:
        root = _merge(root, _to_node(overrides))
    return _validate(root, check)


def read_training(source: ModelSpec | Mapping[str, Any] | str | Path,
                  config: str | Path | Sequence[str | Path] | None = None,
                  overrides: Mapping[str, Any] | None = None, *, check: Check | None = None) -> ModelSpec:
    """A spec ready to train: ``config`` is a YAML file of ``train:`` fields (or several, each merged
    over the one before: a recipe, then the user's file), merged over the spec's with errors located
    in that file; ``overrides`` (command-line flags) go last."""
    root: Node = _to_node(read_spec(source, check=check).model_dump())
    for path in [config] if isinstance(config, (str, Path)) else config or []:
        section = _compose(_read(Path(path)), str(path))
        root = _merge(root, MappingNode(_MAP, [(ScalarNode(_STR, "train"), section)]))
    if overrides:
        root = _merge(root, _to_node(overrides))
    return _validate(root, check)
