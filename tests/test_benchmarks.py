"""The dry runs of benchmarks/backends.py and benchmarks/gpu.py (CPU, tiny sizes, one step) run end to end;
gpu.py's without TensorFlow importable, as on the GPU machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_TENSORFLOW = '''
import importlib.abc, importlib.machinery, sys
class _Raise(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError("tensorflow is blocked in this test")
    def exec_module(self, module):
        pass
class _Block(importlib.abc.MetaPathFinder):  # find_spec still answers, for probes such as torch._dynamo's
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            return importlib.machinery.ModuleSpec(name, _Raise(), origin=None)
sys.meta_path.insert(0, _Block())
'''


def _run(args: list[str], path: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_backends_dry_run(backend):
    if not importlib.util.find_spec(backend):
        pytest.skip(f"{backend} is not installed, so its Keras backend cannot run")
    out = _run(["benchmarks/backends.py", "--dry-run", "--models", "resnext50_32x4d", "--backends", backend], [])
    row = next(line for line in out.splitlines() if line.startswith("| resnext50_32x4d |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    column = 1 + ["tensorflow", "jax", "torch"].index(backend)
    assert float(cells[column]) > 0, row
    assert "`python benchmarks/backends.py --dry-run" in out and "cores" in out


@pytest.mark.slow
def test_gpu_dry_run_imports_no_tensorflow(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(NO_TENSORFLOW)
    out = _run(["benchmarks/gpu.py", "--dry-run", "--models", "resnet50"], [str(tmp_path)])
    rows = [line for line in out.splitlines() if line.startswith("| resnet50 |")][-3:]
    assert [r.split("|")[2].strip() for r in rows] == ["archspec, Keras on JAX", "archspec, Keras on torch",
                                                        "torchvision"]
    for row, needs in zip(rows, (["jax"], ["torch"], ["torch", "torchvision"])):
        if all(importlib.util.find_spec(m) for m in needs):
            assert "| CPU |" in row and float(row.split("|")[4].replace(",", "")) > 0, row
        else:
            assert "not installed" in row, row
    assert "no GPU (dry run on CPU)" in out
