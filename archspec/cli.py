"""The ``archspec`` command line: each command is a few lines over the library.

Exit codes: 0 ok, 1 a spec or input problem (one clear paragraph on stderr),
2 a usage error (click's). ``--debug`` shows the traceback behind a failure.
``validate``, ``zoo list`` and ``schema`` never import TensorFlow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .atomic import check_writable, save_model, write_text
from .complexity import complexity
from .errors import RunError, SpecError
from .guards import MAX_ACTIVATION_MB, MAX_PARAMS, Limits, check_size
from .loader import load_spec, load_training
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


def _resized(spec: str, input_size: int | None, num_classes: int | None) -> dict[str, Any]:
    """--input-size and --num-classes as spec overrides (the spec's channels kept)."""
    overrides: dict[str, Any] = {}
    if input_size:
        overrides["input_shape"] = (input_size, input_size, load_spec(spec).input_shape[2])
    if num_classes:
        overrides["num_classes"] = num_classes
    return overrides


_input_size = click.option("--input-size", type=click.IntRange(min=1),
                           help="Square input size instead of the spec's (training data is resized to it).")
_num_classes = click.option("--num-classes", type=click.IntRange(min=1), help="Classifier size instead of the spec's.")


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
@_input_size
@_num_classes
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), help="Write the model to this .keras file.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1),
              help="Seed the initial weights: the same spec and seed give identical weights.")
@click.option("--max-params", type=click.IntRange(min=1), default=MAX_PARAMS, show_default=True,
              help="Refuse, before building, a model with more parameters.")
@click.option("--max-activation-mb", type=click.FloatRange(min=0, min_open=True), default=MAX_ACTIVATION_MB,
              show_default=True, help="Refuse, before building, a model whose layer outputs take more MiB per image.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="Load weights by layer name: keras.applications' .h5 files (keras_* zoo entries), a .h5 or .keras model.")
def build(spec: str, summary: bool, as_json: bool, input_size: int | None, num_classes: int | None,
          save: Path | None, seed: int | None, max_params: int, max_activation_mb: float,
          weights: Path | None) -> None:
    """Build SPEC (a YAML file or zoo name) into a Keras model and report its size.

    The figures come from the built model; they equal the analytic ones that
    `validate` prints without building.
    """
    if save is not None and save.suffix != ".keras":
        raise click.BadParameter(f"'{save}' must end in .keras", param_hint="--save")
    try:
        loaded = load_spec(spec, overrides=_resized(spec, input_size, num_classes))
        check_size(loaded, complexity(loaded), Limits(max_params, max_activation_mb))  # before importing TF
        if save is not None:
            check_writable(save)
    except (SpecError, OSError) as error:
        raise _fail(error) from error

    import_tensorflow()
    from . import build_model
    from .keras_stats import model_stats

    try:
        model = build_model(loaded, seed=seed, max_params=max_params, max_activation_mb=max_activation_mb,
                            weights=weights)
    except SpecError as error:
        raise _fail(error) from error
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
            save_model(model, save)  # atomically: a crash never leaves a half-written file
        except OSError as error:
            raise _fail(_cannot_write(save, error)) from error
        if not as_json:
            click.echo(f"saved {save}")


def _cannot_write(path: Path, error: OSError) -> OSError:
    """The OS's reason, about the file asked for rather than the temporary one beside it."""
    return OSError(f"cannot write '{path}': {error.strerror or error}")


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


@main.command("bench")
@click.argument("spec")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed steps after one warm-up step (the median is reported).")
@_input_size
@click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16"]), help="Keras mixed precision policy.")
@click.option("--jit", is_flag=True, help="Compile the steps with XLA.")
@click.option("--compare", type=click.Choice(["keras"]),
              help="Also measure the equivalent keras.applications model and print ratios.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per measured model.")
def bench_command(spec: str, batch_size: int, steps: int, input_size: int | None, mixed_precision: str | None,
                  jit: bool, compare: str | None, as_json: bool) -> None:
    """Build time, inference and training img/s and peak training memory of SPEC.

    Each model is measured in a fresh process on synthetic data. With --compare keras,
    the keras.applications model of the same network (ResNet-50/101/152, their V2 forms,
    DenseNet-121/169/201) is measured the same way and the ratios printed.

    \b
    Example:  archspec bench keras_resnet50 --compare keras --batch-size 16
    """
    from .bench import KERAS_EQUIVALENT, Settings, bench

    try:
        name = load_spec(spec).name
    except SpecError as error:
        raise _fail(error) from error
    if compare and name not in KERAS_EQUIVALENT:
        raise Failure(f"no keras.applications equivalent of '{name}'; --compare keras knows "
                      f"{', '.join(sorted(KERAS_EQUIVALENT))}")
    settings = Settings(batch_size=batch_size, steps=steps, mixed_precision=mixed_precision, jit=jit,
                        input_size=input_size)
    try:
        results = [bench(spec, settings)]
        if compare:
            results.append(bench(spec, settings, keras_application=KERAS_EQUIVALENT[name]))
    except RuntimeError as error:
        raise _fail(error) from error
    for r in results:
        if as_json:
            click.echo(json.dumps(vars(r)))
        else:
            click.echo(f"{r.model} on {r.device}, batch {r.batch_size}: build {r.build_s:.2f} s, inference "
                       f"{r.inference_img_s:.1f} img/s, training {r.train_img_s:.1f} img/s "
                       f"({r.train_step_s:.3f} s/step), peak memory {r.peak_memory_mb:.0f} MB")
    if len(results) == 2 and not as_json:
        ours, theirs = results
        click.echo(f"ratios archspec / keras.applications: build {ours.build_s / theirs.build_s:.2f}, "
                   f"training step {ours.train_step_s / theirs.train_step_s:.2f}, "
                   f"peak memory {ours.peak_memory_mb / theirs.peak_memory_mb:.2f}")


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
        raise _fail(error) from error
    from .report import compare_table

    click.echo(compare_table(loaded, figures))
    if png is not None:
        try:
            check_writable(png)
            _compare_plot(loaded, figures, png)
        except OSError as error:
            raise _fail(error) from error
        click.echo(str(png))


def _compare_plot(specs: list, figures: list, path: Path) -> None:
    from .experiments import pyplot, save_figure
    from .report import compare_parts

    plt = pyplot()
    parts = compare_parts(figures)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(specs)
    for k, (spec, c) in enumerate(zip(specs, figures)):
        by_scope = {p.scope: p for p in c.parts}
        xs = [i + (k - (len(specs) - 1) / 2) * width for i in range(len(parts))]
        for ax, key, scale in ((axes[0], "macs", 1e9), (axes[1], "params", 1e6)):
            values = [getattr(by_scope[s], key) / scale if s in by_scope else 0 for s in parts]
            ax.bar(xs, values, width, label=f"{spec.name} ({c.depth} layers, {getattr(c, key) / scale:.2f})")
    for ax, title in ((axes[0], "GMACs per part"), (axes[1], "params per part (M)")):
        ax.set_xticks(range(len(parts)), parts)
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of specs (for editor autocompletion)."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        write_text(out, text)
    except OSError as error:
        raise _fail(_cannot_write(out, error)) from error


# ---- training, experiments and export ----------------------------------------------------------

_RUN_ERRORS = (SpecError, RunError, OSError)


_data = click.option("--data", help="digits (scikit-learn's 8x8 digits; the default), folder:PATH (a subfolder "
                                    "of images per class), npz:PATH (arrays x and y, optionally x_val and y_val as "
                                    "a fixed validation set) or synthetic[:N].")


def _experiment(name: str, sized: bool = True) -> Callable:
    """The options every experiment shares: its data, seed, input size (where ``sized``) and output folder."""
    options = [
        _data,
        click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True),
        click.option("--input-size", type=click.IntRange(min=1),
                     help="Square input size [default: the data's own, 8 for digits]."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path(f"runs/{name}"),
                     show_default=True),
    ]
    if not sized:
        del options[2]

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@main.command()
@click.argument("spec")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="A YAML file of train: fields (epochs: 30, lr: 0.05, ...), over the spec's train: section.")
@_data
@click.option("--epochs", type=click.IntRange(min=1), help="Passes over the training split (default 30).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Global batch, all replicas together (default 128).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Initial learning rate (default 0.1).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1),
              help="Seeds weights, split, shuffling, augmentation (default 0).")
@_input_size
@_num_classes
@click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16"]),
              help="Compute in 16 bits, keep weights and the classifier in float32 (float16: GPUs).")
@click.option("--jit/--no-jit", default=None, help="Compile training steps with XLA [default: on with a GPU].")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default="default",
              show_default=True, help="mirrored: all GPUs (or logical CPUs) of this machine; multiworker: the "
                                      "cluster in TF_CONFIG, --out on storage all workers share.")
@click.option("--deterministic", is_flag=True, help="Identical results on a rerun on the same machine (slower).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder [default: runs/NAME].")
@click.option("--overwrite", is_flag=True, help="Discard the run already in --out and start again.")
@click.option("--init-from", type=click.Path(dir_okay=False, path_type=Path),
              help="Transfer learning: start from these weights (a checkpoint .keras, or a .h5 weights file; matched "
                   "by layer name) with a fresh classifier, e.g. for a new --num-classes.")
@click.option("--freeze", type=click.IntRange(min=0), default=0, show_default=True,
              help="Keep the stem and stages 1..N fixed (0: train everything).")
def train(spec: str, config: Path | None, data: str | None, epochs: int | None, batch_size: int | None,
          lr: float | None, seed: int | None, input_size: int | None, num_classes: int | None,
          mixed_precision: str | None, jit: bool | None, strategy: str, deterministic: bool, out: Path | None,
          overwrite: bool, init_from: Path | None, freeze: int) -> None:
    """Train SPEC (a YAML file or zoo name) on a data set; rerun to resume.

    The recipe is the spec's train: section, a --config file, then these flags; every
    field left out is He et al. 2015's CIFAR recipe (SGD momentum 0.9, lr 0.1 divided
    by 10 at 50% and 75% of the epochs, weight decay 1e-4, batch 128, pad-and-crop and
    flips). After each epoch the run folder gets last.keras, best.keras (highest
    validation accuracy), history.csv and tensorboard/ logs; metrics.json at the end.
    After an interruption, the same command continues from the last finished epoch.

    \b
    Examples:
      archspec train cifar_resnet20 --input-size 8 --epochs 15
      archspec train my_net.yaml --data folder:photos/ --num-classes 5 --mixed-precision float16
      tensorboard --logdir runs/
    """
    flags = {"data": data, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    try:
        overrides = {**_resized(spec, input_size, num_classes),
                     "train": {k: v for k, v in flags.items() if v is not None}}
        loaded = load_training(spec, config, overrides)
        from .train_schema import check_transfer

        check_transfer(loaded, init_from, freeze)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    if strategy != "multiworker":  # a multi-worker strategy must start before TensorFlow's devices do
        import_tensorflow()
    from .train import RunOptions, train as run_training

    options = RunOptions(out=out or Path("runs") / loaded.name, mixed_precision=mixed_precision, jit=jit,
                         strategy=strategy, deterministic=deterministic, overwrite=overwrite, log=click.echo,
                         init_from=init_from, freeze=freeze)
    try:
        metrics = run_training(loaded, options)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(f"{metrics['epochs']} epochs: validation accuracy {metrics['val_accuracy']:.4f} (best "
               f"{metrics['best_val_accuracy']:.4f}, epoch {metrics['best_epoch']}), {metrics['seconds']:.0f} s; "
               f"{options.out / 'metrics.json'}")


@main.group()
def reproduce() -> None:
    """Reproduce the papers' experiments on small data."""


@reproduce.command("degradation")
@_experiment("degradation")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--tiny", is_flag=True, help="Nets of 8 and 14 layers for one epoch: checks the whole pipeline fast.")
def degradation(data: str | None, epochs: int, seed: int, input_size: int | None, out: Path, tiny: bool) -> None:
    """He et al. 2015, Fig. 1 and 6: deeper plain nets train worse, residual nets do not.

    Trains plain-20, plain-56, ResNet-20 and ResNet-56 (the zoo's CIFAR nets, fitted to the
    data) with one recipe: the paper's, with batch 64 and 2 warm-up epochs. Then writes
    degradation.csv (training and validation error per epoch) and degradation.png to --out.
    Each net is a resumable `archspec train` run in its own subfolder. The default run
    takes about 4 minutes on 2 CPU cores.
    """
    from .experiments.degradation import recipe, run

    import_tensorflow()
    try:
        summary = run(out, recipe(data or "digits", 1 if tiny else epochs, seed), tiny=tiny, input_size=input_size,
                      log=click.echo)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(f"\n{'net':<10}{'params':>10}{'train error':>13}{'val error':>11}{'seconds':>9}")
    for row in summary:
        click.echo(f"{row['net']:<10}{row['params']:>10,}{row['train_error']:>12.2f}%{row['val_error']:>10.2f}%"
                   f"{row['seconds']:>9.0f}")
    click.echo(f"{out / 'degradation.csv'}, {out / 'degradation.png'}")


@main.command()
@click.argument("spec")
@click.option("--measure", "checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="A trained .keras model of SPEC: measure the gradient that paths of each length carry.")
@_experiment("paths", sized=False)
@click.option("--samples", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Random paths measured per length.")
def paths(spec: str, checkpoint: Path | None, data: str | None, seed: int, out: Path, samples: int) -> None:
    """The path lengths through SPEC's residual blocks (Veit et al. 2016): n blocks open 2^n paths,
    C(n, k) of them through k branches.

    With --measure, the gradient each length carries in a trained net, by Veit et al.'s method:
    for a path of length k, the gradient flows back through the branches of k random blocks and
    the shortcuts of the rest, on training images of --data (the checkpoint's own data). Prints
    the path lengths that carry 90% of the gradient (the effective depth) and writes paths.csv and
    paths.png (Veit et al.'s Fig. 6) to --out. --data, --seed and --out apply with --measure only.

    \b
    Examples:
      archspec paths cifar_resnet110
      archspec train cifar_resnet110 --input-size 8 --epochs 20 --out runs/resnet110
      archspec paths cifar_resnet110 --measure runs/resnet110/last.keras
    """
    from .paths import paths_table

    try:
        loaded = load_spec(spec)
    except SpecError as error:
        raise _fail(error) from error
    click.echo(paths_table(loaded))
    if checkpoint is None:
        return
    import_tensorflow()
    from .experiments.path_gradients import measure, write

    try:
        result = measure(loaded, checkpoint, data=data or "digits", samples=samples, seed=seed, log=click.echo)
        files = write(result, out)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(result.summary())
    click.echo(", ".join(map(str, files)))


@reproduce.command("lesion")
@_experiment("lesion")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--draws", type=click.IntRange(min=1), default=5, show_default=True,
              help="Random draws of k blocks to remove, for each k.")
@click.option("--tiny", is_flag=True, help="Nets of 14 layers (6 blocks) for one epoch, 2 draws: checks the pipeline fast.")
def lesion(data: str | None, epochs: int, draws: int, seed: int, input_size: int | None, out: Path,
           tiny: bool) -> None:
    """Veit et al. 2016: remove blocks from a trained residual net and a trained plain net.

    Trains ResNet-20 and plain-20 (the zoo's CIFAR nets, fitted to the data) with the degradation
    experiment's recipe, then, without retraining, evaluates each with every single block
    removed and with k random blocks removed (k = 1 .. all, --draws draws each). A residual block
    keeps its shortcut; a plain block becomes the identity, except where it changes the map's
    shape (the first block of a strided stage), which is reported as not removable. Writes
    lesion.csv and lesion.png to --out.
    """
    from .experiments.degradation import recipe
    from .experiments.lesion import run

    import_tensorflow()
    try:
        rows = run(out, recipe(data or "digits", 1 if tiny else epochs, seed), tiny=tiny,
                   draws=2 if tiny else draws, input_size=input_size, log=click.echo)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(f"\n{'net':<12}{'k removed':>10}{'mean val error':>16}")
    for net in dict.fromkeys(r["net"] for r in rows):
        for k in sorted({r["k"] for r in rows if r["net"] == net and r["lesion"] in ("none", "random")}):
            errors = [r["val_error"] for r in rows if r["net"] == net and r["k"] == k and r["lesion"] in ("none", "random")]
            click.echo(f"{net:<12}{k:>10}{sum(errors) / len(errors):>15.2f}%")
    click.echo(f"{out / 'lesion.csv'}, {out / 'lesion.png'}")


@reproduce.command("finetune")
@_experiment("finetune")
@click.option("--shots", help="Training images per new class, comma-separated: each count is trained three ways "
                               "[default: 5,10,20,50; with --tiny 5,10].")
@click.option("--tiny", is_flag=True, help="An 8-layer net, one pre-training epoch, a few steps per run, 5 and "
                                           "10 shots: checks the pipeline fast.")
def finetune(data: str | None, shots: str | None, seed: int, input_size: int | None, out: Path, tiny: bool) -> None:
    """Transfer learning: pre-train on digits 0-4, then learn 5-9 from a few images per class.

    Pre-trains ResNet-20 (the zoo's cifar_resnet20, fitted to the data) on the first half of
    the classes with the degradation experiment's recipe. Then, for each shot count, trains
    on that many images per new class, fine-tuning the pre-trained net (lr 0.01, a fresh
    classifier), training only a fresh classifier on its frozen features (lr 0.1) and training
    the net from scratch (lr 0.1), each run the same number of SGD steps, all evaluated on
    the same held-out images. Writes finetune.csv and finetune.png to --out; each run is a
    resumable `archspec train` run in its own subfolder. The default run takes about 5
    minutes on 2 CPU cores.
    """
    from .experiments.finetune import METHODS, parse_shots, run

    try:
        counts = parse_shots(shots) if shots is not None else None
        import_tensorflow()
        rows = run(out, data or "digits", counts, seed=seed, tiny=tiny, input_size=input_size, log=click.echo)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(f"\n{'shots':>5}" + "".join(f"{m:>11}" for m in METHODS) + "   (held-out error)")
    for s in dict.fromkeys(r["shots"] for r in rows):
        errors = {r["method"]: r["val_error"] for r in rows if r["shots"] == s}
        click.echo(f"{s:>5}" + "".join(f"{errors[m]:>10.2f}%" for m in METHODS))
    click.echo(f"{out / 'finetune.csv'}, {out / 'finetune.png'}")


@main.command()
@click.argument("specs", nargs=-1)
@_experiment("gradients")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
def gradients(specs: tuple[str, ...], data: str | None, batch_size: int, seed: int, input_size: int | None,
              out: Path) -> None:
    """Per-block gradient norms at initialisation, on one batch: plain against residual nets.

    SPECS default to cifar_plain20, cifar_resnet20, cifar_plain56 and cifar_resnet56, fitted
    to the data. Writes gradients.csv and gradients.png to --out and prints, per net, the
    gradient norm at the first and the last block's output.
    """
    from .experiments.gradients import DEFAULT_SPECS, run

    import_tensorflow()
    try:
        rows = run(specs or DEFAULT_SPECS, out, data=data or "digits", batch_size=batch_size,
                   input_size=input_size, seed=seed)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(f"{'net':<22}{'stem':>11}{'last block':>12}{'ratio':>9}   (norm of dL/d output, at init)")
    for net in dict.fromkeys(r["net"] for r in rows):
        norms = [r["output_grad"] for r in rows if r["net"] == net]
        click.echo(f"{net:<22}{norms[0]:>11.3g}{norms[-1]:>12.3g}{norms[0] / norms[-1]:>9.3g}")
    click.echo(f"{out / 'gradients.csv'}, {out / 'gradients.png'}")


@main.command()
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(["keras", "savedmodel", "onnx"]), default="keras",
              show_default=True, help="onnx needs the onnx extra: pip install 'archspec[onnx]'.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Output [default: NAME.keras, NAME (a SavedModel folder) or NAME.onnx, here].")
@_input_size
@_num_classes
def export(source: str, fmt: str, out: Path | None, input_size: int | None, num_classes: int | None) -> None:
    """Export SOURCE, a trained .keras checkpoint or a spec (fresh weights), and check it.

    The exported model is loaded back (.keras with safe_mode=True, a SavedModel with
    TensorFlow, ONNX with onnxruntime when installed) and must reproduce the Keras
    model's outputs on random images within 1e-4. Inputs are images scaled to [0, 1].

    \b
    Examples:
      archspec export runs/cifar_resnet20/best.keras --format onnx
      archspec export resnet50 --format savedmodel --out serving/resnet50
    """
    from .export import run

    try:
        overrides = None if source.endswith(".keras") else _resized(source, input_size, num_classes)
        import_tensorflow()
        path, difference = run(source, fmt, out, overrides)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    check = ("not checked: onnxruntime is not installed" if difference is None
             else f"outputs match Keras within {difference:.1g}")
    click.echo(f"wrote {path} ({fmt}); {check}")


@main.command()
@click.argument("spec")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw every layer to this .png, .svg, .pdf or .dot (needs pydot and Graphviz).")
@_input_size
@_num_classes
def plot(spec: str, out: Path | None, input_size: int | None, num_classes: int | None) -> None:
    """Draw SPEC: a stage diagram on the terminal, and with --out its full layer graph.

    The diagram shows each part's blocks, output shape and parameters, without TensorFlow.
    """
    from .drawing import check_graph_tools, draw_graph, stage_diagram

    try:
        overrides = _resized(spec, input_size, num_classes)
        loaded = load_spec(load_spec(spec), overrides=overrides)
        click.echo(stage_diagram(loaded))
        if out is None:
            return
        check_graph_tools(out)
        import_tensorflow()
        from . import build_model

        draw_graph(build_model(loaded), out)
    except _RUN_ERRORS as error:
        raise _fail(error) from error
    click.echo(f"wrote {out}")


@main.command()
@click.argument("a")
@click.argument("b")
def diff(a: str, b: str) -> None:
    """What differs between specs A and B: changed fields, then params, MACs and depth.

    Specs are compared as loaded (extends resolved, defaults filled in). No TensorFlow.

    \b
    Example:
      archspec diff resnet50 specs/resnet50_d.yaml
    """
    from .diff import diff_report

    try:
        click.echo(diff_report(load_spec(a), load_spec(b)))
    except _RUN_ERRORS as error:
        raise _fail(error) from error


if __name__ == "__main__":
    sys.exit(main())
