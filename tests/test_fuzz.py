"""Fuzzing: every input is a spec that plans with consistent figures, or a located SpecError.

Hypothesis writes specs from scratch, mutates the zoo's (as data and as text), builds YAML
alias bombs and deep nests, and feeds binary garbage. Each input must load within a time
limit and bounded memory, and then either plan with figures that agree with each other and
survive a dump and reload, or fail with a SpecError whose problems name the file (and the
line and column wherever the source has a node): never another exception, never a hang.
Settings are deterministic (``derandomize``), so every CI run replays the same ~1,000 cases;
the ``slow`` variants run ten times as many. A handful that validate are built with Keras,
and a sample goes through ``archspec validate``.
"""

from __future__ import annotations

import copy
import math
import re
import resource
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archspec import build_model
from archspec.cli import main
from archspec.graph.complexity import complexity, graph_complexity
from archspec.graph.load import load_spec, load_text
from archspec.graph.plan import plan
from archspec.spec.errors import SpecError
from archspec.spec.schema import (
    STAGE_TYPES,
    BasicStage,
    BottleneckStage,
    DenseStage,
    DualPathStage,
    ModelSpec,
    PlainStage,
)
from archspec.spec.train_schema import TrainSpec
from archspec.spec.zoo import zoo_paths

FILE = "fuzz.yaml"
ZOO_TEXTS = [path.read_text() for path in zoo_paths().values()]
ZOO_DATA = [yaml.safe_load(text) for text in ZOO_TEXTS]
ZOO_FILES = {str(path) for path in zoo_paths().values()}
WHOLE_FILE = ("the spec is empty", "larger than the 1 MiB limit")  # problems no node can locate
SECONDS_PER_CASE = 5
MAX_GROWTH_MB = 512

FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                       HealthCheck.large_base_example,
                                       HealthCheck.function_scoped_fixture])  # memory_cap spans all examples


def examples(n: int):
    return settings(FUZZ, max_examples=n)


# ---- the property ---------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Turn a hang into a failure (SIGALRM; the suite runs in the main thread)."""
    def expire(*_: Any) -> None:
        raise Hang(f"a case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def bounded_memory() -> Iterator[None]:
    """Allocating MAX_GROWTH_MB more than the process holds now raises MemoryError (an address-space limit)."""
    statm = Path("/proc/self/statm")
    if not statm.exists():  # not Linux: run unbounded
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    in_use = int(statm.read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (in_use + MAX_GROWTH_MB * 2**20, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def check_located(error: SpecError, files: set[str]) -> None:
    """Every problem is one line naming its file, with line:col unless it is about the whole file."""
    assert error.problems
    for p in error.problems:
        assert p.message and "\n" not in str(p), str(p)
        assert p.file in files, str(p)
        if not p.message.startswith(WHOLE_FILE):
            assert p.line is not None and p.line >= 1 and p.col >= 1, str(p)


def check_consistent(spec: ModelSpec) -> None:
    """The planned graph is well formed, its figures add up, and the spec survives a YAML round trip."""
    graph = plan(spec)
    names = [n.name for n in graph.nodes]
    assert len(set(names)) == len(names)
    seen: set[str] = set()
    for node in graph.nodes:
        assert set(node.inputs) <= seen and all(d >= 1 for d in node.shape), node
        seen.add(node.name)
    assert graph.nodes[-1].shape == (spec.num_classes,)
    c = graph_complexity(graph)
    assert c == complexity(spec)
    assert (c.params, c.total_params, c.macs) == tuple(sum(getattr(p, k) for p in c.parts)
                                                        for k in ("params", "total_params", "macs"))
    shared = sum(1 for node in graph.nodes if node.attrs.get("shares"))  # one Keras layer applied twice
    assert c.layers == len(graph.nodes) - shared and c.params <= c.total_params and c.depth >= 1
    assert c.activations == sum(math.prod(n.shape) for n in graph.nodes)
    assert load_text(yaml.safe_dump(spec.model_dump(mode="json")), FILE) == spec


def load_or_locate(text: str) -> ModelSpec | None:
    """The property for YAML text: a consistent spec, or a located SpecError; nothing else, in time."""
    with time_limit(SECONDS_PER_CASE):
        try:
            spec = load_text(text, FILE)
        except SpecError as error:
            check_located(error, {FILE} | ZOO_FILES)
            return None
        check_consistent(spec)
    return spec


# ---- values and specs from scratch ----------------------------------------------------------------

HUGE = [0, -1, -(2**31), 2**31, 2**63, 10**9, 10**30, 10**300, 10**400, 10**4000]
NASTY = st.one_of(
    st.sampled_from(HUGE),
    st.integers(-5, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "basic", "bottlenek", "relu", "1e3", "0x10", "yes", "None", "é" * 3]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-2, 40), max_size=4),
    st.dictionaries(st.sampled_from(["type", "depth", "width", "a"]), st.integers(-2, 40), max_size=3),
)
SMALL = st.integers(1, 16)
STAGE_CLASSES = {cls.model_fields["type"].annotation.__args__[0]: cls
                 for cls in (PlainStage, BasicStage, BottleneckStage, DenseStage, DualPathStage)}
STAGE_FIELDS = {kind: sorted(set(cls.model_fields) - {"type"}) for kind, cls in STAGE_CLASSES.items()}
ALL_STAGE_FIELDS = sorted(set().union(*STAGE_FIELDS.values()))
CHOICES = {
    "stride": st.integers(1, 4), "groups": st.sampled_from([1, 2, 3, 4, 8]), "widen": st.sampled_from([0.5, 1, 2]),
    "base_width": st.sampled_from([4, 16, 64]), "expansion": st.integers(1, 4), "se_ratio": st.integers(0, 8),
    "shortcut": st.sampled_from(["identity", "A", "B", "C", "D", "projection", "highway"]),
    "group_width": st.one_of(st.none(), st.sampled_from([1, 2, 4, 8])),
    "attention": st.one_of(st.none(), st.fixed_dictionaries(
        {"type": st.sampled_from(["se", "ese", "eca", "cbam", "gc", "gca"])},
        optional={"at": st.sampled_from(["end", "after_3x3"]), "ratio": st.sampled_from([1 / 16, 0.25, 1.0, 8.0]),
                  "ratio_of": st.sampled_from(["channels", "input"]), "kernel": st.sampled_from([1, 3, 4, 7])})),
    "spatial": st.one_of(st.none(), st.fixed_dictionaries(
        {"type": st.sampled_from(["res2net", "sk", "splat", "bot", "halo", "lambda"])},
        optional={"blocks": st.lists(st.integers(1, 4), max_size=2), "heads": st.sampled_from([1, 2, 3, 4]),
                  "scale": st.integers(2, 4), "radix": st.integers(1, 3), "paths": st.integers(2, 3),
                  "block_size": st.sampled_from([1, 2, 4, 8]), "halo_size": st.integers(0, 2),
                  "context": st.sampled_from([1, 3, 9]), "key_dim": st.sampled_from([1, 4, 16]),
                  "split_input": st.booleans(), "avd": st.booleans()})),
    "order": st.sampled_from(["post", "bn_after_add", "relu_before_add", "relu_preact", "preact"]),
    "merge": st.sampled_from(["add", "weighted"]), "merge_init": st.floats(-1, 1), "dropout": st.floats(0, 0.9),
    "downsample_at": st.sampled_from(["first", "last"]), "stride_on": st.sampled_from(["1x1", "3x3"]),
    "bn_size": st.one_of(st.none(), st.integers(1, 4)), "compression": st.sampled_from([0.5, 1.0]),
    "gate_bias": st.floats(-3, 0), "convs": st.integers(1, 3), "depth": st.integers(1, 3),
    "memory_efficient": st.booleans(),
}


def value_for(field: str) -> st.SearchStrategy:
    """Mostly a sensible value of the field, sometimes an edge case or the wrong type."""
    return st.one_of(CHOICES.get(field, SMALL), CHOICES.get(field, SMALL), st.sampled_from(HUGE), NASTY)


@st.composite
def scratch_stage(draw: st.DrawFn, nasty: bool) -> dict:
    """A stage of a random type with a random subset of its fields, mostly sensible values."""
    kind = draw(st.sampled_from(STAGE_TYPES))
    stage: dict[str, Any] = {"type": kind, "depth": draw(st.integers(1, 3)), "width": draw(SMALL)}
    if kind == "dense":
        stage = {"type": kind, "depth": stage["depth"], "growth_rate": draw(SMALL)}
    elif kind == "dual_path":
        stage.update(residual_width=draw(SMALL), increment=draw(SMALL))
    for name in draw(st.lists(st.sampled_from(STAGE_FIELDS[kind]), max_size=4, unique=True)):
        stage[name] = draw(CHOICES.get(name, SMALL))
    if nasty:
        name = draw(st.sampled_from(ALL_STAGE_FIELDS + ["type", "grups"]))
        stage[name] = draw(value_for(name))
    return stage


@st.composite
def scratch_spec(draw: st.DrawFn, nasty: bool = True) -> dict:
    side = draw(st.sampled_from([1, 2, 7, 8, 16, 32]))
    spec: dict[str, Any] = {
        "input_shape": [side, side, draw(st.integers(1, 3))],
        "num_classes": draw(st.integers(1, 10)),
        "stem": {"type": draw(st.sampled_from(["cifar", "none", "imagenet", "deep"])), "width": draw(SMALL)},
        "stages": draw(st.lists(scratch_stage(nasty=False), min_size=1, max_size=3)),
    }
    if draw(st.booleans()):
        spec["defaults"] = {"drop_path": draw(st.sampled_from([0.0, 0.2])),
                            "padding": draw(st.sampled_from(["same", "explicit", "symmetric"])),
                            "conv_bias": draw(st.sampled_from([False, True, "unnormalized"]))}
    if nasty and draw(st.booleans()):
        spec["stages"][-1] = draw(scratch_stage(nasty=True))
    if draw(st.integers(0, 4)) == 0:  # a RegNet generator in place of the stages, sometimes with both
        spec["regnet"] = {"w0": draw(st.sampled_from([8, 16, 20, 24])), "wa": draw(st.floats(0, 64)),
                          "wm": draw(st.floats(1, 3)), "depth": draw(st.integers(1, 20)),
                          "group_width": draw(st.integers(1, 16)), "se_ratio": draw(st.sampled_from([0.0, 0.25]))}
        if draw(st.booleans()):
            del spec["stages"]
    if nasty and draw(st.booleans()):
        mutate(draw, spec)
    return spec


# ---- mutating the zoo's specs as data -----------------------------------------------------------


def spots(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of a parsed spec, so a mutation can pick any place in it."""
    found, stack = [], [data]
    while stack:
        item = stack.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in keys:
            found.append((item, key))
            stack.append(item[key])
    return found


def mutate(draw: st.DrawFn, data: dict) -> None:
    """One change: a value made wrong, a field removed or invented, a stage field set to an edge case."""
    places = spots(data)
    kind = draw(st.sampled_from(["set", "delete", "unknown", "stage", "stage", "stage", "input", "extends", "train"]))
    if kind in ("set", "delete") and places:
        container, key = draw(st.sampled_from(places))
        if kind == "set":
            container[key] = draw(NASTY)
        else:
            del container[key]
    elif kind == "unknown":
        mappings = [data] + [c[k] for c, k in places if isinstance(c[k], dict)]
        draw(st.sampled_from(mappings))[draw(st.sampled_from(["grups", "Depth", "extra", "1", "type"]))] = draw(NASTY)
    elif kind == "stage" and isinstance(data.get("stages"), list) and data["stages"]:
        stage = draw(st.sampled_from(data["stages"]))
        if isinstance(stage, dict):
            stage_type = stage.get("type")
            fields = STAGE_FIELDS.get(stage_type, ALL_STAGE_FIELDS) if isinstance(stage_type, str) else ALL_STAGE_FIELDS
            name = draw(st.sampled_from(fields))
            stage[name] = draw(value_for(name))
    elif kind == "input":
        data["input_shape"] = draw(st.sampled_from([[1, 1, 3], [2, 2, 1], [7, 7, 3], [32, 3], [0, 32, 3],
                                                    [10**6, 10**6, 3], "224", [32, 32, 3, 1]]))
    elif kind == "train":
        names = draw(st.lists(st.sampled_from(sorted(TrainSpec.model_fields)), max_size=3, unique=True))
        data["train"] = {name: draw(st.one_of(NASTY, st.floats(0, 1), st.lists(st.floats(-1, 2), max_size=3)))
                         for name in names}
    elif kind == "extends":
        data["extends"] = draw(st.sampled_from(["resnet50", "cifar_resnet20", "resnet5", "x.yaml", "", 3]))


@st.composite
def mutated_zoo_dict(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(ZOO_DATA)))
    for _ in range(draw(st.integers(1, 4))):
        mutate(draw, data)
    if draw(st.integers(0, 19)) == 0:  # now and then a root that is not a mapping
        data = draw(st.sampled_from([[data], None, "resnet50", 3, []]))
    return data


def dump(draw: st.DrawFn, data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=draw(st.sampled_from([False, True, None])), sort_keys=False,
                          allow_unicode=True)


@st.composite
def mutated_zoo_data(draw: st.DrawFn) -> str:
    return dump(draw, draw(mutated_zoo_dict()))


@st.composite
def scratch_text(draw: st.DrawFn) -> str:
    return dump(draw, draw(scratch_spec()))


# ---- mutating the zoo's specs as text -------------------------------------------------------------

SNIPPETS = [": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "&a [1, 2] ", "!!python/object/apply:os.system ['true']",
            "!!python/name:os.system ", "!!binary aGk= ", "!custom ", "\t", "<<: *a\n", "? ", "|\n", ">\n", '"', "'",
            "%YAML 1.1\n", "---\n", "...\n", "\x00", "\ufeff", "# ", "\n", "    ", "0x1F", "1e400", ".nan", "-.inf",
            "~", "yes", "9" * 30, "é", "\U0001f600", "\r", "\x85", "\u2028", "depth: 0\n", "stages: 3\n"]


@st.composite
def mutated_zoo_text(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(ZOO_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert"] * 4 + ["delete", "delete", "duplicate_line", "truncate"]))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(SNIPPETS) | st.text(max_size=5)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == "duplicate_line":
            lines = text.splitlines(keepends=True) or [""]
            i = at % len(lines)
            text = "".join(lines[:i + 1] + lines[i:])
        else:
            text = text[:at]
    return text


# ---- alias bombs and deep nests -------------------------------------------------------------------


@st.composite
def yaml_bomb(draw: st.DrawFn) -> str:
    """Billion-laughs chains (each level references the one below ``fan`` times) and deep nests."""
    if draw(st.booleans()):
        levels, fan = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        leaf = draw(st.sampled_from(["1", "{type: basic, depth: 1, width: 8}", "[1, 2, 3]"]))
        lines = [f"l0: &l0 {leaf}"] + [
            f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
        where = draw(st.sampled_from(["stages", "description", "input_shape", "rename", "stem"]))
        return "\n".join(lines) + f"\n{where}: *l{levels - 1}\n"
    depth = draw(st.integers(1, 120))
    opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
    if opening == "- ":
        return "stages:\n" + "".join("  " * i + "- \n" for i in range(depth)) + "  " * depth + "1\n"
    return "stages: " + opening * depth + "1" + closing * depth + "\n"


# ---- the fuzz tests -------------------------------------------------------------------------------


@pytest.fixture
def memory_cap() -> Iterator[None]:
    with bounded_memory():
        yield


def run_fuzz(strategy: st.SearchStrategy, n: int) -> None:
    @examples(n)
    @given(strategy)
    def case(text: str) -> None:
        load_or_locate(text)

    with bounded_memory():
        case()


YAML_FUZZ = [(scratch_text(), 800), (mutated_zoo_data(), 800), (mutated_zoo_text(), 600), (yaml_bomb(), 100)]
YAML_IDS = ["scratch", "zoo_data", "zoo_text", "bombs"]


@pytest.mark.parametrize("strategy, n", YAML_FUZZ, ids=YAML_IDS)
def test_fuzz_yaml(strategy: st.SearchStrategy, n: int) -> None:
    run_fuzz(strategy, n)


@pytest.mark.slow
@pytest.mark.parametrize("strategy, n", YAML_FUZZ, ids=YAML_IDS)
def test_fuzz_yaml_long(strategy: st.SearchStrategy, n: int) -> None:
    run_fuzz(strategy, 10 * n)


PYTHON_ONLY = [10**5000, b"bytes", {1, 2}, (1, 2, 3), object(), {1: "int key"}]  # values YAML cannot spell


@examples(300)
@given(mutated_zoo_dict(), st.sampled_from(PYTHON_ONLY), st.integers(0, 10**6))
def test_fuzz_python_dicts(memory_cap: None, data: Any, extra: Any, at: int) -> None:
    """``load_spec(dict)``: a consistent spec or a SpecError (without locations: a dict has no lines)."""
    places = spots(data)
    if places and at % 3 == 0:
        container, key = places[at % len(places)]
        container[key] = extra
    with time_limit(SECONDS_PER_CASE):
        try:
            check_consistent(load_spec(data))
        except SpecError as error:
            assert all(p.message and "\n" not in str(p) for p in error.problems), str(error)


SCRATCH_DIR = Path(tempfile.mkdtemp(prefix="archspec-fuzz-"))


@examples(60)
@given(st.one_of(st.binary(max_size=300),
                 st.sampled_from(ZOO_TEXTS).map(str.encode).flatmap(
                     lambda b: st.integers(0, len(b)).flatmap(
                         lambda i: st.binary(min_size=1, max_size=8).map(lambda junk: b[:i] + junk + b[i:])))))
def test_fuzz_binary_files(memory_cap: None, data: bytes) -> None:
    """Bytes that are mostly not UTF-8 YAML: a located error (or, rarely, a spec), from the file."""
    path = SCRATCH_DIR / FILE
    path.write_bytes(data)
    with time_limit(SECONDS_PER_CASE):
        try:
            check_consistent(load_spec(path))
        except SpecError as error:
            check_located(error, {str(path)} | ZOO_FILES)


@examples(40)
@given(st.one_of(scratch_text(), mutated_zoo_data(), mutated_zoo_text()))
def test_fuzz_cli_validate(memory_cap: None, text: str) -> None:
    """``archspec validate`` says ok (exit 0) or lists located problems (exit 1), never a traceback."""
    path = SCRATCH_DIR / "cli.yaml"
    path.write_text(text, encoding="utf-8")
    with time_limit(SECONDS_PER_CASE):
        result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert result.stdout.startswith(f"ok {path}: ")
    else:
        *problems, summary = result.stderr.splitlines()
        assert summary == "error: 1 of 1 specs are invalid" and problems
        assert all(line.startswith((f"{path}", *ZOO_FILES)) for line in problems), result.stderr


@examples(5)
@given(scratch_spec(nasty=False))
def test_fuzz_build_a_small_sample(data: dict) -> None:
    """A few small specs that validate are built: Keras agrees with the analytic figures."""
    import keras

    from archspec.keras.stats import model_stats

    try:
        spec = load_spec(data)
    except SpecError:
        assume(False)
    c = complexity(spec)
    assume(c.params < 1_000_000 and c.layers < 200)
    model = build_model(spec)
    stats = model_stats(model)
    assert (stats.params, stats.total_params, stats.macs) == (c.params, c.total_params, c.macs)
    if not any(getattr(stage, "memory_efficient", False) for stage in spec.stages):  # those fold layers together
        assert stats.layers == c.layers
        assert sum(math.prod(layer.output.shape[1:]) for layer in model.layers) == c.activations
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_the_memory_cap_stops_a_runaway_allocation():
    if not Path("/proc/self/statm").exists():
        pytest.skip("the cap needs Linux")
    with pytest.raises(MemoryError), bounded_memory():
        bytearray(2 * MAX_GROWTH_MB << 20)


# ---- regressions the fuzzer found, and the limits it leans on -------------------------------------

SMALL_NET = "input_shape: [8, 8, 3]\nstem: {type: cifar, width: 8}\nstages:\n  - "


@pytest.mark.parametrize("stage, field, message", [
    # found by the fuzzer: OverflowError, int too large to convert to float (width x widen; a dense transition)
    (f"{{type: basic, depth: 1, width: {10**400}, widen: 2}}", "width", "Input should be less than or equal to 2147"),
    (f"{{type: dense, depth: 1, growth_rate: {10**400}}}", "growth_rate", "Input should be less than or equal to 2147"),
    # found in review: NaN and infinite floats were accepted, and built models that compute NaN
    ("{type: basic, depth: 1, width: 8, merge: weighted, order: preact, merge_init: .nan}", "merge_init",
     "Input should be a finite number, got nan"),
    ("{type: basic, depth: 1, width: 8, shortcut: highway, gate_bias: -.inf}", "gate_bias", "Input should be a finite"),
])
def test_regressions(stage, field, message):
    with pytest.raises(SpecError) as info:
        load_text(SMALL_NET + stage + "\n", FILE)
    p, = info.value.problems
    col = len("  - ") + stage.index(f"{field}: ") + len(f"{field}: ") + 1
    assert (p.file, p.line, p.col, p.path) == (FILE, 4, col, f"stages[0].{field}") and p.message.startswith(message)


def test_regression_softmax_over_one_class():
    """Found by building fuzzed specs: Keras warned that a softmax over 1 class always returns 1."""
    with pytest.raises(SpecError) as info:
        load_text(SMALL_NET + "{type: basic, depth: 1, width: 8}\nnum_classes: 1\n", FILE)
    p, = info.value.problems
    assert (p.line, p.col, p.path) == (5, 14, "num_classes") and "always outputs 1" in p.message
    assert load_text(SMALL_NET + "{type: basic, depth: 1, width: 8}\nnum_classes: 1\nhead: {activation: sigmoid}\n")


def test_regression_python_data_yaml_could_not_spell():
    """Found by fuzzing dicts: an int too long to print (over 4300 digits) as a stage type made pydantic
    report an unraisable ValueError, and quoting one in an error raised it; a dict containing itself
    recursed without end. Both are refused like their YAML forms."""
    stage = {"type": "basic", "depth": 1, "width": 8}
    with pytest.raises(SpecError, match=r"^stages\[0\]\.type: an integer of 16,610 bits is too long for a spec$"):
        load_spec({"stages": [{**stage, "type": 10**5000}]})
    looped: dict = {"stages": [stage]}
    looped["again"] = looped
    with pytest.raises(SpecError, match="nesting deeper than 50 levels"):
        load_spec(looped)


@pytest.mark.parametrize("text, fragment", [
    ("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(  # 10**12 nodes if expanded
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 13)), "more than 100 aliases"),
    ("stages: " + "[" * 10_000 + "]" * 10_000, "nesting deeper than 50 levels"),
    ("description: !!python/object/apply:os.system ['echo hi']\n", "unsupported tag !!python/object/apply:os.system"),
    ("name: a\nname: b\n", "duplicate key 'name' (first defined on line 1)"),
    ("# " + "x" * (1 << 20), "larger than the 1 MiB limit for a spec"),
])
def test_yaml_limits_say_which_limit_was_hit(text, fragment):
    """Alias bombs, deep nests, Python tags, duplicate keys and huge files: refused fast, naming the limit."""
    start = time.perf_counter()
    with pytest.raises(SpecError, match=re.escape(fragment)):
        load_text(text, FILE)
    assert time.perf_counter() - start < 1
