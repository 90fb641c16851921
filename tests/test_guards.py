"""Size guards and failure hygiene: too-big specs are refused before any work, every failure is one paragraph."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archspec import build_model, complexity, load_spec
from archspec.cli import main
from archspec.graph.guards import Limits, activation_mb, check_size
from archspec.graph.load import load_text
from archspec.graph.plan import MAX_BLOCKS
from archspec.spec.errors import SpecError
from archspec.spec.zoo import zoo_paths

ROOT = Path(__file__).resolve().parents[1]
TINY = "input_shape: [8, 8, 3]\nstem: {type: cifar, width: 4}\nstages:\n  - {type: basic, depth: 1, width: 4}\n"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


# ---- the activation estimate ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cifar_resnet20", "cifar_highway_resnet56", "densenet_bc_100_k12", "dpn68"])
def test_activation_estimate_equals_the_built_model(name):
    spec = load_spec(name, overrides={"input_shape": (32, 32, 3)})
    model = build_model(spec)
    assert sum(math.prod(layer.output.shape[1:]) for layer in model.layers) == complexity(spec).activations


PAST_THE_LIMITS = {  # entry: a guard its refusal names
    "regnety_2560": "max_params, or --max-params",  # timm's RegNetY-256GF: 1.28 billion parameters, 4.2 GiB of
                                                     # activations per image at its 384 pixels
    "resnetv2_152x4_bit": "max_activation_mb, or --max-activation-mb",  # BiT's 152x4: 5.4 GiB at its 480 pixels
}


def test_every_zoo_entry_passes_the_default_limits_or_is_refused_naming_them():
    for name in zoo_paths():
        spec = load_spec(name)
        if name not in PAST_THE_LIMITS:
            check_size(spec, complexity(spec))
            continue
        with pytest.raises(SpecError, match=rf"above the limit of [\d,.]+ (MiB )?\({re.escape(PAST_THE_LIMITS[name])}"
                                            r".*shrink the spec or raise the limit"):
            check_size(spec, complexity(spec))
        check_size(spec, complexity(spec), Limits(max_params=2_000_000_000, max_activation_mb=8192))


# ---- refusing specs too big to build ---------------------------------------------------------------


def test_check_size_names_each_estimate_and_its_limit():
    spec = load_spec("cifar_resnet20")
    with pytest.raises(SpecError) as info:
        check_size(spec, complexity(spec), Limits(max_params=1000, max_activation_mb=0.5))
    message = str(info.value)
    assert "\n" not in message and message.startswith("cifar_resnet20 at 32x32x3 is too big to build")
    assert "269,722 parameters, above the limit of 1,000 (max_params, or --max-params" in message
    assert f"{activation_mb(complexity(spec)):,.1f} MiB of activations per image, above the limit of 0.5 MiB" in message
    check_size(spec, complexity(spec), Limits(max_params=269_722, max_activation_mb=100))


def test_build_model_refuses_before_building(monkeypatch):
    import archspec.keras.builder

    def never(*_, **__):
        raise AssertionError("built a model the guards should have refused")

    monkeypatch.setattr(archspec.keras.builder, "build_graph", never)
    with pytest.raises(SpecError, match="269,722 parameters, above the limit of 100,000"):
        build_model("cifar_resnet20", max_params=100_000)
    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"at 100000x100000x3 is too big to build: it would have [\d,.]+ MiB of act"):
        build_model("cifar_resnet20", input_size=100_000)
    assert time.perf_counter() - start < 2


def test_raised_limits_let_a_model_through():
    model = build_model(load_text(TINY), max_params=10**4, max_activation_mb=1)
    assert model.count_params() == complexity(load_text(TINY)).total_params


def test_cli_refuses_before_importing_tensorflow():
    code = ("import sys\nfrom archspec.cli import main\n"
            "try:\n    main(['build', 'cifar_resnet20', '--max-params', '1000'])\n"
            "except SystemExit as e:\n    assert e.code == 1, e.code\n"
            "assert 'tensorflow' not in sys.modules, 'imported TensorFlow'\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("error: cifar_resnet20 at 32x32x3 is too big to build: it would have 269,722 par")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_limit_options():
    result = run("build", "cifar_resnet20", "--input-size", "4000")
    assert result.exit_code == 1 and "MiB of activations per image, above the limit of 4,096.0 MiB" in result.output
    assert run("build", "cifar_resnet20", "--max-activation-mb", "0").exit_code == 2
    assert "--max-params" in run("build", "--help").output


# ---- refusing specs too big to plan ---------------------------------------------------------------


def test_huge_depth_is_refused_before_planning():
    text = TINY + "  - {type: basic, depth: 1000000000, width: 4}\n"
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_text(text, "deep.yaml")
    assert time.perf_counter() - start < 1
    p, = info.value.problems
    assert (p.file, p.line, p.col, p.path) == ("deep.yaml", 5, 5, "stages[1]")
    assert p.message.startswith("the stages hold 1,000,000,001 blocks in all (1,000,000,000 in this one), "
                                f"more than the {MAX_BLOCKS:,} a spec may have")


def test_plan_cap_counts_every_stage_and_each_plain_conv():
    at_cap = TINY.replace("type: basic, depth: 1", f"type: plain, depth: {MAX_BLOCKS // 4}, convs: 4")
    assert complexity(load_text(at_cap)).depth == 1 + MAX_BLOCKS + 1  # the stem, the convs, the classifier
    with pytest.raises(SpecError, match=f"hold {MAX_BLOCKS + 1:,} blocks in all"):
        load_text(at_cap + "  - {type: basic, depth: 1, width: 4}\n")


# ---- every failure is exit 1 and one paragraph; --debug shows the traceback --------------------------


def test_missing_file_is_one_paragraph(tmp_path):
    for command in ("validate", "build"):
        result = run(command, str(tmp_path / "nope.yaml"))
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert f"{tmp_path / 'nope.yaml'}: no such file" in result.output and "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "nope.yaml"
    quiet = run_python(f"from archspec.cli import main\nmain(['build', {str(missing)!r}])")
    loud = run_python(f"from archspec.cli import main\nmain(['--debug', 'build', {str(missing)!r}])")
    assert quiet.returncode == 1 and quiet.stderr == f"error: {missing}: no such file\n"
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "SpecError" in loud.stderr
