"""`archspec zoo`: list, show and compare the published variants."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from ..graph.catalogue import list_zoo
from ..graph.complexity import complexity
from ..graph.load import load_planned, load_spec
from ..graph.report import compare_table, complexity_table, human, weights_table, zoo_markdown
from ..keras.drawing import compare_plot, stage_diagram
from ..spec.errors import RunError, SpecError
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


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the matching networks, or the nearest.")
def identify(file: Path, as_json: bool) -> None:
    """Name the timm or torchvision network whose weights FILE holds, by its tensors' names and shapes.

    FILE is a PyTorch checkpoint (.pth, .pt, .bin) or a .safetensors file, read without PyTorch and without
    running anything in it. It is compared with every residual-family network of timm's and torchvision's
    registries (the zoo's coverage page lists them), whether archspec's zoo has it yet or not; a classifier of
    another class count, or none, still matches. When networks have the same tensors (a blur pool has no
    weights), all are named, the zoo's entry of fewest layers first: the plain network, which build picks. A file
    that fits none gets the nearest network and the first tensor that differs, and exit code 1.

    \b
    Examples:
      archspec identify resnet50-0676ba61.pth
      archspec build --weights resnet50-0676ba61.pth     # identifies it, then builds that entry
    """
    try:
        found = _identified(file)
    except (RunError, OSError) as error:
        raise fail(error) from error
    if as_json:
        click.echo(json.dumps({"file": str(file), "matches": [_described(m.network) | {"num_classes": m.num_classes}
                                                             for m in found.matches],
                               "nearest": found.nearest and _described(found.nearest.network) | {
                                   "names": found.nearest.names, "shapes": found.nearest.shapes,
                                   "difference": found.nearest.difference}}, indent=1))
    elif found.matches:
        click.echo(_identified_text(file, found.matches))
    if not found.matches:
        raise Failure(_unidentified_text(file, found.nearest))


def identified_entry(file: Path) -> tuple[str, int, list[str]]:
    """The zoo entry, and its class count, of the network whose weights ``file`` holds, with the other entries of the
    same tensors: those add layers without weights (a blur pool, an average pool), so the plain network, of fewest
    layers, is the one built. A ``RunError`` saying why when the file fits none the zoo has, or entries of as many
    layers that it cannot tell apart."""
    found = _identified(file)
    if not found.matches:
        raise RunError(_unidentified_text(file, found.nearest) + "; name the spec: archspec build SPEC --weights FILE")
    entries = list(dict.fromkeys(m.network.entry for m in found.matches if m.network.entry))
    if not entries or (len(entries) > 1 and _layers(entries[0]) == _layers(entries[1])):
        raise RunError(_identified_text(file, found.matches).replace("\n", " ") + (
            " Name one: archspec build SPEC --weights FILE" if entries else
            " The zoo has none of these yet: write its spec, then archspec build SPEC --weights FILE"))
    return entries[0], found.matches[0].num_classes, entries[1:]


def _identified(file: Path):
    """The census networks the file's tensors fit (read without loading them), the zoo's entries of fewest layers
    first; or the nearest."""
    from ..keras.weights.registry import identify as identify_shapes
    from ..keras.weights.tensors import open_tensors

    with open_tensors(file) as tensors:
        found = identify_shapes(tensors.shapes)
    matches = sorted(found.matches, key=lambda m: (m.network.entry is None, _layers(m.network.entry)))
    return dataclasses.replace(found, matches=tuple(matches))


def _layers(entry: str | None) -> int:
    """How many layers a zoo entry plans (0 for none: the order then keeps the census's)."""
    return len(load_planned(entry)[1].nodes) if entry else 0


def _described(network) -> dict:
    return {"library": network.library, "model": network.model, "module": network.module,
            "params": network.params, "entry": network.entry}


def _identified_text(file: Path, matches) -> str:
    classes = matches[0].num_classes
    head = f"a {classes}-class classifier" if classes else "no classifier (a headless backbone)"
    width = max(len(m.network.model) for m in matches)
    params = "" if classes == 1000 else " (params as the library builds it, with 1000 classes)"
    lines = [f"{file.name} holds the weights of {'this network' if len(matches) == 1 else 'these networks'}, "
             f"with {head}{params}:"]
    lines += [f"  {m.network.library:<12}{m.network.model:<{width}}{m.network.params:>13,} params  "
              f"{'archspec: ' + m.network.entry if m.network.entry else 'not in archspec zoo yet'}" for m in matches]
    if len(matches) > 1:
        lines.append("They have the same tensors (what tells them apart carries no weights), so the file "
                     "cannot say which one it came from.")
    entries = list(dict.fromkeys(m.network.entry for m in matches if m.network.entry))
    if entries:
        size = f" --num-classes {classes}" if classes and classes != 1000 else ""
        headless = " --features --pooling avg" if not classes else ""
        lines.append(f"Build it: archspec build {entries[0]} --weights {file}{size}{headless}")
    return "\n".join(lines)


def _unidentified_text(file: Path, nearest) -> str:
    if nearest is None or nearest.names == 0:
        return (f"{file} fits none of timm's and torchvision's residual-family networks, and shares no tensor "
                f"name with any: it is another kind of network")
    network = nearest.network
    return (f"{file} fits none of timm's and torchvision's residual-family networks; the nearest is "
            f"{network.library}'s {network.model} (the file has {nearest.names:.0%} of its tensor names, "
            f"{nearest.shapes:.0%} with the same shapes), where {nearest.difference}")
