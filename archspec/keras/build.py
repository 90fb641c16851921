"""Specs and saved files into ``keras.Model`` objects: the entry points behind ``archspec.build_model``
and ``archspec.load_model``.

TensorFlow is imported when a model is built or loaded, not when this module is, so
``import archspec`` stays light.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..graph.complexity import graph_complexity
from ..graph.guards import MAX_ACTIVATION_MB, MAX_PARAMS, Limits, check_size
from ..graph.load import load_spec, resized
from ..graph.plan import plan
from ..spec.errors import PlanError, SpecError
from ..spec.schema import ModelSpec, Preprocess

if TYPE_CHECKING:
    import keras


SPEC = "spec"  # classifier_activation's default: the spec's head.activation


def build_model(spec: Any, *, input_size: int | Literal["any"] | None = None, num_classes: int | None = None,
                seed: int | None = None, max_params: int = MAX_PARAMS,
                max_activation_mb: float = MAX_ACTIVATION_MB, lesion: Iterable[int] = (),
                weights_from: keras.Model | None = None, weights: str | Path | None = None,
                features: bool = False, pooling: Literal["avg", "max"] | None = None, ema: bool = False,
                include_top: bool = True, input_tensor: Any = None, input_shape: tuple | None = None,
                classes: int | None = None, classifier_activation: str | None = SPEC,
                memory_efficient: bool = False) -> keras.Model:
    """Compile a spec (object, path, zoo name or dict) into a ``keras.Model``.

    ``input_size`` replaces the input's height and width ("any": images of any size); ``num_classes`` the
    classifier size, 0 for none (timm's headless model: the pooled features). A spec whose analytic size
    exceeds ``max_params`` or ``max_activation_mb`` (MiB of layer outputs per image) is refused with a
    SpecError before TensorFlow builds anything. ``seed`` makes the initial weights reproducible: it seeds
    Keras's global generators (Python, NumPy, TensorFlow) with ``keras.utils.set_random_seed`` just before
    building, so the same spec and seed give identical weights.

    ``lesion`` lists blocks (numbered from 1 over the plain and residual stages' blocks) to leave
    out: a residual block becomes its shortcut alone, a plain one the identity (Veit et al. 2016).
    ``weights_from`` copies every layer's weights from that model by layer name (a trained model
    of the same spec, so a lesioned copy shares its weights); a layer it lacks is an error.
    ``weights`` loads a weights file: a torchvision or timm ``.pth`` or ``.safetensors`` checkpoint
    (read without PyTorch, its tensors mapped to layers by the family's names), keras.applications' ``.h5``
    downloads, any Keras ``.h5`` or ``.keras`` model (by layer name); or a named source of the spec's
    ``source:`` record: ``"imagenet"`` (keras_* entries), ``"torchvision"``, ``"timm"``, ``"torchvision:TAG"``,
    ``"hf://timm/NAME"``, fetched into the Keras or Hugging Face cache on first use. A file is recognised by
    its content, not its name; a checkpoint wrapping its weights (``state_dict``, ``model``, DataParallel's
    ``module.``) loads as the bare state dict, and ``ema`` takes its EMA weights (``state_dict_ema``,
    ``model_ema``) instead. Every tensor of the backbone must fit, or nothing is loaded; head layers the file
    does not fit (a new task's classes) keep their initial weights, and the stem is adapted to an input of
    other channels (timm's rule), each said in one warning.

    ``features`` builds the backbone, without the head: its outputs are a dict of the last feature
    map at each resolution, keyed as keras-hub's ``pyramid_outputs`` ("P2": stride 4 ... "P5": stride
    32); with ``pooling`` ("avg" or "max") the last map pooled into one vector instead, as
    keras.applications' ``include_top=False, pooling=``. Weights load the same way; a file's head is
    then unused.

    keras.applications' arguments mean what they mean there: ``include_top=False`` is the backbone whose
    output is its last feature map (pooled with ``pooling``), ``input_shape`` (H, W, C; None sides for any
    size) and ``classes`` size the network, ``classifier_activation`` is the head's (None or "linear":
    logits), and ``input_tensor`` is the tensor the model is built on.

    ``memory_efficient`` makes every stage recompute its blocks in the backward pass (gradient checkpointing,
    timm's ``set_grad_checkpointing``): less training memory for more compute, the same function and layer names.
    """
    if classes is not None and num_classes is not None and classes != num_classes:
        raise SpecError(f"classes={classes} and num_classes={num_classes} both size the classifier; give one")
    num_classes = classes if classes is not None else num_classes
    backbone = not include_top or num_classes == 0
    last_map_only = not include_top and pooling is None
    pooling = "avg" if num_classes == 0 and pooling is None else pooling
    if pooling is not None and not (features or backbone):
        raise SpecError(f"pooling={pooling!r} pools a backbone's last feature map; pass features=True too")
    loaded = load_spec(spec)
    features = features or backbone
    changes = resized(loaded, input_size, num_classes or None, memory_efficient)
    changes.update(_applications_overrides(loaded, input_tensor, input_shape, classifier_activation))
    if features and loaded.head.pooling == "flatten":  # the head that needs a fixed size is not built
        changes["head"] = {**changes.get("head", loaded.head.model_dump()), "pooling": "avg"}
    loaded = load_spec(loaded, overrides=changes) if changes else loaded
    try:
        graph = plan(loaded, lesion, features=features, pooling=pooling)
    except PlanError as error:  # a lesion naming a block that does not exist or cannot be removed
        raise SpecError(f"{loaded.name}: {error}") from error
    check_size(loaded, graph_complexity(graph), Limits(max_params, max_activation_mb))

    import keras

    from .builder import build_graph, copy_weights
    from .weights.load import load_weights

    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build_graph(graph, loaded.name, input_tensor=input_tensor)
    if weights_from is not None:
        copy_weights(weights_from, model)
    if weights is not None:
        adapted = load_weights(model, loaded, weights, ema=ema).adapted.describe()
        if adapted:
            warnings.warn(f"{loaded.name}: {adapted}", stacklevel=2)
    if last_map_only:  # keras.applications' include_top=False without pooling: the last map alone
        model = keras.Model(model.inputs, list(model.output.values())[-1], name=model.name)
    return model


def _applications_overrides(spec: ModelSpec, input_tensor: Any, input_shape: tuple | None,
                            classifier_activation: str | None) -> dict[str, Any]:
    """keras.applications' ``input_shape``, ``input_tensor`` and ``classifier_activation`` as spec overrides."""
    overrides: dict[str, Any] = {}
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is not None:
        if len(input_shape) != 3:
            raise SpecError(f"input_shape {tuple(input_shape)}: give (height, width, channels)")
        overrides["input_shape"] = tuple(input_shape)
        channels = input_shape[2]
        if isinstance(spec.preprocess, Preprocess) and channels != spec.input_shape[2]:  # written for its own
            overrides["preprocess"] = spec.preprocess.for_channels(channels).model_dump()  # channels: the presets' rule
    if classifier_activation != SPEC:
        activation = "linear" if classifier_activation is None else classifier_activation
        if activation not in ("softmax", "sigmoid", "linear"):
            raise SpecError(f"classifier_activation={classifier_activation!r}: archspec's classifier takes "
                            f"softmax, sigmoid, or None / linear (logits)")
        overrides["head"] = {**spec.head.model_dump(), "activation": activation}
    return overrides


def load_model(path: str | Path, *, unsafe: bool = False, compile: bool = True) -> keras.Model:
    """A saved ``.keras`` model; files whose loading could run foreign code (a Lambda layer, a module
    that is neither Keras nor archspec) are refused unless ``unsafe=True`` (see ``archspec.keras.model_io``).
    """
    from .model_io import load_model as load

    return load(path, unsafe=unsafe, compile=compile)
