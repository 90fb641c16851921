"""`archspec train`: fit a spec on a data source with its ``train:`` recipe, resumably.

Everything that can be wrong with the inputs (the data, its classes, the output folder,
the weights to start from) is found before the run folder is written: a failed start
leaves nothing. Each finished epoch is committed to the run folder
(``archspec.train.run_folder``): resume weights (with the optimizer's state), ``last.keras``
and, when validation accuracy improves, ``best.keras``, all written atomically, then
``state.json``. Running the same command again after an interruption continues from the
last committed epoch, as the same run: the learning rate is a function of the committed
history, and every random stream (the data's order and augmentation, dropout and
drop-path) a function of (seed, epoch, step), never of how long this process has run.
An epoch whose loss is NaN is never committed: the run stops and the last good
checkpoints stay.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import tensorflow as tf

from ..keras.build import build_model
from ..keras.devices import device_warnings
from ..keras.model_io import save_model
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..utils.atomic import copy_file
from .cluster import CLUSTER_TIMEOUT, Strategy, lost_worker, output_folder
from .data import Data, check_fits, open_data, pipelines, steps_per_epoch, validation_images
from .distribute import Placement, make_deterministic, placement
from .inference import overflow_error
from .preflight import check_transfer
from .run_folder import RunFolder, State
from .schedules import learning_rate
from .sources.check import Progress, checked_images, no_progress
from .sources.images import bad_image_error

Precision = Literal["float16", "bfloat16"]


@dataclass(frozen=True)
class RunOptions:
    """How to run, as opposed to what to train (the spec and its ``train:`` section)."""

    out: Path
    mixed_precision: Precision | None = None
    jit: bool | None = None  # None: Keras decides (XLA on GPUs, not on CPUs)
    strategy: Strategy = "default"
    cluster_timeout: float = CLUSTER_TIMEOUT  # multiworker: seconds to wait for every worker at start-up
    deterministic: bool = False
    overwrite: bool = False
    verbose: int | None = None  # Keras fit verbosity; None: a progress bar on a terminal, a line per epoch otherwise
    callbacks: tuple[Any, ...] = ()  # extra Keras callbacks, run after the run's own
    init_from: str | Path | None = None  # transfer learning: start from these weights (a file or a published tag)
    keep_classifier: bool = False  # with init_from: the file's classifier where it fits the classes (--weights)
    # (the CLI lowers the lr to a tenth of the recipe's for it, unless --lr is given: see preflight.fine_tuning)
    ema: bool = False  # with init_from: the checkpoint's EMA weights
    freeze: int = 0  # keep the stem and the first ``freeze`` stages' weights fixed
    log: Callable[[str], None] = print
    warn: Callable[[str], None] = lambda message: print(message, file=sys.stderr)  # something wrong, said once
    skip_broken: bool = False  # leave out a folder's image files that do not decode whole, instead of refusing it
    progress: Progress = no_progress  # shows long checks (every image of a folder) as they go


def train(spec: ModelSpec, options: RunOptions) -> dict[str, Any]:
    """Train ``spec`` into ``options.out`` (resuming a run of the same spec there) and return its metrics.

    A spec without a ``train:`` section trains with the paper's recipe (``TrainSpec()``).
    """
    t = spec.train or TrainSpec()
    spec = spec.model_copy(update={"train": t})  # run.json records the recipe in full
    data = open_data(t.data, validation_split=t.validation_split, seed=t.seed, synthetic_classes=spec.num_classes)
    data = checked_images(data, options.skip_broken, options.warn, options.progress)  # before the first step
    check_fits(data, spec, t.batch_size)
    check_transfer(spec, options.init_from, options.freeze, options.ema)
    config = {"spec": spec.model_dump(mode="json")}
    if options.init_from or options.freeze:  # a resumed run must start from the same weights and freeze
        config["transfer"] = {"init_from": str(options.init_from or ""), "freeze": options.freeze,
                              **({"keep_classifier": True} if options.keep_classifier else {})}
    if options.skip_broken:  # so that a resumed or repeated run knows it left a folder's broken images out
        config["skip_broken"] = True
    folder = RunFolder(options.out)
    status = folder.check(config, options.overwrite)
    if status == "finished":
        options.log(f"{options.out} already holds this run, finished: see {options.out / 'metrics.json'} "
                    f"(--overwrite trains it again, --epochs N extends it)")
        return folder.metrics()
    recorded_epochs = folder.recorded_epochs() if status == "extend" else None

    with _runtime(options, t) as where, output_folder(folder, where.chief) as written:
        state = folder.state() if status in ("resume", "extend") else State()
        with where.scope():
            model = build_model(spec)
            if options.init_from and not state.weights:
                _init_from(model, spec, options)
            _freeze(spec, model, options.freeze)
            model.compile(optimizer=_optimizer(t), loss=_loss(spec, t),
                          metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                          jit_compile="auto" if options.jit is None else options.jit)
            if state.weights:
                model.optimizer.build(model.trainable_variables)
                model.load_weights(folder.resume / state.weights)
        train_ds, val_ds = (where.shard(ds) for ds in pipelines(data, spec, t, state.epochs, where.even))
        # every check has passed: from here on the folder holds a started run (a worker's own is temporary)
        written.start(config, fresh=status == "new" or written is not folder)
        if data.classes:
            written.record_classes(data.classes)
        options.log(data.describe())
        for warning in device_warnings(where.device, options.mixed_precision):
            options.warn(warning)
        if validation_images(data, where.even) < len(data.val):
            options.log(f"validating on {validation_images(data, where.even)} of the {len(data.val)} images: every "
                        f"batch splits evenly over the {where.replicas} devices")
        if recorded_epochs is not None:
            options.log(f"extending {options.out} from {recorded_epochs} to {t.epochs} epochs after epoch "
                        f"{state.epochs}: the {t.schedule} schedule now runs over {t.epochs} epochs")
        elif state.weights:
            options.log(f"resuming {options.out} after epoch {state.epochs} of {t.epochs}")
        commit = _Commit(written, state)
        callbacks = [_LearningRate(t, state.history), _RandomStreams(model, t.seed), keras.callbacks.TerminateOnNaN(),
                     commit, keras.callbacks.TensorBoard(str(written.tensorboard)), _EpochProgress(),
                     *options.callbacks]
        verbose = options.verbose if options.verbose is not None else 1 if sys.stdout.isatty() else 2
        try:
            model.fit(train_ds, validation_data=val_ds, epochs=t.epochs, initial_epoch=state.epochs,
                      steps_per_epoch=steps_per_epoch(data, t), shuffle=False, callbacks=callbacks, verbose=verbose)
        except KeyboardInterrupt:
            options.log(f"interrupted: {state.epochs} of {t.epochs} epochs are saved in {options.out}; run the "
                        f"same command again to continue")
            raise
        except tf.errors.InvalidArgumentError as err:  # an image file that does not decode, met mid-epoch
            raise bad_image_error(data, spec.input_shape[2], err, state.epochs, options.out, options.log) from None
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                tf.errors.CancelledError) as err:  # a peer worker died: TensorFlow aborted the collectives
            raise lost_worker(err, state.epochs, options.out) from None
        if commit.overflowed:
            raise overflow_error(model, f"in epoch {commit.diverged}'s validation (training's loss was finite)")
        if commit.diverged:
            kept = (f"{folder.last} and {folder.best} hold epochs {state.epochs} and {state.best_epoch}"
                    if state.epochs else "no epoch had finished, so there is no checkpoint")
            raise RunError(f"the loss became NaN in epoch {commit.diverged}, so training stopped; {kept}. "
                           f"Lower the learning rate (--lr, now {t.lr}) or warm up (train.warmup_epochs)")
        metrics = _metrics(spec, data, state, options, where)
        written.finish(metrics)
        return metrics


def _init_from(model: keras.Model, spec: ModelSpec, options: RunOptions) -> None:
    """Every layer from ``options.init_from`` (a Keras checkpoint or weights file by layer name, a PyTorch or
    safetensors file by its family's map, or a published tag) but the classifier, left fresh for the new classes;
    with ``keep_classifier`` the file's classifier too where it fits. Says in one line what started fresh."""
    from ..keras.weights.load import load_weights

    fresh = not options.keep_classifier
    filled = load_weights(model, spec, options.init_from, fresh_classifier=fresh, ema=options.ema)
    kept = f" (all but the classifier {model.layers[-1].name!r})" if fresh else ""
    options.log(f"initialised from {options.init_from}{kept}{filled.describe() if filled else ''}")


def _freeze(spec: ModelSpec, model: keras.Model, freeze: int) -> None:
    """Stem and stages 1..``freeze`` untrainable (their batch norms then run in inference mode)."""
    if not freeze:
        return
    from ..graph.plan import plan

    frozen = {"stem", *(f"stage{i + 1}" for i in range(freeze))}
    scope = {n.name: n.scope for n in plan(spec).nodes}
    scope.update({n.recompute: n.scope for n in plan(spec).nodes if n.recompute})
    for layer in model.layers:
        if scope.get(layer.name) in frozen:
            layer.trainable = False


@contextlib.contextmanager
def _runtime(options: RunOptions, t: TrainSpec) -> Iterator[Placement]:
    """Determinism (process-wide, for good, and first: JAX reads it when it starts), the devices,
    seeds and the mixed-precision policy (restored after)."""
    if options.deterministic:
        make_deterministic()
    with placement(options.strategy, t.batch_size, options.cluster_timeout) as where:
        keras.utils.set_random_seed(t.seed)
        previous = keras.mixed_precision.global_policy()
        if options.mixed_precision:
            keras.mixed_precision.set_global_policy(f"mixed_{options.mixed_precision}")
        try:
            yield where
        finally:
            keras.mixed_precision.set_global_policy(previous)


def _optimizer(t: TrainSpec) -> Any:
    return keras.optimizers.SGD(learning_rate=t.lr, momentum=t.momentum, nesterov=t.nesterov,
                                weight_decay=t.weight_decay or None)


def _loss(spec: ModelSpec, t: TrainSpec) -> Any:
    """Cross-entropy matching the head: softmax probabilities, sigmoid (one-vs-rest) or logits."""
    if spec.head.activation == "sigmoid":
        return keras.losses.BinaryCrossentropy(label_smoothing=t.label_smoothing)
    return keras.losses.CategoricalCrossentropy(from_logits=spec.head.activation == "linear",
                                                label_smoothing=t.label_smoothing)


def _metrics(spec: ModelSpec, data: Data, state: State, options: RunOptions, where: Placement) -> dict[str, Any]:
    """The last epoch's figures, the best epoch, time and speed (training images per second of a
    median epoch, validation included), and where it ran."""
    last = state.history[-1]
    seconds = [row["seconds"] for row in state.history]
    return {
        "name": spec.name, "data": data.source, "train_images": len(data.train),
        "val_images": validation_images(data, where.even),
        "epochs": state.epochs, **{k: v for k, v in last.items() if k not in ("epoch", "seconds")},
        "best_epoch": state.best_epoch, "best_val_accuracy": state.best_val_accuracy,
        "seconds": round(sum(seconds), 2),
        "images_per_second": round(len(data.train) / statistics.median(seconds), 1),
        "device": where.device, "replicas": where.replicas, "mixed_precision": options.mixed_precision,
        "jit": options.jit,
    }


class _LearningRate(keras.callbacks.Callback):
    """Sets each epoch's rate from the schedule and the committed history, and logs it."""

    def __init__(self, t: TrainSpec, history: list[dict[str, float]]) -> None:
        super().__init__()
        self.t, self.history = t, history
        self.rate = t.lr

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.rate = learning_rate(self.t, epoch, [row["val_loss"] for row in self.history])
        self.model.optimizer.learning_rate = self.rate

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = self.rate


class _EpochProgress(keras.callbacks.ProgbarLogger):
    """Keras's progress bar (verbose 1, on a terminal) or its one line per epoch (verbose 2), with every epoch
    numbered, ``Epoch 3/30``: Keras numbers the epochs of longer runs only, and on a line of their own."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs}", end="\n" if self.verbose == 1 else " - ", flush=True)


class _RandomStreams(keras.callbacks.Callback):
    """Restarts every seed generator of the model (dropout, drop-path) at each epoch from a key
    of (seed, generator, epoch); within the epoch it advances once per draw, i.e. per step."""

    def __init__(self, model: keras.Model, seed: int) -> None:
        super().__init__()
        self.states = [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        fold_in = tf.random.experimental.stateless_fold_in
        for index, state in enumerate(self.states):
            key = fold_in(fold_in(tf.constant([self.seed, 1], tf.int64), index), epoch)
            state.assign(tf.cast(key, state.dtype))


class _Commit(keras.callbacks.Callback):
    """Commits each finished epoch to the run folder; remembers (and skips) a NaN one."""

    def __init__(self, folder: RunFolder, state: State) -> None:
        super().__init__()
        self.folder, self.state = folder, state
        self.diverged: int | None = None
        self.overflowed = False  # the training loss was finite, the validation in inference mode was not
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if not all(math.isfinite(float(v)) for v in logs.values()):
            self.diverged, self.overflowed = epoch + 1, math.isfinite(float(logs.get("loss", "nan")))
            self.model.stop_training = True
            return
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()},
               "seconds": round(time.perf_counter() - self._start, 3)}
        state = self.state
        state.epochs, state.weights = epoch + 1, self.folder.resume_weights(epoch + 1).name
        state.history.append(row)
        improved = state.best_val_accuracy is None or row["val_accuracy"] > state.best_val_accuracy
        if improved:
            state.best_epoch, state.best_val_accuracy = epoch + 1, row["val_accuracy"]
        self.model.save_weights(self.folder.resume / state.weights)
        save_model(self.model, self.folder.last)
        if improved:  # the same model: a copy of the file, not a second conversion to its portable form
            copy_file(self.folder.last, self.folder.best)
        self.folder.commit(state)
