"""The house rules of pyproject.toml's import contracts hold, and they would catch a breach.

Each planted test copies the package under another name, breaks one rule in the copy and checks
that import-linter reports that contract broken: a contract that cannot fail proves
nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PLANTED = "planted_archspec"


def contracts() -> dict[str, str]:
    """Contract type -> name, as pyproject.toml declares them."""
    return {c["type"]: c["name"] for c in read_configuration(str(PYPROJECT))["contracts_options"]}


def lint(config: Path, path: Path = ROOT) -> tuple[int, str]:
    """Run import-linter on ``config`` in a fresh process (it binds its console to the process's
    stdout), with ``path`` first on the import path."""
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=path, env={**os.environ, "PYTHONPATH": str(path)})
    return result.returncode, result.stdout + result.stderr


def test_the_contracts_hold():
    code, out = lint(PYPROJECT)
    assert code == 0, out
    assert f"{len(contracts())} kept, 0 broken" in out


def test_spec_and_graph_import_without_tensorflow():
    """The forbidden contract, checked at run time too: every spec and graph module imported."""
    code = ("import importlib, pkgutil, sys\n"
            "import archspec.spec, archspec.graph\n"
            "for package in (archspec.spec, archspec.graph):\n"
            "    for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow'))\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# (contract type, file in the package, text appended to it)
BREACHES = {
    "a lower layer imports a higher one": (
        "layers", "spec/schema.py", "\n\ndef _planned(spec):\n    from ..graph.plan import plan\n\n    return plan(spec)\n"),
    "a module at the top level that no layer names": (
        "layers", "extra.py", "VALUE = 1\n"),
    "graph reaches TensorFlow through a helper": (
        "forbidden", "graph/paths.py", "\nfrom ..utils import atomic  # noqa\n"),
    "two modules of one package import each other": (
        "acyclic_siblings", "graph/ir.py", "\n\ndef _plan():\n    from . import plan\n\n    return plan\n"),
    "a module imports the public facade": (
        "protected", "train/data.py", "\n\ndef _build():\n    from .. import build_model\n\n    return build_model\n"),
}


@pytest.mark.parametrize("breach", list(BREACHES))
def test_a_planted_breach_is_caught(breach, tmp_path):
    kind, where, text = BREACHES[breach]
    copy = tmp_path / PLANTED
    shutil.copytree(ROOT / "archspec", copy, ignore=shutil.ignore_patterns("__pycache__", "zoo"))
    target = copy / where
    target.write_text((target.read_text() if target.exists() else "") + text)
    if kind == "forbidden":  # the helper itself imports TensorFlow: an indirect import from graph
        (copy / "utils" / "atomic.py").write_text((copy / "utils" / "atomic.py").read_text() + "\nimport tensorflow\n")
    config = tmp_path / "pyproject.toml"
    config.write_text(PYPROJECT.read_text().replace('"archspec', f'"{PLANTED}'))

    code, out = lint(config, tmp_path)
    assert code != 0, out
    assert f"{contracts()[kind]} BROKEN" in out, out
