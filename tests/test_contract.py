"""The per-model contract that timm's, keras.applications' and keras-hub's test suites hold every model they ship
to, run over the zoo at small sizes: one base build per entry, shared by every check of that entry.

CI runs the entries that each bring a distinct code path (``REPRESENTATIVE``: each family, block type, attention
and spatial kind, stem; less ``COSTLY``); ``pytest -m zoo tests/test_contract.py`` runs the whole zoo (about an hour on 2 cores). A
check that cannot apply to an entry skips, saying why.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf

from archspec import build_model
from archspec.graph.load import load_spec
from archspec.graph.plan import plan
from archspec.keras.builder import copy_weights
from archspec.keras.layers import planned_layers
from archspec.keras.model_io import load_model, save_model
from archspec.spec.errors import SpecError
from archspec.spec.zoo import zoo_paths

from .helpers import REPRESENTATIVE, smallest_side

CHECKS = ["forward", "any_size", "pooling", "pyramid", "input_tensor", "channels", "round_trips", "gradients",
          "mixed_precision", "quantize", "new_head", "checkpointing"]


# Representative entries whose many layers or large inputs cost CI more than their code paths add here: their
# archspec layers are written and read back without archspec in CI (test_portable), and their blocks checkpointed
# (test_memory_efficient); -m zoo runs their contract.
COSTLY = {"halonet26t", "lambda_resnet26t", "resnest50d", "res2net50_26w_4s", "gcresnet50t", "cbam_resnet50",
          "ecaresnet26t", "cifar_highway_resnet56", "cifar_resnet110_stochastic_depth", "cifar_weighted_resnet110",
          "regnety_002"}


def _entries() -> list:
    """Every zoo entry, marked ``zoo``; CI's also ``representative`` (tests/conftest.py keeps those by default)."""
    ci = set(REPRESENTATIVE) - COSTLY
    return [pytest.param(name, marks=[pytest.mark.zoo, *([pytest.mark.representative] if name in ci else [])])
            for name in sorted(zoo_paths())]


@dataclass
class Entry:
    name: str
    spec: object  # the entry at its small size
    model: keras.Model
    x: np.ndarray  # two images at that size, 0..255
    saved: object = None  # its .keras file, written once for the checks that read one

    def outputs(self, model: keras.Model, x: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        return keras.ops.convert_to_numpy(model(self.x if x is None else x, training=training))


_BUILT: dict[str, Entry] = {}


def _small(name: str):
    """The entry at the smallest of its sizes that plans: 32 for CIFAR nets, else 64 or the next that does."""
    spec = load_spec(name)
    least = spec.input_shape[0] * (1 if name.startswith("cifar") else 0.25)
    side = smallest_side(spec, [s for s in (32, 64, 96, 128, 160, 192, 224, 256) if s >= least])
    return load_spec(spec, overrides={"input_shape": (side, side, spec.input_shape[2])})


def _entry(name: str) -> Entry:
    """The entry's base build, kept while its checks run (one entry at a time holds memory)."""
    if name not in _BUILT:
        _BUILT.clear()
        keras.backend.clear_session()
        spec = _small(name)
        side, channels = spec.input_shape[0], spec.input_shape[2]
        x = np.random.default_rng(0).uniform(0, 255, (2, side, side, channels)).astype("float32")
        _BUILT[name] = Entry(name, spec, build_model(spec, seed=0), x)
    return _BUILT[name]


def _close(a, b, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=atol)


def _finite_or_named(e: Entry, y: np.ndarray, dtype_note: str = "") -> None:
    """Finite outputs, or an overflow at the source's faithful initialisation that the remedy archspec names (a
    block's last norm at zero, where blocks end in a norm) removes."""
    if np.isfinite(y).all():
        return
    zeroed = load_spec(e.spec, overrides={"defaults": {**e.spec.defaults.model_dump(), "zero_init_last_norm": True}})
    remedied = build_model(zeroed, seed=0)
    if not np.isfinite(e.outputs(remedied)).all():
        pytest.skip(f"{e.name} overflows{dtype_note} at its faithful initialisation and its blocks end in no norm "
                    f"to zero: predict and evaluate name this and say to train it first")
    pytest.skip(f"{e.name} overflows{dtype_note} at its faithful initialisation; named by predict/evaluate, and "
                f"zero_init_last_norm: true (checked here) removes it")


def check_forward(e: Entry) -> None:
    y = e.outputs(e.model)
    assert y.shape == (2, e.spec.num_classes)
    _finite_or_named(e, y)
    _close(y.sum(axis=1), np.ones(2), atol=1e-4)


def check_any_size(e: Entry) -> None:
    """The same weights at any size: the default, an odd and a non-square size."""
    try:
        anywhere = build_model(e.spec, input_size="any", weights_from=e.model)
    except SpecError as error:
        assert "any size" in str(error) or "flatten" in str(error), error
        pytest.skip(f"{e.name} takes one size only: {error}")
    side = e.spec.input_shape[0]
    _close(e.outputs(anywhere), e.outputs(e.model))
    for h, w in ((side + 1, side + 1), (side, side + side // 2)):
        x = np.random.default_rng(1).uniform(0, 255, (1, h, w, e.spec.input_shape[2])).astype("float32")
        assert e.outputs(anywhere, x).shape == (1, e.spec.num_classes)


def check_pooling(e: Entry) -> None:
    """Headless avg and max pooling are the last feature map pooled (keras.applications' include_top=False)."""
    last = max(plan(e.spec, features=True).outputs.items(), key=lambda item: int(item[0][1:]))[1]
    feature_map = e.outputs(keras.Model(e.model.input, e.model.get_layer(last).output))
    for pooling, reduce in (("avg", np.mean), ("max", np.max)):
        pooled = build_model(e.spec, include_top=False, pooling=pooling, weights_from=e.model)
        _close(e.outputs(pooled), reduce(feature_map, axis=(1, 2)), atol=1e-4)


def check_pyramid(e: Entry) -> None:
    """Each pyramid output is the classifier's own layer of that name."""
    backbone = build_model(e.spec, features=True, weights_from=e.model)
    outputs = backbone(e.x)
    for key, name in plan(e.spec, features=True).outputs.items():
        probe = keras.Model(e.model.input, e.model.get_layer(name).output)
        _close(keras.ops.convert_to_numpy(outputs[key]), keras.ops.convert_to_numpy(probe(e.x)), atol=1e-4)


def check_input_tensor(e: Entry) -> None:
    tensor = keras.Input(shape=e.spec.input_shape, name="images")
    model = build_model(e.spec, input_tensor=tensor, weights_from=e.model)
    assert model.inputs[0] is tensor
    _close(e.outputs(model), e.outputs(e.model))


def check_channels(e: Entry) -> None:
    side = e.spec.input_shape[0]
    for channels in (1, 4):
        model = build_model(e.spec, input_shape=(side, side, channels))
        x = np.random.default_rng(2).uniform(0, 255, (1, side, side, channels)).astype("float32")
        y = e.outputs(model, x)
        assert y.shape == (1, e.spec.num_classes)
        _finite_or_named(e, e.outputs(e.model))


def _saved(e: Entry, tmp_path_factory) -> object:
    if e.saved is None:
        e.saved = tmp_path_factory.mktemp("contract") / f"{e.name}.keras"
        save_model(e.model, e.saved)
    return e.saved


def check_round_trips(e: Entry, tmp_path_factory) -> None:
    clone = keras.Model.from_config(e.model.get_config())
    clone.set_weights(e.model.get_weights())
    _close(e.outputs(clone), e.outputs(e.model), atol=1e-6)
    # the file holds each layer's built-in form; two sum in another order (a grouped conv of wide groups, CBAM's
    # channel mean, 4e-7 alone), which a fresh deep net amplifies to 1e-5 on its probabilities (cbam_resnet50 at 64)
    _close(e.outputs(load_model(_saved(e, tmp_path_factory), compile=False)), e.outputs(e.model), atol=2e-5)


@contextlib.contextmanager
def _restored(model: keras.Model) -> Iterator[None]:
    """The model's weights as they were after a training-mode call (which updates its norms' statistics), so the
    checks that follow see the base model unchanged."""
    weights = model.get_weights()
    try:
        yield
    finally:
        model.set_weights(weights)


def check_gradients(e: Entry) -> None:
    """Every trainable weight gets a gradient (training mode, a loss on every class)."""
    weights = e.model.trainable_weights
    with _restored(e.model):
        with tf.GradientTape() as tape:
            y = e.model(e.x, training=True)
            loss = tf.reduce_sum(y * tf.range(1, y.shape[-1] + 1, dtype=y.dtype))
        missing = [w.path for w, g in zip(weights, tape.gradient(loss, weights)) if g is None]
    assert not missing, f"no gradient reaches {missing[:5]}"


def check_mixed_precision(e: Entry) -> None:
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(e.spec, weights_from=e.model)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert all(w.dtype == "float32" for w in model.weights if w.dtype.startswith("float"))
    assert any(layer.compute_dtype == "float16" for layer in planned_layers(model))
    y = e.outputs(model)
    assert y.dtype == np.float32  # the classifier's softmax in float32, as Keras's mixed precision guide says
    _finite_or_named(e, y, " under mixed_float16")


def check_quantize(e: Entry) -> None:
    model = build_model(e.spec, weights_from=e.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras names every layer it leaves in float
        model.quantize("int8")
    y = e.outputs(model)
    assert y.shape == (2, e.spec.num_classes)
    if np.isfinite(e.outputs(e.model)).all():
        assert np.isfinite(y).all()


def check_new_head(e: Entry, tmp_path_factory) -> None:
    """A saved model's weights under a new 3-class head: every backbone weight loads, the head starts fresh."""
    with pytest.warns(UserWarning, match="left at initialisation"):
        tuned = build_model(e.spec, weights=_saved(e, tmp_path_factory), num_classes=3)
    mine = {layer.name: layer for layer in planned_layers(e.model)}
    for layer in planned_layers(tuned)[:-1]:
        for a, b in zip(layer.get_weights(), mine[layer.name].get_weights()):
            np.testing.assert_array_equal(a, b)
    assert tuned.output_shape == (None, 3)


def check_checkpointing(e: Entry) -> None:
    """Every stage recomputing its blocks: the same outputs, in inference and in training mode."""
    efficient = build_model(e.spec, memory_efficient=True)
    copy_weights(e.model, efficient)
    _close(e.outputs(efficient), e.outputs(e.model), atol=1e-5)
    if not any(getattr(layer, "rate", 0) for layer in planned_layers(e.model)):  # dropout draws differ
        with _restored(e.model):
            _close(e.outputs(efficient, training=True), e.outputs(e.model, training=True), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", _entries())
def test_contract(name, check, tmp_path_factory):
    function = globals()[f"check_{check}"]
    args = (tmp_path_factory,) if function.__code__.co_argcount > 1 else ()
    function(_entry(name), *args)
