"""Commands on one spec: build, validate, schema, plot, diff and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..graph.complexity import complexity
from ..graph.diagram import block_dot, check_block_file, default_block, render_svg
from ..graph.guards import MAX_ACTIVATION_MB, MAX_PARAMS, Limits, check_size
from ..graph.load import at_reference_size, load_spec
from ..graph.plan import plan
from ..graph.report import complexity_table
from ..keras.quiet import import_keras
from ..spec.errors import RunError, SpecError
from ..spec.schema import ModelSpec, json_schema
from ..train.curves import CURVES, is_run_folder
from ..train.run_folder import RunFolder
from ..utils.atomic import check_writable, write_text
from .common import (
    RUN_ERRORS,
    WEIGHTS_HELP,
    Failure,
    bar_progress,
    cannot_write,
    ema_option,
    fail,
    input_size_option,
    num_classes_option,
    resized,
)
from .zoo import identified_entry


@click.command()
@click.argument("spec", required=False)
@click.option("--summary", is_flag=True, help="Print the Keras layer-by-layer summary too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (name, params, total_params, macs, ...).")
@input_size_option
@num_classes_option
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), help="Write the model to this .keras file.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1),
              help="Seed the initial weights: the same spec and seed give identical weights.")
@click.option("--max-params", type=click.IntRange(min=1), default=MAX_PARAMS, show_default=True,
              help="Refuse, before building, a model with more parameters.")
@click.option("--max-activation-mb", type=click.FloatRange(min=0, min_open=True), default=MAX_ACTIVATION_MB,
              show_default=True, help="Refuse, before building, a model whose layer outputs take more MiB per image.")
@click.option("--weights", metavar="FILE|SOURCE", help=WEIGHTS_HELP)
@ema_option
@click.option("--features", is_flag=True,
              help="The backbone without its head: outputs the last feature map at each resolution, "
                   "P2 (stride 4) to P5 (stride 32) as keras-hub names them.")
@click.option("--pooling", type=click.Choice(["avg", "max"]),
              help="With --features: pool the last feature map into one vector instead (keras.applications' "
                   "include_top=False, pooling=).")
def build(spec: str | None, summary: bool, as_json: bool, input_size: int | None, num_classes: int | None,
          save: Path | None, seed: int | None, max_params: int, max_activation_mb: float,
          weights: str | None, ema: bool, features: bool, pooling: str | None) -> None:
    """Build SPEC (a YAML file or zoo name) into a Keras model and report its size.

    The figures come from the built model; they equal the analytic ones that
    `validate` prints without building. With --features they are the backbone's.
    Without SPEC, --weights FILE names it: the zoo entry whose tensors the file holds
    (see `archspec identify`), with the file's class count.
    """
    if spec is None:
        if weights is None or not Path(weights).exists():
            raise click.UsageError("give SPEC (a YAML file or zoo name), or --weights FILE to build the network "
                                   "the file holds")
        try:
            spec, classes, alike = identified_entry(Path(weights))
        except RunError as error:
            raise fail(error) from error
        num_classes = num_classes if num_classes is not None or classes in (0, 1000) else classes
        also = (f" ({', '.join(alike)} {'has' if len(alike) == 1 else 'have'} the same tensors and layers that carry "
                f"no weights: name one to build it)") if alike else ""
        click.echo(f"{weights} holds the weights of zoo entry {spec}{also}", err=as_json)
    if save is not None and save.suffix != ".keras":
        raise click.BadParameter(f"'{save}' must end in .keras", param_hint="--save")
    if pooling is not None and not features:
        raise click.UsageError("--pooling pools the backbone's last feature map: add --features")
    if ema and weights is None:
        raise click.UsageError("--ema picks a checkpoint's EMA weights: add --weights FILE")
    try:
        loaded = load_spec(spec, overrides=resized(spec, input_size, num_classes))
        reported = at_reference_size(loaded)  # an any-size network's figures are at 224x224
        analytic = complexity(reported, features=features, pooling=pooling)
        check_size(loaded, analytic, Limits(max_params, max_activation_mb))  # before importing TF
        if weights is not None:
            from ..keras.weights.sources import check_named_or_file  # imports NumPy: only for a command given weights

            check_named_or_file(weights)
        if save is not None:
            check_writable(save)
    except (SpecError, RunError, OSError) as error:
        raise fail(error) from error

    import_keras()
    from ..keras.build import build_model
    from ..keras.model_io import save_model
    from ..keras.stats import model_stats
    from ..keras.weights.load import load_weights

    try:
        model = build_model(loaded, seed=seed, max_params=max_params, max_activation_mb=max_activation_mb,
                            features=features, pooling=pooling)
        filled = load_weights(model, loaded, weights, ema=ema) if weights is not None else None
    except (SpecError, RunError) as error:
        raise fail(error) from error
    if weights is not None:  # on stderr beside --json, whose stdout is one JSON object
        click.echo(f"loaded the weights of {weights} into {loaded.name}{filled.describe() if filled else ''}",
                   err=as_json)
    stats = model_stats(model)
    if summary:
        model.summary(print_fn=lambda line, **_: click.echo(line), expand_nested=False)
    if as_json:
        click.echo(json.dumps({
            "name": loaded.name, "params": stats.params, "total_params": stats.total_params,
            "macs": stats.macs, "layers": stats.layers, "input_shape": list(loaded.input_shape),
            "num_classes": None if features else loaded.num_classes,
            **({"outputs": {k: list(t.shape[1:]) for k, t in model.output.items()}} if features and not pooling
               else {}),
        }))
    else:
        click.echo(complexity_table(reported, analytic))
        if loaded.any_size:
            click.echo(f"  the model takes images of any size (input_shape {list(loaded.input_shape)}); MACs above are "
                       f"at {reported.input_shape[0]}x{reported.input_shape[1]} (--input-size N for another size)")
    if save is not None:
        try:
            save_model(model, save)  # atomically: a crash never leaves a half-written file
        except OSError as error:
            raise fail(cannot_write(save, error)) from error
        if not as_json:
            click.echo(f"saved {save}")


@click.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing for valid specs.")
@click.option("--resolved", is_flag=True,
              help="Print each valid spec as the whole network it resolves to: YAML with extends merged and "
                   "every default filled in, which validates to the same network; several specs are several "
                   "YAML documents (---).")
def validate(specs: tuple[str, ...], quiet: bool, resolved: bool) -> None:
    """Check SPECS (files or zoo names) without building them: schema, shapes, figures.

    Prints each spec's params and MACs (and the stages a regnet generator expands to), or each
    problem as file:line:col. Exit 1 if any spec is invalid.

    \b
    Example:
      archspec validate my_net.yaml --resolved > whole_net.yaml
    """
    if quiet and resolved:
        raise click.UsageError("--quiet prints nothing and --resolved prints the specs: give one of them")
    failed = printed = 0
    for source in specs:
        try:
            spec = load_spec(source)
        except SpecError as error:
            failed += 1
            click.echo(str(error), err=True)
            continue
        if quiet:
            continue
        sized = at_reference_size(spec)
        c = complexity(sized)
        at = f" at {sized.input_shape[0]}x{sized.input_shape[1]} (it takes any size)" if spec.any_size else ""
        figures = f"{c.params:,} params, {c.macs / 1e9:.3f} GMACs{at}"
        if resolved:  # YAML on stdout; the figures as a comment, which YAML ignores
            from ..spec.dump import resolved_yaml

            click.echo(f"{'---' + chr(10) if printed else ''}# {source} resolved: {figures}\n{resolved_yaml(spec)}",
                       nl=False)
            printed += 1
            continue
        click.echo(f"ok {source}: {figures}")
        if spec.regnet:  # show what the generator expanded to
            from ..keras.drawing import stage_diagram

            click.echo("\n".join(stage_diagram(sized).splitlines()[1:]))
    if failed:
        raise Failure(f"{failed} of {len(specs)} specs are invalid")


@click.command()
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
        raise fail(cannot_write(out, error)) from error


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SPEC | RUN...")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="A spec: also draw every layer to this .png, .svg, .pdf or .dot (needs pydot and Graphviz). "
                   f"Runs: the figure's file, .png, .svg or .pdf [default: {CURVES}].")
@click.option("--block", type=click.Path(dir_okay=False, path_type=Path),
              help="A spec: also draw one block to this .svg (needs Graphviz's dot), or write its DOT text to a .dot.")
@click.option("--at", metavar="BLOCK", help="The block --block draws, e.g. conv4_block2 [default: the first block "
                                            "of the second stage].")
@input_size_option
@num_classes_option
def plot(sources: tuple[str, ...], out: Path | None, block: Path | None, at: str | None, input_size: int | None,
         num_classes: int | None) -> None:
    """Draw a spec's network, or the training curves of one or more runs.

    SPEC (a YAML file or zoo name): a stage diagram on the terminal, each part's blocks,
    output shape and parameters, without TensorFlow; with --out its full layer graph; with
    --block one block laid out by Graphviz, its main path, shortcut and any attention or
    gating branch each in its own style.

    RUN... (folders `archspec train` wrote): their loss and accuracy per epoch (training
    solid, validation dashed) and learning rate, one colour per run, on one figure. Each
    run folder also holds its own curves.png, redrawn after every epoch.

    \b
    Examples:
      archspec plot cifar_resnet20
      archspec plot se_resnet50 --block se_block.svg
      archspec plot runs/cifar_plain20 runs/cifar_plain56 --out plain.png
    """
    if at and not block:
        raise Failure("--at names the block --block draws: add --block FILE.svg")
    if is_run_folder(Path(sources[0])):
        if block:
            raise Failure("--block draws a spec's block, and run folders have none: pass a spec")
        _plot_runs([Path(source) for source in sources], out or Path(CURVES))
        return
    if len(sources) > 1:
        raise Failure(f"plot draws one spec, or run folders (each holding run.json, as `archspec train` writes), "
                      f"and '{sources[0]}' is no run folder: pass one spec, or only run folders")
    spec = sources[0]
    from ..keras.drawing import check_graph_tools, draw_graph, stage_diagram

    try:
        overrides = resized(spec, input_size, num_classes)
        loaded = load_spec(load_spec(spec), overrides=overrides)
        click.echo(stage_diagram(loaded))
        if block:
            _draw_block(loaded, at, block)
        if out is None:
            return
        check_graph_tools(out)
        import_keras()
        from ..keras.build import build_model

        draw_graph(build_model(loaded), out)
    except RUN_ERRORS as error:
        raise fail(error) from error
    click.echo(f"wrote {out}")


def _draw_block(spec: ModelSpec, at: str | None, out: Path) -> None:
    """The block ``at`` (else the default one) of the planned ``spec`` as ``out``, an .svg or .dot."""
    check_block_file(out)
    graph = plan(spec)
    name = at or default_block(graph)
    dot = block_dot(graph, name, f"{spec.name}: {name}")
    try:
        write_text(out, render_svg(dot) if out.suffix == ".svg" else dot)
    except OSError as error:
        raise cannot_write(out, error) from error
    click.echo(f"wrote {out}")


def _plot_runs(folders: list[Path], out: Path) -> None:
    """The runs in ``folders`` on one figure in ``out``."""
    from ..train.curves import draw_curves, read_history

    try:
        for folder in folders:
            if not is_run_folder(folder):
                raise RunError(f"'{folder}' is not a run folder (it holds no run.json, as `archspec train` writes): "
                               f"plot draws run folders together, or one spec")
        names = [str(folder) for folder in folders]
        if len(set(names)) < len(names):
            raise RunError(f"a run folder is named twice in {', '.join(names)}")
        draw_curves({name: read_history(folder) for name, folder in zip(names, folders)}, out)
    except RUN_ERRORS as error:
        raise fail(cannot_write(out, error) if isinstance(error, OSError) else error) from error
    click.echo(f"wrote {out}")


@click.command()
@click.argument("a")
@click.argument("b")
def diff(a: str, b: str) -> None:
    """What differs between specs A and B: changed fields, then params, MACs and depth.

    Specs are compared as loaded, as `validate --resolved` prints them (extends merged, defaults
    filled in), so a field one inherits differently is named by its path. No TensorFlow.

    \b
    Example:
      archspec diff resnet50 specs/resnet50_d.yaml
    """
    from ..graph.diff import diff_report

    try:
        click.echo(diff_report(load_spec(a), load_spec(b)))
    except RUN_ERRORS as error:
        raise fail(error) from error


CALIBRATION_IMAGES = 100  # enough for int8's value ranges; the converter reads each one in turn


@click.command()
@click.argument("source")
@click.option("--format", "fmt",
              type=click.Choice(["keras", "savedmodel", "onnx", "litert", "timm", "torchvision"]),
              default="keras", show_default=True,
              help="keras, savedmodel, onnx, litert: the model (onnx needs the onnx extra: pip install "
                   "'archspec[onnx]'; litert the litert extra). timm, torchvision: its weights as the file that "
                   "library's own model loads with strict=True.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Output [default: NAME.keras, NAME (a SavedModel folder), NAME.onnx, NAME.tflite or "
                   "NAME.safetensors, here]; for timm/torchvision a .safetensors or .pth file, or with --hub a folder.")
@click.option("--quantize", type=click.Choice(["none", "float16", "dynamic", "int8"]),
              help="litert: none (float32) [default], float16 weights, dynamic (int8 weights, float activations) "
                   "or int8 (every operation, the input and the output; needs --calibration).")
@click.option("--calibration", type=click.Path(path_type=Path), metavar="DIR",
              help="litert: a folder of images in any layout, read with the model's own evaluation view; int8 "
                   "takes its value ranges from them, and every quantized export is compared with the float "
                   "model on them.")
@click.option("--calibration-images", type=click.IntRange(min=1), default=CALIBRATION_IMAGES, show_default=True,
              help="litert: how many of --calibration's images to use (a fixed sample of the folder).")
@input_size_option
@num_classes_option
@click.option("--weights", metavar="FILE|SOURCE", help="For a spec: " + WEIGHTS_HELP)
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]),
              help="timm/torchvision: the floating tensors' dtype [default: the model's own].")
@click.option("--hub", is_flag=True,
              help="timm: write a Hugging Face timm repository folder (model.safetensors and config.json with the "
                   "architecture, classes, input size and normalisation), which timm.create_model('hf-hub:...') "
                   "or 'local-dir:FOLDER' loads.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def export(source: str, fmt: str, out: Path | None, quantize: str | None, calibration: Path | None,
           calibration_images: int, input_size: int | None, num_classes: int | None, weights: str | None,
           dtype: str | None, hub: bool, force: bool) -> None:
    """Export SOURCE, a trained .keras checkpoint or a spec (fresh weights, or --weights), and check it.

    The exported model is loaded back (.keras with plain Keras's safe_mode=True in a
    separate process where archspec cannot be imported, a SavedModel with TensorFlow, ONNX
    with onnxruntime when installed) and must reproduce the Keras model's outputs on random
    images within 1e-4. A .keras file holding a layer without a built-in Keras form loads only
    with archspec installed: the command names that layer and the formats that carry the
    model. Inputs are pixel values 0..255, which the model normalises itself (the spec's
    preprocess).

    With --format litert the .tflite file is run back in the LiteRT interpreter (ai-edge-litert,
    in a separate process without TensorFlow) before it is kept: float32 must give Keras's
    outputs within 1e-4; a quantized file is reported by how often its top-1 class is the
    float model's and its largest probability difference, on the calibration images (random
    ones without --calibration). int8 writes a fully integer model: int8 input and output, at the
    scales the file records (pixels 0..255 at scale 1, zero point -128), as the command prints.

    With --format timm or torchvision, the model must be one of that library's networks
    (by every tensor's name and shape, and by the function it computes): a zoo entry of
    that source, or any spec or checkpoint that is one. The file is read back into the
    model and must give its outputs exactly (float32). A changed classifier exports with
    its new size, and the command says which num_classes to pass.

    \b
    Examples:
      archspec export runs/cifar_resnet20/best.keras --format onnx
      archspec export resnet50 --format savedmodel --out serving/resnet50
      archspec export runs/resnet50_pets/best.keras --format litert --quantize int8 --calibration pets/val
      archspec export runs/resnet50_pets/best.keras --format timm --out pets.safetensors
      archspec export runs/resnet50_pets/best.keras --format timm --hub --out resnet50-pets/
      archspec export resnet50 --weights torchvision --format timm --dtype bfloat16
    """
    try:
        if fmt not in ("timm", "torchvision") and (dtype or hub):
            raise RunError(f"--{'dtype' if dtype else 'hub'} applies to --format timm or torchvision, not {fmt}")
        if fmt != "litert" and (quantize or calibration):
            raise RunError(f"--{'quantize' if quantize else 'calibration'} applies to --format litert, not {fmt}")
        overrides = None if source.endswith(".keras") else resized(source, input_size, num_classes)
        if weights:
            from ..keras.weights.sources import check_named_or_file

            check_named_or_file(weights)
        import_keras()  # before keras.export imports it, so its start-up notices are not printed
        from ..keras.export import portability, run, run_weights

        if fmt == "litert":
            click.echo(_litert(source, quantize or "none", out, overrides, calibration, calibration_images,
                               force=force, weights=weights).describe())
            return
        if fmt in ("timm", "torchvision"):
            labels = list(RunFolder(Path(source).parent).classes()) if source.endswith(".keras") else None
            exported = run_weights(source, fmt, out, overrides, force=force, weights=weights, dtype=dtype, hub=hub,
                                   labels=labels or None)
        else:
            path, difference = run(source, fmt, out, overrides, force=force, weights=weights)
    except RUN_ERRORS as error:
        raise fail(error) from error
    if fmt in ("timm", "torchvision"):
        classes = (f"; its classifier has {exported.num_classes} classes, so pass num_classes="
                   f"{exported.num_classes}" if exported.changed_head else "")
        click.echo(f"wrote {exported.path} ({fmt}'s {exported.model}, {exported.tensors} tensors in "
                   f"{exported.dtype}); read back, it gives the model's outputs "
                   f"{'exactly' if exported.difference == 0 else f'within {exported.difference:.1g}'}{classes}")
        click.echo(f"load it with: {exported.how_to_load()}")
        return
    check = ("not checked: onnxruntime is not installed" if difference is None
             else f"outputs match Keras within {difference:.1g}")
    click.echo(f"wrote {path} ({fmt}); {check}")
    note = portability(path) if fmt == "keras" else None
    if note:
        click.echo(note)


def _litert(source: str, quantize: str, out: Path | None, overrides: dict, calibration: Path | None, count: int,
            *, force: bool, weights: str | None) -> Any:
    """``keras.litert.run`` with the calibration images read as the model's evaluation view (the weights'
    recorded one where there is one); a folder without a readable image is refused before the model is built."""
    from ..keras import litert
    from ..train.inference import Transform, calibration_files, calibration_images

    files = calibration_files(calibration) if calibration is not None else None

    def read(model: Any, spec: Any) -> Any:
        from ..keras.export import example_shape
        from ..keras.weights.sources import record_for

        record = record_for(spec, weights) if spec is not None and weights else None
        transform = Transform.of(example_shape(model)[0], record.eval if record else None)
        return calibration_images(files, transform, model.input_shape[-1], count, bar_progress)

    return litert.run(source, quantize, out, overrides, calibration=read if files else None, force=force,
                      weights=weights)
