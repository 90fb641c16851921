"""Shared test helpers: zoo parametrisation, figure comparison, runs on another Keras backend."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from site import getsitepackages as sitepackages

import numpy as np
import pytest
import yaml

from archspec.spec.zoo import zoo_paths

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published.yaml"

# Entries whose Keras build takes long on 2 cores (many layers or >60M weights to initialise).
HEAVY = {
    "cifar_preact_resnet1001",
    "cifar_resnet1202",
    "cifar_weighted_resnet1202",
    "keras_resnet152",
    "keras_resnet152v2",
    "preact_resnet152",
    "resnet152",
    "resnext101_32x8d",
    "resnext29_16x64d",
    "wide_resnet101_2",
    *(f"regnet{kind}_{size}" for kind in "xy" for size in ("080", "120", "160", "320")),
}
# The rest of the RegNet ladders: the same generator and blocks as regnetx_002 and regnety_002, which the quick
# set keeps; CI runs them all.
REPEATS = {f"regnet{kind}_{size}" for kind in "xy" for size in ("004", "006", "008", "016", "032", "040", "064")}


# Zoo entries written as another entry plus what differs (``extends:``, ``depths:``, ``every_stage:``): their layers
# and blocks are their bases', so the tests that build every entry build them only with -m zoo.
VARIANTS = frozenset(name for name, path in zoo_paths().items()
                     if re.search(r"^extends:", path.read_text(encoding="utf-8"), re.M))


def zoo_params(predicate=lambda name: True, slow=frozenset(), neutral=frozenset(), whole_zoo=frozenset()):
    """pytest params over zoo names, heavy and repeating ones (and ``slow``) marked slow, ``neutral`` ones
    marked backend_neutral, ``whole_zoo`` ones marked zoo (run only with ``-m zoo``, see conftest.py)."""
    def marks(name: str) -> list:
        return ([pytest.mark.slow] if name in HEAVY | REPEATS | set(slow) else []) + (
            [pytest.mark.backend_neutral] if name in neutral else []) + (
            [pytest.mark.zoo] if name in whole_zoo else [])

    return [pytest.param(name, marks=marks(name)) for name in zoo_paths() if predicate(name)]


# For each family, block type, attention or spatial kind, stem and archspec layer: the entry of fewest layers that
# has it (a build's cost grows with them). The tests that cannot afford the whole zoo run these.
REPRESENTATIVE = {
    "cifar_resnet20": "basic blocks, option A shortcuts (ChannelPad), the CIFAR stem",
    "resnet18": "the ImageNet stem (LowestPadding2D)", "resnet26t": "the deep t stem, ResNet-D's average-pool shortcut",
    "plain18": "plain blocks", "vgg11": "VGG's flatten head", "preact_resnet18": "pre-activation blocks",
    "resnext29_8x64d": "grouped convs (GroupedConv2D)", "seresnext26d_32x4d": "SE", "wrn_16_8": "wide blocks, dropout",
    "densenet_bc_100_k12": "dense blocks", "dpn68": "dual-path blocks (ChannelSlice)",
    "regnetx_002": "the RegNet generator", "regnety_002": "RegNet's SE", "cifar_highway_resnet56": "highway gates "
    "(HighwayMerge)", "cifar_resnet110_stochastic_depth": "drop path (DropPath)",
    "cifar_weighted_resnet110": "weighted merges (WeightedAdd)", "botnet26t_256": "RelativeSelfAttention",
    "halonet26t": "HaloAttention", "lambda_resnet26t": "LambdaAttention", "ecaresnet26t": "ECA (ChannelConv)",
    "skresnet18": "selective kernels (StridedDilatedConv2D, RadixSelect of radix 1)",
    "resnest50d": "split attention (RadixSelect of radix 2)", "res2net50_26w_4s": "Res2Net's hierarchical 3x3",
    "gcresnet50t": "global context (AttentionPool)", "cbam_resnet50": "CBAM (ChannelPool)",
    "resnetv2_50x1_bit": "group norm, weight-standardised convs (StandardizedConv2D), a zero-padded stem pool",
    "resnetv2_50d_frn": "filter response norm and TLU (FilterResponseNorm)", "resnetv2_50d_evos": "EvoNorm-S0 (EvoNormS0)",
    "resnetblur18": "blur-pool downsampling (BlurPool2D)", "resnetaa34d": "anti-aliasing 2x2 average pools",
}


def smallest_of_each_family() -> list[str]:
    """The zoo entry with the fewest parameters of each family, variants aside: every kind of block, quickly."""
    from archspec import list_zoo

    smallest: dict[str, tuple[int, str]] = {}
    for entry in (e for e in list_zoo() if e.name not in VARIANTS):
        smallest[entry.family] = min(smallest.get(entry.family, (entry.params, entry.name)),
                                     (entry.params, entry.name))
    return sorted(name for _, name in smallest.values())


def shared_reference() -> dict:
    if not SHARED_REFERENCE.exists():
        pytest.skip(f"{SHARED_REFERENCE} is not beside this checkout")
    return yaml.safe_load(SHARED_REFERENCE.read_text())


def fake_cifar(keras_home: Path, name: str = "cifar10", per_batch: int = 20, seed: int = 0) -> Path:
    """A small archive in the format of keras.datasets' CIFAR download, placed as a user copies it
    offline: ``keras_home/datasets/cifar-10-python.tar.gz``. Labels cycle through the classes."""
    import io
    import pickle
    import tarfile

    import numpy as np

    file, inner, parts, key, classes = {
        "cifar10": ("cifar-10-python.tar.gz", "cifar-10-batches-py",
                    [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels", 10),
        "cifar100": ("cifar-100-python.tar.gz", "cifar-100-python", ["train", "test"], b"fine_labels", 100),
    }[name]
    rng = np.random.default_rng(seed)
    tarball = keras_home / "datasets" / file
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "w:gz") as tar:
        for part in parts:
            count = per_batch * (5 if name == "cifar100" and part == "train" else 1)
            batch = {b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                     key: [i % classes for i in range(count)], b"batch_label": part.encode()}
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"{inner}/{part}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return tarball


def smallest_side(spec, sides) -> int:
    """The first of ``sides`` at which the spec plans, else its own size."""
    from archspec.graph.load import load_spec
    from archspec.spec.errors import SpecError

    for side in sides:
        try:
            load_spec(spec, overrides={"input_shape": (side, side, spec.input_shape[2])})
            return side
        except SpecError:
            continue
    return spec.input_shape[0]


def small_size(spec, size: int = 64) -> int | None:
    """``size`` where the spec's weights fit any input size and its network plans at it, else None (its own size):
    VGG's flattened classifier and BoTNet's position tables fix the size, HaloNet's blocks need a multiple of 8."""
    from archspec.graph.load import load_spec
    from archspec.graph.plan import plan
    from archspec.spec.errors import SpecError

    if spec.size_dependent_weights:
        return None
    try:
        plan(load_spec(spec, overrides={"input_shape": (size, size, spec.input_shape[2])}))
    except SpecError:
        return None
    return size



BACKENDS = ("tensorflow", "jax", "torch")


@functools.cache
def _site_without_tensorflow() -> Path:
    """A folder of links to every installed package but TensorFlow's: on ``sys.path`` in place of site-packages
    (``python -S``), a machine where TensorFlow is not installed, as torch, Keras and archspec see it (a
    ``sys.modules`` entry of None would leave the name there, where Keras takes TensorFlow for imported)."""
    folder = Path(tempfile.mkdtemp(prefix="site-without-tensorflow-"))
    for site in map(Path, sitepackages()):
        for entry in site.iterdir():
            if not entry.name.lower().startswith("tensorflow") and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


def numpy(tensor) -> np.ndarray:
    """A backend's tensor as numpy (torch's may require grad, which ``np.asarray`` refuses)."""
    import keras

    return keras.ops.convert_to_numpy(tensor)


def backend_params(*backends: str) -> list:
    """pytest params of ``backends`` (default: all three), each skipped where it is not installed."""
    return [pytest.param(b, marks=pytest.mark.skipif(importlib.util.find_spec(b) is None,
                                                     reason=f"Keras's {b} backend needs {b}, not installed here"))
            for b in backends or BACKENDS]


def run_on_backend(backend: str, code: str, *, args: Sequence[str] = (), without_tensorflow: bool = False,
                   cwd: Path | None = None, env: dict[str, str] | None = None,
                   timeout: float = 600) -> subprocess.CompletedProcess:
    """``code`` run with ``args`` by a fresh Python on Keras's ``backend`` (optionally with TensorFlow
    unimportable), the checkout importable (``tests.*`` too); fails the test with its output when it exits
    non-zero."""
    site = [str(_site_without_tensorflow())] if without_tensorflow else []
    path = os.pathsep.join(filter(None, [str(ROOT), *site, os.environ.get("PYTHONPATH")]))
    python = [sys.executable, "-S"] if without_tensorflow else [sys.executable]
    result = subprocess.run([*python, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                            timeout=timeout, cwd=cwd,
                            env={**os.environ, **(env or {}), "KERAS_BACKEND": backend, "PYTHONPATH": path})
    assert result.returncode == 0, f"on {backend}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result
