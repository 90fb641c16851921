"""`archspec sample`: networks drawn from the RegNet design space within a params/MACs budget."""

from __future__ import annotations

import re
from pathlib import Path

import click
import yaml

from ..graph.report import human
from ..graph.sampling import Budget, Space, sample_regnets
from ..spec.errors import SpecError
from ..utils.atomic import write_text
from .common import cannot_write, fail, progressbar

SCALES = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
RANGE = re.compile(r"^\s*([0-9.]+)([KMG]?)\s*:\s*([0-9.]+)([KMG]?)\s*$", re.IGNORECASE)


def _range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    """``MIN:MAX`` with optional K, M or G suffixes (``360M:400M``)."""
    if value is None:
        return None
    match = RANGE.match(value)
    if not match:
        raise click.BadParameter(f"{value!r} is no range: write MIN:MAX, such as 3M:5M or 360M:400M")
    low, high = (float(match[i]) * SCALES[match[i + 1].upper()] for i in (1, 3))
    if low > high:
        raise click.BadParameter(f"{value!r} ends below where it starts")
    return low, high


@click.command()
@click.option("--space", type=click.Choice(["regnetx", "regnety"]), default="regnetx", show_default=True,
              help="regnetx: no SE; regnety: SE after each 3x3 (a quarter of the block's input width).")
@click.option("--count", type=click.IntRange(1, 1000), default=10, show_default=True, help="Networks to draw.")
@click.option("--macs", callback=_range, metavar="MIN:MAX", help="MACs per 224x224 image, such as 360M:400M.")
@click.option("--params", callback=_range, metavar="MIN:MAX", help="Trainable parameters, such as 3M:5M.")
@click.option("--stages", type=click.IntRange(1, 8), default=4, show_default=True,
              help="Keep generators whose widths make this many stages.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="The same seed draws the same networks.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write each network as a spec file NAME.yaml in this folder.")
def sample(space: str, count: int, macs: tuple[float, float] | None, params: tuple[float, float] | None,
           stages: int, seed: int, out: Path | None) -> None:
    """Draw networks from the RegNet design space (Radosavovic et al. 2020) within a budget.

    Each draw picks depth (12 to 28), w0 (8 to 256), wa (8 to 256), wm (1.5 to 3) log-uniformly on pycls's grids and
    a group width (a power of 2 up to 32), keeps it if its widths make --stages stages and its params and MACs fall
    in the budget, and prints it with its figures. Nothing is built: no TensorFlow is needed.

    \b
    Examples:
      archspec sample --macs 360M:400M --count 5
      archspec sample --space regnety --params 3M:5M --out specs/sampled
    """
    space_ranges = Space(stages=stages, se_ratio=0.25 if space == "regnety" else 0.0)
    try:
        with progressbar(length=count, label="drawing") as bar:
            found = sample_regnets(count, space_ranges, Budget(params=params, macs=macs), seed,
                                   prefix=f"{space}_sample", progress=lambda: bar.update(1))
    except SpecError as error:
        raise fail(error) from error
    click.echo(f"{'name':<22}{'depth':>6}{'w0':>6}{'wa':>9}{'wm':>7}{'g':>5}  {'stage widths':<26}"
               f"{'params':>9}{'MACs':>9}")
    for s in found:
        r = s.spec.regnet
        assert r is not None
        widths = ",".join(str(stage.width) for stage in s.spec.stages)
        click.echo(f"{s.spec.name:<22}{r.depth:>6}{r.w0:>6}{r.wa:>9.1f}{r.wm:>7.3f}{r.group_width:>5}  {widths:<26}"
                   f"{human(s.complexity.params):>9}{human(s.complexity.macs):>9}")
    if out is not None:
        for s in found:
            path = out / f"{s.spec.name}.yaml"
            text = yaml.safe_dump(s.spec.model_dump(mode="json", exclude={"stages"}, exclude_defaults=True),
                                  sort_keys=False)
            try:
                out.mkdir(parents=True, exist_ok=True)
                write_text(path, text)
            except OSError as error:
                raise fail(cannot_write(path, error)) from error
        click.echo(f"wrote {len(found)} specs to {out}")

