"""The built site as a reader sees it at 1280 px, measured in headless Chromium (issue 30): every table
fits its content column, no token of code in a table is broken across lines (a weight tag such as
`timm:resnet50.a1_in1k` stays whole), and the zoo's table filters by name, family and source and sorts by
a column (docs/assets/zoo.js). Chromium is Debian's `chromium` package, which .ci/run installs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import Browser, Page, chromium_binary

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 900

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium_binary() is None,
                                 reason="needs headless Chromium: apt-get install chromium (.ci/run does)")]

# Each table of the page's content: how far it reaches past the content column (pixels), and the tokens
# of its code (a code element without a space, or a word of one with spaces) that the browser laid out
# on more than one line.
MEASURE = """(() => {
  const column = document.querySelector('.md-content__inner').getBoundingClientRect();
  return [...document.querySelectorAll('.md-content table')].map((table) => ({
    past: Math.round(table.getBoundingClientRect().right - column.right),
    broken: [...table.querySelectorAll('code, code .token-whole')]
      .filter((code) => !/\\s/.test(code.textContent) && code.getClientRects().length > 1)
      .map((code) => code.textContent),
  }));
})()"""

ROWS = "[...document.querySelectorAll('.md-content table')[0].tBodies[0].rows]"
SHOWN_NAMES = f"{ROWS}.filter((r) => !r.hidden).map((r) => r.cells[0].textContent.trim())"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with Browser(chromium_binary()) as browser:
        yield browser.open(WIDTH, HEIGHT)


def content_pages(site: Path) -> list[Path]:
    return [p for p in sorted(site.rglob("*.html"))
            if p.relative_to(site).parts[0] not in ("assets", "search") and p.name != "404.html"]


def test_every_table_fits_its_column_at_1280_px(site, page):
    pages = content_pages(site)
    assert len(pages) > 30 and site / "zoo.html" in pages
    too_wide, broken = [], []
    for path in pages:
        page.goto(path.as_uri())
        for i, table in enumerate(page.evaluate(MEASURE)):
            where = f"{path.relative_to(site)} table {i}"
            if table["past"] > 0:
                too_wide.append(f"{where}: {table['past']} px past its column")
            if table["broken"]:
                broken.append(f"{where}: {', '.join(table['broken'][:5])}")
    assert not too_wide, "tables wider than their column at 1280 px:\n" + "\n".join(too_wide)
    assert not broken, "code broken mid-token in tables:\n" + "\n".join(broken)


def test_the_zoo_filters_by_name_family_and_source(site, page):
    page.goto((site / "zoo.html").as_uri())
    everything = page.evaluate(SHOWN_NAMES)
    assert len(everything) > 50

    page.goto((site / "zoo.html").as_uri() + "?q=resnext")
    named = page.evaluate(SHOWN_NAMES)
    assert 0 < len(named) < len(everything) and all("resnext" in name for name in named)
    assert page.evaluate("document.querySelector('.zoo-count').textContent") == \
        f"{len(named)} of {len(everything)} entries"

    # typing into the box, as a reader does, and choosing a family and a source
    chosen = page.evaluate("""(() => {
      const [query, family, source] = document.querySelectorAll('.zoo-filter input, .zoo-filter select');
      query.value = '';
      family.value = 'densenet';
      source.value = 'torchvision';
      query.dispatchEvent(new Event('input'));
      return location.search;
    })()""")
    assert chosen == "?family=densenet&source=torchvision"  # the view can be linked to
    rows = page.evaluate(f"{ROWS}.filter((r) => !r.hidden).map((r) => r.textContent)")
    assert rows and len(rows) < len(everything)
    assert all("densenet" in row and "torchvision:" in row for row in rows)


def test_the_zoo_sorts_by_any_column(site, page):
    page.goto((site / "zoo.html").as_uri())
    headers = page.evaluate("[...document.querySelectorAll('.md-content table th')].map((th) => th.textContent)")
    params = headers.index("params")

    def click(column: int) -> list[str]:
        return page.evaluate(f"""(() => {{
          document.querySelectorAll('.md-content table th')[{column}].click();
          return {ROWS}.map((r) => r.cells[{column}].textContent.trim());
        }})()""")

    ascending = [int(v.replace(",", "")) for v in click(params)]
    assert ascending == sorted(ascending)
    descending = [int(v.replace(",", "")) for v in click(params)]
    assert descending == sorted(descending, reverse=True)
    error = headers.index("published error (%)")  # entries without a published error come last either way
    for _ in range(2):
        values = click(error)
        known = [float(v) for v in values if v]
        assert known and values[len(known):] == [""] * (len(values) - len(known))
        assert known in (sorted(known), sorted(known, reverse=True))
