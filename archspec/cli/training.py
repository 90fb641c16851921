"""`archspec train` and `archspec bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..graph.load import load_spec, load_training
from ..spec.errors import RunError, SpecError
from ..spec.recipes import recipe_names, recipe_path
from ..train.cluster import CLUSTER_TIMEOUT, multiworker_cluster
from .common import (
    RUN_ERRORS,
    Failure,
    bar_progress,
    data_option,
    fail,
    input_size_option,
    needs_tensorflow,
    num_classes_option,
    resized,
    skip_broken_option,
    warn,
)


@click.command()
@click.argument("spec")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="A YAML file of train: fields (epochs: 30, lr: 0.05, ...), over the spec's train: section.")
@click.option("--recipe", metavar="NAME",
              help=f"A named recipe of train: fields, over the spec's train: section and under --config and "
                   f"the flags: {', '.join(recipe_names())} (each file names its source).")
@data_option
@click.option("--epochs", type=click.IntRange(min=1),
              help="Passes over the training split (default 30); more than the run in --out has extends it.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Global batch, all replicas together (default 128).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="Initial learning rate (default 0.1; with --init-from a tenth of the recipe's).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1),
              help="Seeds weights, split, shuffling, augmentation, dropout (default 0).")
@input_size_option
@num_classes_option
@click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16"]),
              help="Compute in 16 bits, keep weights and the classifier in float32 (float16: GPUs).")
@click.option("--jit/--no-jit", default=None, help="Compile training steps with XLA [default: on with a GPU].")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default="default",
              show_default=True, help="mirrored: all GPUs (or logical CPUs) of this machine; multiworker: the "
                                      "cluster in TF_CONFIG, --out on storage all workers share. TensorFlow: "
                                      "tf.distribute; JAX: keras.distribution.DataParallel (multiworker through "
                                      "jax.distributed, worker 0 or the chief coordinating; --batch-size a multiple "
                                      "of the devices); torch: default only.")
@click.option("--cluster-timeout", type=click.FloatRange(min=1), default=CLUSTER_TIMEOUT, show_default=True,
              help="multiworker: seconds to wait for every worker at start-up before stopping with an error.")
@click.option("--deterministic", is_flag=True,
              help="Identical results on a rerun on the same machine, resumed or not (slower). TensorFlow: op "
                   "determinism; JAX: XLA's deterministic GPU ops (its CPU ops are already); torch: deterministic "
                   "algorithms, no cuDNN autotuning.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder [default: runs/NAME].")
@click.option("--overwrite", is_flag=True, help="Discard the run already in --out and start again.")
@click.option("--weights", metavar="FILE|TAG",
              help="Fine-tune: start from these weights, as build --weights takes them (a .keras or .h5 file by layer "
                   "name, a PyTorch .pth or .safetensors file of a family archspec maps, or a published tag such as "
                   "torchvision:IMAGENET1K_V2); a classifier that does not fit --num-classes starts fresh, said in "
                   "one line. Without --lr at a tenth of the recipe's lr.")
@click.option("--init-from", type=click.Path(dir_okay=False, path_type=Path),
              help="As --weights, but the classifier always starts fresh (transfer learning to new classes).")
@click.option("--ema", is_flag=True, help="With --weights or --init-from: start from the checkpoint's EMA weights "
                                          "(timm's state_dict_ema or model_ema).")
@click.option("--freeze", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --weights or --init-from: keep the stem and stages 1..N fixed (0: train everything).")
@skip_broken_option
@click.option("--memory-efficient", is_flag=True,
              help="Gradient checkpointing: every stage recomputes its blocks in the backward pass instead of storing "
                   "what is inside them (the spec field memory_efficient), for 0.25-0.6 of the memory and 15-45% more "
                   "time per step (benchmarks/RESULTS.md); the same results and weights.")
def train(spec: str, config: Path | None, recipe: str | None, data: str | None, epochs: int | None,
          batch_size: int | None,
          lr: float | None, seed: int | None, input_size: int | None, num_classes: int | None,
          mixed_precision: str | None, jit: bool | None, strategy: str, cluster_timeout: float, deterministic: bool,
          out: Path | None,
          overwrite: bool, weights: str | None, init_from: Path | None, ema: bool, freeze: int,
          skip_broken: bool, memory_efficient: bool) -> None:
    """Train SPEC (a YAML file or zoo name) on a data set; rerun to resume.

    The recipe is the spec's train: section, a named --recipe, a --config file, then these flags; every
    field left out is He et al. 2015's CIFAR recipe (SGD momentum 0.9, lr 0.1 divided
    by 10 at 50% and 75% of the epochs, weight decay 1e-4, batch 128, pad-and-crop and
    flips). After each epoch the run folder gets last.keras, best.keras (highest
    validation accuracy), history.csv, curves.png and tensorboard/ logs; metrics.json at the end.
    Each epoch prints as `Epoch 3/30` with a progress bar on a terminal, as one line when piped.
    A folder's images are all checked before the first step: a file that is no image or is
    truncated stops the run before it starts (or, with --skip-broken, is left out).
    After an interruption, the same command continues from the last finished epoch as
    the same run; with a larger --epochs it extends a finished or interrupted run.

    \b
    Examples:
      archspec train cifar_resnet20 --input-size 8 --epochs 15
      archspec train cifar_resnet20 --input-size 8 --epochs 20     # extends that run by 5 epochs
      archspec train cifar_resnet56 --data cifar10 --recipe he2015_cifar --mixed-precision float16
      archspec train my_net.yaml --data folder:photos/ --num-classes 5 --mixed-precision float16
      archspec train resnet50 --weights torchvision:IMAGENET1K_V2 --data folder:photos/ --num-classes 5 \\
        --input-size 224   # fine-tunes at a tenth of the lr, with a fresh 5-class head
      archspec train my_net.yaml --data npz:few.npz --num-classes 3 --init-from my_net.keras --freeze 2 \\
        --out runs/few
      tensorboard --logdir runs/
      export TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'
      archspec train resnet50 --data folder:/shared/photos --num-classes 5 --strategy multiworker --out /shared/r50
    """
    flags = {"data": data, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    try:
        overrides = {**resized(spec, input_size, num_classes, memory_efficient),
                     "train": {k: v for k, v in flags.items() if v is not None}}
        configs = [recipe_path(recipe)] if recipe else []
        loaded = load_training(spec, configs + ([config] if config else []), overrides)
        from ..train.preflight import check_transfer, fine_tuning

        if weights and init_from:
            raise RunError("give --weights (the file's classifier kept where it fits) or --init-from (a fresh "
                           "classifier), not both")
        start = weights or init_from
        check_transfer(loaded, start, freeze, ema)
        from ..train.distribute import check_strategy

        check_strategy(strategy)  # torch: refused by name, whatever TF_CONFIG says
        if strategy == "multiworker":
            multiworker_cluster()  # a missing or malformed TF_CONFIG stops here, before TensorFlow starts
    except RUN_ERRORS as error:
        raise fail(error) from error
    if start and lr is None:
        loaded = fine_tuning(loaded)
        click.echo(f"fine-tuning from {start} at lr {loaded.train.lr:g}, a tenth of the recipe's (--lr sets "
                   f"another)")
    if strategy != "multiworker":  # a multi-worker strategy must start before TensorFlow's devices do
        needs_tensorflow("training")
    from ..train.trainer import RunOptions
    from ..train.trainer import train as run_training

    options = RunOptions(out=out or Path("runs") / loaded.name, mixed_precision=mixed_precision, jit=jit,
                         strategy=strategy, cluster_timeout=cluster_timeout, deterministic=deterministic,
                         overwrite=overwrite, log=click.echo, init_from=start, keep_classifier=bool(weights), ema=ema,
                         freeze=freeze,
                         warn=warn, skip_broken=skip_broken, progress=bar_progress)
    try:
        metrics = run_training(loaded, options)
    except RUN_ERRORS as error:
        raise fail(error) from error
    click.echo(f"{metrics['epochs']} epochs: validation accuracy {metrics['val_accuracy']:.4f} (best "
               f"{metrics['best_val_accuracy']:.4f}, epoch {metrics['best_epoch']}), {metrics['seconds']:.0f} s; "
               f"{options.out / 'metrics.json'}")


@click.command("bench")
@click.argument("spec")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed steps after one warm-up step (the median is reported).")
@input_size_option
@click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16"]), help="Keras mixed precision policy.")
@click.option("--jit", is_flag=True, help="Compile the steps with XLA.")
@click.option("--compare", type=click.Choice(["keras"]),
              help="Also measure the equivalent keras.applications model and print ratios.")
@click.option("--data", "source", metavar="SRC",
              help="Also time the input pipeline alone on this data source (any --data of train), beside a bare "
                   "tf.data decode of its files, to show whether data or model bounds training.")
@click.option("--images", type=click.IntRange(min=8), default=512, show_default=True,
              help="With --data: images to time the pipeline over.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per measured model.")
def bench_command(spec: str, batch_size: int, steps: int, input_size: int | None, mixed_precision: str | None,
                  jit: bool, compare: str | None, source: str | None, images: int, as_json: bool) -> None:
    """Build time, inference and training img/s and peak training memory of SPEC.

    Each model is measured in a fresh process on synthetic data. With --compare keras,
    the keras.applications model of the same network (ResNet-50/101/152, their V2 forms,
    DenseNet-121/169/201) is measured the same way and the ratios printed.

    With --data, the training pipeline (read, decode, augment, batch) runs with no
    model behind it, in this process, and its img/s is printed beside tf.data's bare decode
    of the same files and the model's training img/s.

    \b
    Examples:
      archspec bench keras_resnet50 --compare keras --batch-size 16
      archspec bench resnet50 --data folder:/data/imagenet --batch-size 64
    """
    from ..train.bench import KERAS_EQUIVALENT, Settings, bench

    try:
        name = load_spec(spec).name
    except SpecError as error:
        raise fail(error) from error
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
        raise fail(error) from error
    speed = _pipeline_speed(spec, source, batch_size, input_size, images) if source else None
    for r in results:
        if as_json:
            click.echo(json.dumps(vars(r)))
        else:
            click.echo(f"{r.model} on {r.device}, batch {r.batch_size}: build {r.build_s:.2f} s, inference "
                       f"{r.inference_img_s:.1f} img/s, training {r.train_img_s:.1f} img/s "
                       f"({r.train_step_s:.3f} s/step), peak memory {_megabytes(r.peak_memory_mb)}")
    if len(results) == 2 and not as_json:
        ours, theirs = results
        click.echo(f"ratios archspec / keras.applications: build {ours.build_s / theirs.build_s:.2f}, "
                   f"training step {ours.train_step_s / theirs.train_step_s:.2f}"
                   + (f", peak memory {ours.peak_memory_mb / theirs.peak_memory_mb:.2f}"
                      if ours.peak_memory_mb and theirs.peak_memory_mb else ""))
    if speed is not None:
        model_rate = results[0].train_img_s
        bare = (f"; tf.data's bare decode of what it decodes: {speed.bare_decode_img_s:.1f} img/s (ratio "
                f"{speed.ratio:.2f}; whole images: {speed.whole_decode_img_s:.1f} img/s)"
                if speed.bare_decode_img_s else "")
        bound = "the input pipeline" if model_rate and speed.pipeline_img_s < model_rate else "the model"
        click.echo(json.dumps({**vars(speed), "ratio": speed.ratio}) if as_json else
                   f"input pipeline of {speed.source}, batch {speed.batch_size} at "
                   f"{'x'.join(map(str, speed.input_shape))}: {speed.pipeline_img_s:.1f} img/s{bare}; the model "
                   f"trains at {model_rate:.1f} img/s, so {bound} bounds a run here")


def _megabytes(peak: float | None) -> str:
    import keras

    return (f"{peak:.0f} MB" if peak is not None
            else f"not counted (Keras's {keras.backend.backend()} backend keeps no allocator peak on this device)")


def _pipeline_speed(spec: str, source: str, batch_size: int, input_size: int | None, images: int) -> Any:
    """The training pipeline's speed on ``source`` at ``spec``'s input (resized as the benchmark is)."""
    needs_tensorflow("the pipeline benchmark")
    from ..train.data import check_fits, open_data
    from ..train.pipeline_bench import measure_pipeline

    try:
        loaded = load_training(spec, None, {**resized(spec, input_size, None),
                                            "train": {"data": source, "batch_size": batch_size}})
        data = open_data(source, validation_split=loaded.train.validation_split, seed=loaded.train.seed,
                         synthetic_classes=loaded.num_classes)
        fitted = loaded.model_copy(update={"num_classes": data.num_classes})  # the classifier does not matter here
        check_fits(data, fitted, batch_size)
        return measure_pipeline(data, fitted, images)
    except RUN_ERRORS as error:
        raise fail(error) from error
