"""The ``archspec`` command line: each command is a few lines over the library.

Exit codes: 0 ok, 1 a spec or input problem (one clear paragraph on stderr),
2 a usage error (click's). ``--debug`` shows the traceback behind a failure.
``validate``, ``zoo list`` and ``schema`` never import TensorFlow.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from .complexity import complexity
from .errors import SpecError
from .loader import load_spec
from .quiet import import_tensorflow
from .report import complexity_table, human, zoo_markdown
from .schema import json_schema

EPILOG = "Specs are YAML files (see specs/resnext50.yaml) or zoo names (see `archspec zoo list`)."


class Failure(click.ClickException):
    """An expected failure: printed as one paragraph, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _fail(error: Exception) -> Failure:
    if click.get_current_context().find_root().params.get("debug"):
        raise error
    return Failure(str(error))


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the Python traceback behind a failure.")
def main(debug: bool) -> None:
    """Write residual-family networks as short YAML specs, check them, build them as Keras models.

    \b
    Examples:
      archspec build specs/resnext50.yaml --summary
      archspec build resnet50 --json
      archspec validate my_net.yaml
      archspec zoo list
    """


@main.command()
@click.argument("spec")
@click.option("--summary", is_flag=True, help="Print the Keras layer-by-layer summary too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (name, params, total_params, macs, ...).")
@click.option("--input-size", type=click.IntRange(min=1), help="Square input size to build at instead of the spec's.")
@click.option("--num-classes", type=click.IntRange(min=1), help="Classifier size instead of the spec's.")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), help="Write the model to this .keras file.")
def build(spec: str, summary: bool, as_json: bool, input_size: int | None, num_classes: int | None,
          save: Path | None) -> None:
    """Build SPEC (a YAML file or zoo name) into a Keras model and report its size.

    The figures come from the built model; they equal the analytic ones that
    `validate` prints without building.
    """
    if save is not None and save.suffix != ".keras":
        raise click.BadParameter(f"'{save}' must end in .keras", param_hint="--save")
    try:
        loaded = load_spec(spec)
        overrides = {}
        if input_size:
            overrides["input_shape"] = (input_size, input_size, loaded.input_shape[2])
        if num_classes:
            overrides["num_classes"] = num_classes
        loaded = load_spec(loaded, overrides=overrides) if overrides else loaded
        if save is not None:
            _check_writable(save)
    except (SpecError, OSError) as error:
        raise _fail(error) from error

    import_tensorflow()
    from .builder import build_spec
    from .keras_stats import model_stats

    model = build_spec(loaded)
    stats = model_stats(model)
    if summary:
        model.summary(print_fn=lambda line, **_: click.echo(line), expand_nested=False)
    if as_json:
        click.echo(json.dumps({
            "name": loaded.name, "params": stats.params, "total_params": stats.total_params,
            "macs": stats.macs, "layers": stats.layers, "input_shape": list(loaded.input_shape),
            "num_classes": loaded.num_classes,
        }))
    else:
        click.echo(complexity_table(loaded, complexity(loaded)))
    if save is not None:
        try:
            _save_atomically(model, save)
        except OSError as error:
            raise _fail(error) from error
        if not as_json:
            click.echo(f"saved {save}")


def _check_writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"cannot save to '{path}': folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK):
        raise OSError(f"cannot save to '{path}': folder '{folder}' is not writable")


def _save_atomically(model: Any, path: Path) -> None:
    """Write next to the target, then rename: a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@main.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing for valid specs.")
def validate(specs: tuple[str, ...], quiet: bool) -> None:
    """Check SPECS (files or zoo names) without building them: schema, shapes, figures.

    Prints each spec's params and MACs, or each problem as file:line:col. Exit 1
    if any spec is invalid.
    """
    failed = 0
    for source in specs:
        try:
            spec = load_spec(source)
        except SpecError as error:
            failed += 1
            click.echo(str(error), err=True)
            continue
        if not quiet:
            c = complexity(spec)
            click.echo(f"ok {source}: {c.params:,} params, {c.macs / 1e9:.3f} GMACs")
    if failed:
        raise Failure(f"{failed} of {len(specs)} specs are invalid")


@main.group()
def zoo() -> None:
    """The catalogue of published variants."""


@zoo.command("list")
@click.option("--family", help="Only this family (resnet, resnext, wide, preact, plain, ...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--markdown", is_flag=True, help="A Markdown table (the README's zoo table).")
def zoo_list(family: str | None, as_json: bool, markdown: bool) -> None:
    """Every zoo entry with computed params and MACs and the published error."""
    from .zoo import list_zoo

    entries = [e for e in list_zoo() if family in (None, e.family)]
    if not entries:
        raise Failure(f"no zoo family '{family}'")
    if markdown:
        click.echo(zoo_markdown(entries))
        return
    if as_json:
        for e in entries:
            error = e.published.error if e.published else None
            click.echo(json.dumps({"name": e.name, "family": e.family, "params": e.params,
                                   "macs": e.macs, "published_error": error}))
        return
    click.echo(f"{'name':<34}{'family':<9}{'params':>9}{'MACs':>9}  published error")
    for e in entries:
        error = f"{e.published.error:.2f}%" if e.published and e.published.error is not None else "-"
        click.echo(f"{e.name:<34}{e.family:<9}{human(e.params):>9}{human(e.macs):>9}  {error}")


@zoo.command("show")
@click.argument("name")
def zoo_show(name: str) -> None:
    """The spec of zoo entry NAME, its figures per stage and the published ones."""
    from .zoo import published, zoo_path

    try:
        spec = load_spec(name)
    except SpecError as error:
        raise _fail(error) from error
    path = zoo_path(name)
    if path is None:
        raise Failure(f"'{name}' is a spec file, not a zoo name; see `archspec zoo list`")
    click.echo(path.read_text(encoding="utf-8").rstrip())
    click.echo()
    click.echo(complexity_table(spec, complexity(spec)))
    pub = published().get(name)
    if pub:
        figures = {k: v for k, v in vars(pub).items() if v is not None}
        click.echo("published: " + ", ".join(f"{k} {v}" for k, v in figures.items()))


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of specs (for editor autocompletion)."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    tmp = out.with_name(f".{out.name}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise _fail(error) from error


if __name__ == "__main__":
    sys.exit(main())
