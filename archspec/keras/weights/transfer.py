"""A PyTorch checkpoint or safetensors file into a built model, every tensor accounted for, and back.

Each weighted layer names the tensors it needs (via its family's module names) with the shapes
PyTorch gives them; all are checked before anything is read, so a file of another architecture is
refused naming the first tensor or layer that does not fit and the model is left untouched. Then
one layer at a time is read, converted and set: conv kernels OIHW to HWIO (grouped ones alike,
PyTorch and Keras both keep groups contiguous along the outputs), dense kernels transposed, ECA's 1D
kernel OIK to KIO, a dense layer after a flattened feature map reordered from PyTorch's CHW to Keras's
HWC, a 1x1-conv classifier (timm's DPN and ResNetV2) squeezed, batch norm's weight, bias, running mean
and variance, layer norm's weight and bias. Each conversion comes with its inverse, so the same mapping
writes a model's weights as the family's state dict (``state_dict``). A file may differ from the model in
its head and its stem's input channels only (``adapt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from ..layers import (
    EvoNormB0,
    EvoNormS0,
    FilterResponseNorm,
    HaloAttention,
    LambdaAttention,
    RelativeSelfAttention,
    planned_layers,
)
from .adapt import Adapted, adapt_channels, first_conv, head_reason, is_head, stem_note
from .families import Family, family_of
from .tensors import open_tensors
from .torch_pickle import WeightsFileError

BN_TENSORS = ("weight", "bias", "running_mean", "running_var")  # gamma, beta, moving mean, moving variance
# The norms but batch norm: gamma and beta as weight and bias, then any weight of their nonlinearity or statistics,
# which the Keras layer names as timm does (FRN's TLU threshold tau, EvoNorm's v, EvoNorm-B0's running_var).
AFFINE_NORMS = (keras.layers.LayerNormalization, keras.layers.GroupNormalization, FilterResponseNorm, EvoNormB0,
                EvoNormS0)


Convert = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Need:
    """One tensor a layer needs: its name in the file, the shape PyTorch gives it, how to make it Keras's
    (``convert``) and Keras's back into it (``invert``)."""

    name: str
    shape: tuple[int, ...]
    convert: Convert
    accepts: Callable[[tuple[int, ...]], bool]
    invert: Convert


@dataclass(frozen=True)
class Loaded:
    """What a transfer filled: for ``build --weights`` to confirm."""

    path: Path
    family: str
    tensors: int
    layers: int
    unused_head: int  # classifier tensors a backbone left out
    wrapper: str = ""  # the checkpoint entry the weights came from ("state_dict", "model_ema"); "" for a bare one
    unused_ema: str = ""  # an entry of EMA weights the file also holds, left unused
    adapted: Adapted = Adapted()

    def describe(self) -> str:
        """Which weights of the file were used, where it holds more than one set, and what was adapted."""
        used = f" (its {self.wrapper!r} entry{', the EMA weights' if 'ema' in self.wrapper else ''})" \
            if self.wrapper else ""
        other = f"; it also holds EMA weights ({self.unused_ema!r}): --ema uses them" if self.unused_ema else ""
        changes = self.adapted.describe()
        return used + other + (f"; {changes}" if changes else "")


def load_source_weights(model: keras.Model, path: str | Path, *, fresh_classifier: bool = False,
                        ema: bool = False) -> Loaded:
    """Fill every weighted layer of ``model`` from a PyTorch or safetensors file, or refuse; head layers the
    file does not fit (another number of classes) keep their initial weights, as does the classifier with
    ``fresh_classifier`` (to fine-tune for other classes), and the first conv is adapted to the model's input
    channels (see ``adapt``); with ``ema``, a checkpoint's EMA weights."""
    with open_tensors(path, ema) as tensors:
        fit = check_fit(model, tensors.shapes, tensors.path, fresh_classifier=fresh_classifier)
        for layer, layer_needs in fit.needs.items():
            layer.set_weights([need.convert(tensors.read(fit.file_names[need.name])) for need in layer_needs])
        used = sum(len(n) for n in fit.needs.values())
        return Loaded(tensors.path, fit.family.label, used, len(fit.needs), len(fit.file_names) - used,
                      tensors.wrapper, tensors.unused_ema, fit.adapted)


def state_dict(model: keras.Model, family: Family) -> dict[str, np.ndarray]:
    """``model``'s weights as ``family``'s files hold them: each tensor under its name there, in PyTorch's
    layout, and beside each batch norm the ``num_batches_tracked`` counter torch keeps (0: Keras counts no
    batches, and torch reads the counter only for a norm without momentum, which these families have not)."""
    tensors: dict[str, np.ndarray] = {}
    for layer, layer_needs in _needs(model, family, Path(model.name)).items():
        for need, value in zip(layer_needs, layer.get_weights(), strict=True):
            tensors[need.name] = np.ascontiguousarray(need.invert(value))
        if isinstance(layer, keras.layers.BatchNormalization):
            tensors[layer_needs[0].name.rsplit(".", 1)[0] + ".num_batches_tracked"] = np.zeros((), np.int64)
    return tensors


@dataclass(frozen=True)
class Fit:
    """How a file's tensors fill a model: each weighted layer's needs, and the file's names by today's name."""

    family: Family
    needs: dict[keras.layers.Layer, list[Need]]
    file_names: dict[str, str]
    adapted: Adapted = Adapted()


def check_fit(model: keras.Model, shapes: dict[str, tuple[int, ...]], path: str | Path, *,
              fresh_classifier: bool = False) -> Fit:
    """Whether tensors of these names and shapes fill ``model`` (reading no data): exactly, but for head
    layers they do not fit, which are left out (and the classifier with ``fresh_classifier``), and the first
    conv's input channels. The fit, or a ``WeightsFileError`` about ``path`` naming the first tensor or layer
    of the backbone that does not fit."""
    path = Path(path)
    family = family_of(set(shapes))
    if family is None:
        raise WeightsFileError(f"{path}: its tensor names ({_sample(shapes)}) are of no family archspec maps "
                               f"(torchvision/timm ResNet, DenseNet, VGG, timm DPN, ResNetV2, RegNet)")
    needs = _needs(model, family, path, head_optional=True)
    file_names = {family.rename(name): name for name in shapes}
    head = [layer for layer in planned_layers(model) if layer.weights and is_head(layer)]
    fresh = [layer for layer in head if layer not in needs or (fresh_classifier and layer is model.layers[-1])
             or not all(need.name in file_names and need.accepts(shapes[file_names[need.name]])
                        for need in needs[layer])]
    for layer in fresh:
        needs.pop(layer, None)
    stem = first_conv(model)
    trained = shapes.get(file_names.get(needs[stem][0].name, ""), (0, 0))[1] if stem in needs else 0
    adapted = Adapted(tuple(layer.name for layer in fresh), _head_reason(fresh, family, file_names, shapes),
                      stem_note(stem, trained) if trained else "")
    fit = Fit(family, needs, file_names, adapted)
    _check(fit, shapes, path, headless=bool(fresh) or not head)
    return fit


def _head_reason(fresh: list[keras.layers.Layer], family: Family, file_names: dict[str, str],
                 shapes: dict[str, tuple[int, ...]]) -> str:
    """Why these head layers start fresh, from the file's classifier (the last of its head's weights)."""
    if not fresh:
        return ""
    kernels = [name for name in file_names if name.endswith(".weight") and
               any(name.startswith(module + ".") for module in family.head)]
    classes = shapes[file_names[kernels[-1]]][0] if kernels else None
    return head_reason(classes, fresh[-1].weights[0].shape[-1])


def _needs(model: keras.Model, family: Family, path: Path,
           head_optional: bool = False) -> dict[keras.layers.Layer, list[Need]]:
    """Each weighted layer's needs; with ``head_optional``, head layers the family has no module for are left
    out (a hidden layer the source's head lacks) rather than refused."""
    modules = family.modules(model)
    needs = {}
    stem = first_conv(model)
    for layer in planned_layers(model):
        if not layer.weights:
            continue
        if layer.name not in modules and head_optional and is_head(layer):
            continue
        if layer.name not in modules:
            raise WeightsFileError(f"{path}: the model's layer {layer.name!r} (shapes "
                                   f"{[tuple(w.shape) for w in layer.weights]}) has no counterpart in a "
                                   f"{family.label} file; the spec is of another family")
        needs[layer] = _layer_needs(layer, modules[layer.name], family, layer is stem)
    return needs


def _layer_needs(layer: keras.layers.Layer, module: str, family: Family, stem: bool = False) -> list[Need]:
    """The tensors ``layer`` takes from ``module``; the ``stem`` conv takes a kernel of any input channels."""
    shapes = [tuple(w.shape) for w in layer.weights]
    if isinstance(layer, keras.layers.BatchNormalization):
        return [_exact(f"{module}.{t}", shapes[0]) for t in BN_TENSORS]
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, cin, cout = shapes[0]
        kernel = Need(f"{module}.weight", (cout, cin, kh, kw),
                      lambda w: adapt_channels(w, cin, axis=1).transpose(2, 3, 1, 0),
                      lambda s: s == (cout, cin, kh, kw) or (stem and len(s) == 4 and (s[0], *s[2:]) == (cout, kh, kw)),
                      lambda w: w.transpose(3, 2, 0, 1))
        return [kernel, *_bias(layer, module, shapes)]
    if isinstance(layer, keras.layers.Conv1D):  # ECA's channel conv
        taps, cin, cout = shapes[0]
        return [_exact(f"{module}.weight", (cout, cin, taps), lambda w: w.transpose(2, 1, 0)),
                *_bias(layer, module, shapes)]
    if isinstance(layer, (RelativeSelfAttention, HaloAttention)):  # BoTNet's and HaloNet's position tables
        return [_exact(f"{module}.{w.name}", tuple(w.shape)) for w in layer.weights]
    if isinstance(layer, LambdaAttention):  # its position conv: a Conv3d (dim_qk, 1, r, r, 1) in timm
        r, _, _, dim_qk = shapes[0]
        return [_exact(f"{module}.weight", (dim_qk, 1, r, r, 1), lambda w: w[..., 0].transpose(2, 3, 1, 0),
                       lambda w: w.transpose(3, 2, 0, 1)[..., None]),
                _exact(f"{module}.bias", shapes[1])]
    if isinstance(layer, AFFINE_NORMS):
        torch_names = ("weight", "bias", *(w.name for w in layer.weights[2:]))
        return [_exact(f"{module}.{t}", shape) for t, shape in zip(torch_names, shapes)]
    if isinstance(layer, keras.layers.Dense):
        units_in, units = shapes[0]
        spatial = _flattened_map(layer)
        convert = _chw_to_hwc(spatial) if spatial else lambda w: w.reshape(units, units_in).T
        written = (units, units_in, 1, 1) if family.conv_classifier else (units, units_in)
        invert = _hwc_to_chw(spatial) if spatial else lambda w: w.T.reshape(written)
        kernel = Need(f"{module}.weight", written, convert,
                      lambda s: s in ((units, units_in), (units, units_in, 1, 1)), invert)
        return [kernel, *_bias(layer, module, shapes)]
    raise WeightsFileError(f"layer {layer.name!r} is a {type(layer).__name__}, whose weights no PyTorch file holds")


def _bias(layer: keras.layers.Layer, module: str, shapes: list[tuple[int, ...]]) -> list[Need]:
    return [_exact(f"{module}.bias", shapes[1])] if layer.use_bias else []


def _exact(name: str, shape: tuple[int, ...], convert: Convert | None = None, invert: Convert | None = None) -> Need:
    """A tensor of exactly ``shape``; its conversion is the identity, and its inverse the conversion itself,
    unless given (a transpose that is its own inverse needs no second)."""
    convert = convert or _same
    return Need(name, shape, convert, lambda s: s == shape, invert or convert)


def _same(w: np.ndarray) -> np.ndarray:
    return w


def _flattened_map(layer: keras.layers.Dense) -> tuple[int, int, int] | None:
    """(H, W, C) of the feature map a Flatten turned into this layer's input, if it had more than one position."""
    source = layer.input._keras_history.operation
    if not isinstance(source, keras.layers.Flatten):
        return None
    h, w, c = source.input.shape[1:]
    return (h, w, c) if h * w > 1 else None


def _chw_to_hwc(spatial: tuple[int, int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """PyTorch flattens feature maps channel first, Keras channel last: reorder the kernel's inputs."""
    h, w, c = spatial

    def convert(weight: np.ndarray) -> np.ndarray:
        units = weight.shape[0]
        return weight.reshape(units, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, units)

    return convert


def _hwc_to_chw(spatial: tuple[int, int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """``_chw_to_hwc``'s inverse: a Keras kernel back to PyTorch's (units, C*H*W)."""
    h, w, c = spatial

    def invert(kernel: np.ndarray) -> np.ndarray:
        units = kernel.shape[1]
        return kernel.reshape(h, w, c, units).transpose(3, 2, 0, 1).reshape(units, c * h * w)

    return invert


def _check(fit: Fit, shapes: dict[str, tuple[int, ...]], path: Path, headless: bool) -> None:
    """Refuse, naming the first misfit: a tensor missing or of another shape, or one no layer uses
    (a ``headless`` model, a backbone or one taking a fresh head, leaves the file's head unused)."""
    wanted = set()
    every = [need for layer_needs in fit.needs.values() for need in layer_needs]
    missing = [need.name for need in every if need.name not in fit.file_names]
    for layer, layer_needs in fit.needs.items():
        for need in layer_needs:
            wanted.add(need.name)
            if need.name not in fit.file_names:
                others = "no other" if len(missing) == 1 else f"{len(missing) - 1} other"
                what = (f"the file lacks it and {others} of the {len(every)} the model needs: it is incomplete"
                        if len(missing) <= max(2, len(every) // 20)
                        else f"the file lacks it: it holds another architecture's weights (a {fit.family.label} "
                             f"file, but not of this spec)")
                raise WeightsFileError(f"{path}: the model's layer {layer.name!r} needs tensor {need.name!r} of shape "
                                       f"{need.shape}; {what}")
            found = shapes[fit.file_names[need.name]]
            if not need.accepts(found):
                raise WeightsFileError(f"{path}: tensor {need.name!r} has shape {found}, the model's layer "
                                       f"{layer.name!r} needs {need.shape}")
    for name, original in fit.file_names.items():
        if name in wanted or (headless and any(name.startswith(h + ".") for h in fit.family.head)):
            continue
        raise WeightsFileError(f"{path}: tensor {original!r} (shape {shapes[original]}) fits no layer of the model: "
                               f"the file holds a larger or different network of the {fit.family.label} family")


def _sample(shapes: dict) -> str:
    names = list(shapes)
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
