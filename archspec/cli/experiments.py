"""The papers' experiments: `archspec reproduce ...`, `archspec gradients` and `archspec paths`."""

from __future__ import annotations

from pathlib import Path

import click

from ..graph.load import load_spec
from ..spec.errors import SpecError
from .common import RUN_ERRORS, experiment_options, fail, needs_tensorflow


@click.group()
def reproduce() -> None:
    """Reproduce the papers' experiments: on small data, or at their size with --recipe where offered."""


@reproduce.command("degradation", short_help="He et al. 2015, Fig. 1 and 6: deeper plain nets train worse, residual nets do not.")
@experiment_options("degradation")
@click.option("--epochs", type=click.IntRange(min=1), help="[default: 20, or the --recipe's]")
@click.option("--recipe", metavar="NAME", help="Train at the paper's size with this named recipe (he2015_cifar) "
                                               "and all four depths of Fig. 6: 20, 32, 44 and 56 layers.")
@click.option("--tiny", is_flag=True, help="Nets of 8, 14, ... layers for one epoch: checks the whole pipeline fast.")
def degradation(data: str | None, epochs: int | None, recipe: str | None, seed: int, input_size: int | None,
                out: Path, tiny: bool) -> None:
    """He et al. 2015, Fig. 1 and 6: deeper plain nets train worse, residual nets do not.

    Trains plain-20, plain-56, ResNet-20 and ResNet-56 (the zoo's CIFAR nets, fitted to the
    data) with one recipe: the paper's, with batch 64 and 2 warm-up epochs. Then writes
    degradation.csv (training and validation error per epoch) and degradation.png to --out.
    Each net is a resumable `archspec train` run in its own subfolder. The default run
    takes about 4 minutes on 2 CPU cores. With --recipe, the nets of 20, 32, 44 and 56 layers
    train with that recipe instead, and the table shows the paper's test errors beside them.

    \b
    Example, the paper's own experiment (a GPU; 8 runs of 164 epochs):
      archspec reproduce degradation --data cifar10 --recipe he2015_cifar
    """
    from ..experiments import compare
    from ..experiments import degradation as experiment

    needs_tensorflow("this experiment (it trains through TensorFlow's data pipeline)")
    try:
        t = compare.chosen_recipe(recipe, data, seed, epochs, tiny, paper_data="cifar10", experiment="degradation")
        summary = experiment.run(out, t, tiny=tiny, input_size=input_size, log=click.echo, paper=bool(recipe),
                                 depths=experiment.PAPER_DEPTHS if recipe else experiment.DEPTHS)
    except RUN_ERRORS as error:
        raise fail(error) from error
    _summary_table(summary)
    if recipe and not tiny:
        click.echo("paper: He et al. 2015's CIFAR-10 test error (Table 6), from the zoo's reference data")
    click.echo(f"{out / 'degradation.csv'}, {out / 'degradation.png'}")


def _summary_table(summary: list[dict]) -> None:
    """The comparing experiments' table: per net its size, final errors, the paper's error where given, time."""
    width = max(10, *(len(row["net"]) + 2 for row in summary))
    click.echo(f"\n{'net':<{width}}{'params':>10}{'train error':>13}{'val error':>11}{'paper':>8}{'seconds':>9}")
    for row in summary:
        paper = f"{row['paper_error']:.2f}%" if row["paper_error"] is not None else ""
        click.echo(f"{row['net']:<{width}}{row['params']:>10,}{row['train_error']:>12.2f}%{row['val_error']:>10.2f}%"
                   f"{paper:>8}{row['seconds']:>9.0f}")


def _ablation_command(name: str, help_text: str) -> None:
    """`archspec reproduce NAME`: the ablation table NAME of the zoo's reference data, re-run."""
    from ..spec.zoo import ablations

    paper = ablations()[name]
    help_text = help_text.format(figures=", ".join(f"{row.label} {row.error:.2f}%" for row in paper.rows))

    @reproduce.command(name, help=help_text, short_help=help_text.splitlines()[0])
    @experiment_options(name)
    @click.option("--epochs", type=click.IntRange(min=1), help="[default: 20, or the --recipe's]")
    @click.option("--recipe", metavar="NAME", help=f"Train the paper's own net, {paper.net}, with this named recipe.")
    @click.option("--net", "net", metavar="SPEC", help="Compare the variants of this residual spec or zoo name "
                                                       "instead [default: the paper's with --recipe, else a small one].")
    @click.option("--tiny", is_flag=True, help="One block per stage, one epoch: checks the whole pipeline fast.")
    def command(data: str | None, epochs: int | None, recipe: str | None, net: str | None, seed: int,
                input_size: int | None, out: Path, tiny: bool) -> None:
        from ..experiments import ablations as experiment

        needs_tensorflow("this experiment (it trains through TensorFlow's data pipeline)")
        try:
            t = experiment.training(name, recipe, data, seed, epochs, tiny)
            summary = experiment.run(name, out, t, net, at_size=bool(recipe), tiny=tiny, input_size=input_size,
                                     log=click.echo)
        except RUN_ERRORS as error:
            raise fail(error) from error
        _summary_table(summary)
        click.echo(f"paper: {paper.metric}, {paper.paper} (the zoo's reference data)")
        if not recipe or tiny or net:
            click.echo(f"This run trained {experiment.base_net(name, net, bool(recipe))}{' (tiny)' if tiny else ''} "
                       f"on {t.data}, not the paper's {paper.net} on {paper.dataset}: compare the rows' order, "
                       f"not their values.")
        click.echo(f"{out / f'{name}.csv'}, {out / f'{name}.png'}")


_ablation_command("shortcuts", """He et al. 2015, Table 3: shortcut options A, B and C.

    A pads the channels of a shortcut where the shape changes with zeros (no parameters), B
    projects with a 1x1 convolution there, C projects in every block. The three nets train with
    one recipe; the table shows their final errors beside the paper's ResNet-34 figures on
    ImageNet (top-1: {figures}). Writes shortcuts.csv and shortcuts.png to
    --out; each net is a resumable `archspec train` run in its own subfolder. On small data
    (default: digits) ResNet-20 stands in for ResNet-34: about 1.5 minutes on 2 CPU cores.

    \b
    The paper's own experiment (ImageNet; a GPU: 3 runs of 90 epochs):
      archspec reproduce shortcuts --recipe he2015_imagenet --data folder:/data/imagenet
    """)

_ablation_command("orders", """He et al. 2016, Table 2 and Fig. 4: the five block orders.

    (a) original (ReLU after the addition), (b) BN after the addition, (c) ReLU before the
    addition, (d) ReLU-only pre-activation, (e) full pre-activation. The five nets train with one
    recipe; the table shows their final errors beside the paper's ResNet-110 figures on CIFAR-10
    ({figures}).
    Writes orders.csv and orders.png to --out; each net is a resumable `archspec train` run in its
    own subfolder. On small data (default: digits) ResNet-56 stands in for ResNet-110: about 6
    minutes on 2 CPU cores.

    \b
    The paper's own experiment (CIFAR-10, fetched once; a GPU: 5 runs of 164 epochs):
      archspec reproduce orders --recipe he2015_cifar
    """)


@reproduce.command("lesion", short_help="Veit et al. 2016: remove blocks from a trained residual net and a plain one.")
@experiment_options("lesion")
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
    from ..experiments.compare import recipe
    from ..experiments.lesion import run

    needs_tensorflow("this experiment (it trains through TensorFlow's data pipeline)")
    try:
        rows = run(out, recipe(data or "digits", 1 if tiny else epochs, seed), tiny=tiny,
                   draws=2 if tiny else draws, input_size=input_size, log=click.echo)
    except RUN_ERRORS as error:
        raise fail(error) from error
    click.echo(f"\n{'net':<12}{'k removed':>10}{'mean val error':>16}")
    for net in dict.fromkeys(r["net"] for r in rows):
        for k in sorted({r["k"] for r in rows if r["net"] == net and r["lesion"] in ("none", "random")}):
            errors = [r["val_error"] for r in rows if r["net"] == net and r["k"] == k and r["lesion"] in ("none", "random")]
            click.echo(f"{net:<12}{k:>10}{sum(errors) / len(errors):>15.2f}%")
    click.echo(f"{out / 'lesion.csv'}, {out / 'lesion.png'}")


@reproduce.command("finetune")
@experiment_options("finetune")
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
    from ..experiments.finetune import METHODS, parse_shots, run

    try:
        counts = parse_shots(shots) if shots is not None else None
        needs_tensorflow("this experiment (it trains through TensorFlow's data pipeline)")
        rows = run(out, data or "digits", counts, seed=seed, tiny=tiny, input_size=input_size, log=click.echo)
    except RUN_ERRORS as error:
        raise fail(error) from error
    click.echo(f"\n{'shots':>5}" + "".join(f"{m:>11}" for m in METHODS) + "   (held-out error)")
    for s in dict.fromkeys(r["shots"] for r in rows):
        errors = {r["method"]: r["val_error"] for r in rows if r["shots"] == s}
        click.echo(f"{s:>5}" + "".join(f"{errors[m]:>10.2f}%" for m in METHODS))
    click.echo(f"{out / 'finetune.csv'}, {out / 'finetune.png'}")


@click.command()
@click.argument("specs", nargs=-1)
@experiment_options("gradients")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
def gradients(specs: tuple[str, ...], data: str | None, batch_size: int, seed: int, input_size: int | None,
              out: Path) -> None:
    """Per-block gradient norms at initialisation, on one batch: plain against residual nets.

    SPECS default to cifar_plain20, cifar_resnet20, cifar_plain56 and cifar_resnet56, fitted
    to the data. Writes gradients.csv and gradients.png to --out and prints, per net, the
    gradient norm at the first and the last block's output.
    """
    from ..experiments.gradients import DEFAULT_SPECS, run

    needs_tensorflow("this experiment (it trains through TensorFlow's data pipeline)")
    try:
        rows = run(specs or DEFAULT_SPECS, out, data=data or "digits", batch_size=batch_size,
                   input_size=input_size, seed=seed)
    except RUN_ERRORS as error:
        raise fail(error) from error
    click.echo(f"{'net':<22}{'stem':>11}{'last block':>12}{'ratio':>9}   (norm of dL/d output, at init)")
    for net in dict.fromkeys(r["net"] for r in rows):
        norms = [r["output_grad"] for r in rows if r["net"] == net]
        click.echo(f"{net:<22}{norms[0]:>11.3g}{norms[-1]:>12.3g}{norms[0] / norms[-1]:>9.3g}")
    click.echo(f"{out / 'gradients.csv'}, {out / 'gradients.png'}")


@click.command()
@click.argument("spec")
@click.option("--measure", "checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="A trained .keras model of SPEC: measure the gradient that paths of each length carry.")
@experiment_options("paths", sized=False)
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
    from ..graph.paths import paths_table

    try:
        loaded = load_spec(spec)
    except SpecError as error:
        raise fail(error) from error
    click.echo(paths_table(loaded))
    if checkpoint is None:
        return
    needs_tensorflow("this experiment (it trains through TensorFlow's data pipeline)")
    from ..experiments.path_gradients import measure, write

    try:
        result = measure(loaded, checkpoint, data=data or "digits", samples=samples, seed=seed, log=click.echo)
        files = write(result, out)
    except RUN_ERRORS as error:
        raise fail(error) from error
    click.echo(result.summary())
    click.echo(", ".join(map(str, files)))
