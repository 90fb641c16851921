"""`archspec paths SPEC --measure CHECKPOINT`: the gradient each path length carries (Veit et al. 2016, Fig. 6).

Veit et al. feed a batch forward through a trained ResNet-110, then in the backward pass choose k
of its n residual blocks at random and let the gradient through only their branches and only
the shortcuts of the other n - k: the gradient that reaches the input has then come down one
path of length k. A single path's gradient shrinks exponentially with k, while the number of
paths of length k is C(n, k), so their product, the total gradient carried by all paths of a
length, peaks at short paths: in their net, paths of 5 to 17 blocks (10 to 34 layers) carry
almost all of it, the net's "effective" depth.

Here the trained model is rebuilt with a ``GradientRoute`` pair before every residual add
(``build_graph(routed=True)``; outputs unchanged, weights copied by layer name), and every image
of a batch gets its own random path: batch norms run in inference mode, so images do not
interact and one backward pass measures a batch's worth of paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..graph.load import load_spec
from ..graph.paths import PathLengths, branch_layers, central_range, path_lengths
from ..graph.plan import plan
from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..spec.train_schema import TrainSpec
from ..train.data import open_data, pipelines
from ..utils.atomic import write_csv
from ..utils.figures import pyplot, save_figure

SAMPLES = 1024  # paths measured per length (Veit et al.: 1,000)
BATCH = 256
EFFECTIVE_SHARE = 0.9  # the effective lengths: the window carrying this share of the total gradient


@dataclass(frozen=True)
class PathGradients:
    spec: ModelSpec
    lengths: PathLengths
    single: tuple[float, ...]  # single[k]: mean norm of the input gradient through one path of length k
    samples: int

    @property
    def totals(self) -> tuple[float, ...]:
        """Gradient carried by all paths of each length: C(n, k) times one path's."""
        return tuple(count * g for count, g in zip(self.lengths.counts, self.single))

    @property
    def effective(self) -> tuple[int, int]:
        """Shortest and longest path length (in blocks) of the window that carries most of the gradient."""
        return central_range(self.totals, EFFECTIVE_SHARE)

    def rows(self) -> list[dict[str, Any]]:
        total, paths = sum(self.totals), self.lengths.total
        return [{"length": k, "paths": count, "path_share": count / paths, "path_gradient": g,
                 "total_gradient": count * g, "gradient_share": count * g / total}
                for k, (count, g) in enumerate(zip(self.lengths.counts, self.single))]

    def summary(self) -> str:
        lo, hi = self.effective
        layers = branch_layers(self.spec)
        depth = f" ({lo * layers} to {hi * layers} layers)" if layers else ""
        carried = sum(self.lengths.counts[lo:hi + 1]) / self.lengths.total
        longest = f"{self.single[-1]:.3g}" if self.single[-1] else "0 (below float32's range)"
        return (f"{self.spec.name}: {EFFECTIVE_SHARE:.0%} of the gradient comes down paths through {lo} to {hi} "
                f"of its {self.lengths.blocks} residual blocks{depth}, {100 * carried:.2g}% of all paths; the most "
                f"through {int(np.argmax(self.totals))} blocks. One path's gradient falls from {self.single[0]:.3g} "
                f"through shortcuts only to {longest} through every branch. Veit et al.'s ResNet-110 on CIFAR-10: "
                f"5 to 17 blocks (10 to 34 layers).")


def routed_model(spec: ModelSpec, trained: Any) -> Any:
    """``spec`` built with gradient routes before its residual adds, holding ``trained``'s weights."""
    from ..keras.builder import build_graph, copy_weights
    from ..spec.errors import SpecError

    graph = plan(spec)
    merges = sum(1 for node in graph.nodes if node.attrs.get("block"))
    if not spec.residual_blocks or merges != spec.residual_blocks:
        kinds = "no residual blocks" if not spec.residual_blocks else "highway merges"
        raise RunError(f"{spec.name} has {kinds}, so it does not unravel into paths: measuring gradient per "
                       f"path length needs basic or bottleneck stages merging by addition")
    model = build_graph(graph, spec.name, routed=True)
    try:
        copy_weights(trained, model)
    except SpecError as error:
        raise RunError(f"the checkpoint is not a trained {spec.name}: {error}") from error
    return model


def measure(source: str | ModelSpec, checkpoint: Path, *, data: str = "digits", samples: int = SAMPLES,
            seed: int = 0, log: Callable[[str], None] = print) -> PathGradients:
    """Mean input-gradient norm of ``samples`` random single paths of each length through the net
    in ``checkpoint`` (a ``.keras`` model of ``source``), on training images of ``data``."""
    import keras

    from ..keras.autodiff import input_gradient
    from ..keras.model_io import load_model

    trained = load_model(checkpoint, compile=False)
    # The gradient is measured at the normalised input, what the first layer sees: the routed model
    # leaves out the input normalisation, and the checkpoint's own normalises the images first.
    normalise = next((layer for layer in trained.layers if layer.name == "preprocess"), lambda x: x)
    spec = load_spec(load_spec(source), overrides={"input_shape": tuple(trained.inputs[0].shape[1:]),
                                                   "num_classes": int(trained.outputs[0].shape[-1]),
                                                   "preprocess": "none"})
    model = routed_model(spec, trained)
    images = open_data(data, validation_split=TrainSpec().validation_split, seed=seed,
                       synthetic_classes=spec.num_classes)
    if images.num_classes != spec.num_classes:
        raise RunError(f"{checkpoint} classifies {spec.num_classes} classes but data {data} has "
                       f"{images.num_classes}: measure on the data the checkpoint was trained on (--data)")
    t = TrainSpec(data=data, batch_size=min(BATCH, len(images.train)), seed=seed, augment="none", flip=False)
    batches = [(keras.ops.convert_to_numpy(normalise(x.numpy())), y.numpy())
               for x, y in _images(pipelines(images, spec, t)[0], samples)]
    loss = keras.losses.CategoricalCrossentropy(from_logits=spec.head.activation == "linear", reduction="sum")

    # the loss is a sum: each image's gradient is its own loss's
    gradient = input_gradient(lambda x, y, route: loss(y, model([x, route], training=False)))

    def norms(x: np.ndarray, y: np.ndarray, route: np.ndarray) -> np.ndarray:
        return np.linalg.norm(gradient(x, y, route).reshape(len(x), -1), axis=1)

    rng, n = np.random.default_rng(seed), spec.residual_blocks
    single = []
    for k in range(n + 1):  # every length on the same images: a few badly classified ones dominate any mean
        measured = [norms(x, y, (rng.random((len(x), n)).argsort(axis=1) < k).astype("float32"))
                    for x, y in batches]  # each image down its own path through k random branches
        single.append(float(np.concatenate(measured).mean()))
        if k % 10 == 0 or k == n:
            log(f"paths through {k} of {n} blocks: mean gradient {single[-1]:.3g}")
    return PathGradients(spec, path_lengths(spec), tuple(single), samples)


def _images(dataset: Any, samples: int) -> list[tuple[Any, Any]]:
    """The first ``samples`` (image, label) pairs of ``dataset`` (repeated as needed), as batches."""
    batches, held = [], 0
    for x, y in dataset.repeat():
        batches.append((x[:samples - held], y[:samples - held]))
        held += len(batches[-1][0])
        if held >= samples:
            break
    return batches


def write(result: PathGradients, out: Path) -> tuple[Path, Path]:
    """paths.csv and paths.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png = out / "paths.csv", out / "paths.png"
    write_csv(csv_path, result.rows())
    plot(result, png)
    return csv_path, png


def plot(result: PathGradients, path: Path) -> None:
    """Veit et al.'s Fig. 6: (a) paths per length, (b) one path's gradient, (c) all paths' gradient."""
    plt = pyplot()
    ks = list(range(result.lengths.blocks + 1))
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].bar(ks, result.lengths.counts, color="tab:gray")
    axes[0].set_title("(a) paths of each length")
    axes[1].semilogy(ks, result.single, "o-", markersize=3)
    axes[1].set_title("(b) gradient at the input, one path")
    totals = result.totals
    axes[2].bar(ks, [t / sum(totals) for t in totals], color="tab:blue")
    lo, hi = result.effective
    axes[2].axvspan(lo - 0.5, hi + 0.5, color="tab:orange", alpha=0.2,
                    label=f"{EFFECTIVE_SHARE:.0%} of the gradient: {lo} to {hi} blocks")
    axes[2].set_title("(c) share of the gradient, all paths of a length")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("path length (residual branches passed)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{result.spec.name}: {result.samples} sampled paths per length", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
