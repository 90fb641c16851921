"""The committed JSON Schema stays in sync; light commands never import TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archspec.spec.schema import json_schema

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "archspec" / "spec.schema.json"


def test_committed_schema_is_in_sync():
    assert json.loads(COMMITTED.read_text()) == json_schema(), (
        "archspec/spec.schema.json is stale: run `archspec schema --out archspec/spec.schema.json`")


def test_schema_lists_every_block_type():
    text = COMMITTED.read_text()
    for block in ("plain", "basic", "bottleneck"):
        assert f'"{block}"' in text


@pytest.mark.parametrize("args", [["validate", "resnet50"], ["zoo", "list"], ["schema"]])
def test_light_commands_do_not_import_tensorflow(args):
    code = (
        "import sys\nfrom archspec.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TF'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
