"""`archspec zoo`: list, show and compare the published variants."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..graph.catalogue import list_zoo
from ..graph.complexity import complexity
from ..graph.load import load_spec
from ..graph.report import compare_table, complexity_table, human, weights_table, zoo_markdown
from ..keras.drawing import compare_plot, stage_diagram
from ..spec.errors import SpecError
from ..spec.loader import did_you_mean
from ..spec.zoo import published, zoo_path
from ..utils.atomic import check_writable
from .common import Failure, fail


@click.group()
def zoo() -> None:
    """The catalogue of published variants."""


@zoo.command("list")
@click.option("--family", help="Only this family (resnet, resnext, wide, preact, plain, ...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of objects (name, family, params, macs, "
                                                      "published_error).")
@click.option("--markdown", is_flag=True, help="A Markdown table.")
def zoo_list(family: str | None, as_json: bool, markdown: bool) -> None:
    """Every zoo entry with computed params and MACs and the published error."""
    everything = list_zoo()
    entries = [e for e in everything if family in (None, e.family)]
    if not entries:
        families = sorted({e.family for e in everything})
        raise Failure(f"no zoo family '{family}'{did_you_mean(family, families)} (the families: "
                      f"{', '.join(families)})")
    if markdown:
        click.echo(zoo_markdown(entries))
        return
    if as_json:
        click.echo(json.dumps([{"name": e.name, "family": e.family, "params": e.params, "macs": e.macs,
                                "published_error": e.published.error if e.published else None}
                               for e in entries], indent=1))
        return
    click.echo(f"{'name':<34}{'family':<9}{'params':>9}{'MACs':>9}  published error")
    for e in entries:
        error = f"{e.published.error:.2f}%" if e.published and e.published.error is not None else "-"
        click.echo(f"{e.name:<34}{e.family:<9}{human(e.params):>9}{human(e.macs):>9}  {error}")


@zoo.command("show")
@click.argument("name")
def zoo_show(name: str) -> None:
    """The spec of zoo entry NAME (or timm's or torchvision's name for it), its figures per stage and the
    published ones."""
    try:
        spec = load_spec(name)
    except SpecError as error:
        raise fail(error) from error
    path = zoo_path(name)
    if path is None:
        raise Failure(f"'{name}' is a spec file, not a zoo name; see `archspec zoo list`")
    if path.stem != name:
        click.echo(f"# {name} is {spec.source.library if spec.source else 'its source'}'s name for the zoo "
                   f"entry {path.stem}")
    click.echo(path.read_text(encoding="utf-8").rstrip())
    if spec.regnet:
        click.echo("\nregnet expands to:\n" + "\n".join(stage_diagram(spec).splitlines()[1:]))
    click.echo()
    click.echo(complexity_table(spec, complexity(spec)))
    pub = published().get(name)
    if pub:
        figures = {k: v for k, v in vars(pub).items() if v is not None}
        click.echo("published: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    click.echo(weights_table(spec))


@zoo.command("compare")
@click.argument("specs", nargs=-1, required=True)
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw params and MACs per stage to this PNG (matplotlib).")
def zoo_compare(specs: tuple[str, ...], png: Path | None) -> None:
    """SPECS (zoo names or files) side by side, as He et al. 2015's Fig. 3 compares VGG-19, plain-34
    and ResNet-34: depth, params and MACs of each net and of each of its stages."""
    try:
        loaded = [load_spec(s) for s in specs]
        figures = [complexity(s) for s in loaded]
    except SpecError as error:
        raise fail(error) from error
    click.echo(compare_table(loaded, figures))
    if png is not None:
        try:
            check_writable(png)
            compare_plot(loaded, figures, png)
        except OSError as error:
            raise fail(error) from error
        click.echo(str(png))
