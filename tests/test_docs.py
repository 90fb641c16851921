"""The documentation, checked as CI checks code: the site builds with warnings as errors, the pages
generated from the code are current, every command and Python block of the guides runs (or says why
it cannot: `<!-- norun: REASON -->` before it), and the README's links lead somewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def code_blocks() -> list[tuple[str, str, str]]:
    """(where, language, code) of each bash and python block not marked norun."""
    blocks = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            language, code = match.group(1), match.group(2)
            before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if language in ("bash", "python") and not before.startswith("<!-- norun:"):
                line = text[:match.start()].count("\n") + 1
                blocks.append((f"{page.relative_to(ROOT)}:{line}", language, code))
    return blocks


def test_the_generated_pages_are_current():
    done = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "zoo.html").exists()


def test_every_norun_block_says_why():
    for page in PAGES:
        for marker in re.findall(r"<!-- norun:(.*?)-->", page.read_text()):
            assert marker.strip(), f"{page}: a norun marker without a reason"


@pytest.mark.slow
@pytest.mark.parametrize("where,language,code", code_blocks(), ids=[b[0] for b in code_blocks()])
def test_the_docs_code_runs(where, language, code, tmp_path):
    """Each block in a fresh process from the repository root, with the archspec command on the PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "KERAS_HOME": str(tmp_path / "keras")}
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, f"{where}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def test_the_readme_links_lead_to_files():
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    assert len(text.splitlines()) <= 200
