"""Which source tensors fill which layer, per family rather than per model, so a spec a user writes
in a family loads that family's files too.

Archspec names layers as keras.applications does (``conv3_block2_1_conv``: stage 3, block 2, the
block's first conv; ``_0_`` is the shortcut), so one rule per layer kind of a family turns a layer
name into the PyTorch module that holds its weights (``layer2.1.conv1`` in torchvision's ResNet).
The family is recognised from the file's tensor names; whether the model fits is then a matter of
names and shapes, which ``transfer`` checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import keras

from ..layers import planned_layers

Rule = tuple[str, Callable[[re.Match], str]]


@dataclass(frozen=True)
class Family:
    """A source family: how its files are recognised, how layers map to its modules, and its head."""

    label: str
    markers: tuple[str, ...]  # tensor names only this family's files hold (any one marks it)
    modules: Callable[[keras.Model], dict[str, str]]  # weighted layer name -> module prefix in the file
    head: tuple[str, ...]  # the classifier's modules (a backbone leaves their tensors unused)
    rename: Callable[[str], str] = field(default=lambda name: name)  # old tensor names to today's
    conv_classifier: bool = False  # the classifier is a 1x1 conv (its kernel written 4-D)


def _by_rules(rules: list[Rule | None]) -> Callable[[keras.Model], dict[str, str]]:
    """Layer name -> module by the first rule whose pattern matches the whole name (None: no rule)."""
    compiled = [(re.compile(rule[0]), rule[1]) for rule in rules if rule is not None]

    def modules(model: keras.Model) -> dict[str, str]:
        found = {}
        for layer in planned_layers(model):
            for pattern, make in compiled:
                match = pattern.fullmatch(layer.name)
                if layer.weights and match:
                    found[layer.name] = make(match)
                    break
        return found

    return modules


def _block(m: re.Match) -> str:
    """``convS_blockB`` as ``layer{S-1}.{B-1}`` (torchvision's stages count from 1 after the stem)."""
    return f"layer{int(m['stage']) - 1}.{int(m['block']) - 1}"


BLOCK = r"conv(?P<stage>\d+)_block(?P<block>\d+)"


def _resnet_modules(model: keras.Model) -> dict[str, str]:
    """torchvision's and timm's ResNet: ``conv1``/``bn1`` or timm's deep stem ``conv1.{0,1,3,4,6}`` +
    ``bn1``, ResNet-RS's conv in the pool's place ``maxpool.{0,1}``; ``layerS.B.conv{k}``/``bn{k}``; shortcuts
    ``downsample.{0,1}``, or ``{1,2}`` after timm's avg pool (ResNet-D, which numbers them so even where the
    stride-1 pool is an identity); attention under ``se``; the classifier ``fc``. The blocks of timm's
    ResNet variants name their 3x3 replacements: Res2Net ``convs.i``/``bns.i``, ResNeSt ``conv2.{conv,bn0,fc1,
    bn1,fc2}``, and SKNet ``conv{k}.paths.p.{conv,bn}``, ``conv{k}.attn.{fc_reduce,bn,fc_select}`` with its
    other convs as ``conv{k}.{conv,bn}``."""
    names = [layer.name for layer in planned_layers(model)]
    avg_down = any(re.fullmatch(BLOCK + r"_0_pool", name) for name in names)
    stem_convs = sum(bool(re.fullmatch(r"conv1_\d_conv", name)) for name in names)
    shift = 1 if avg_down else 0
    sk = any(name.endswith("_sk_attend") for name in names)

    def deep_stem(m: re.Match) -> str:
        k = int(m["k"])
        if m["kind"] == "bn" and k == stem_convs:
            return "bn1"
        return f"conv1.{3 * (k - 1) + (m['kind'] == 'bn')}"

    def branch_conv(m: re.Match) -> str:
        if sk:
            return f"{_block(m)}.conv{m['k']}.{m['kind']}"
        return f"{_block(m)}.{m['kind']}{m['k']}"

    splat = {"conv": "conv", "bn": "bn0", "fc1_conv": "fc1", "fc1_bn": "bn1", "fc2_conv": "fc2"}
    sk_attention = {"sk_reduce_conv": "fc_reduce", "sk_reduce_bn": "bn", "sk_select_conv": "fc_select"}
    return _by_rules([
        (r"conv1_conv", lambda m: "conv1"),
        (r"conv1_bn", lambda m: "bn1"),
        (r"conv1_(?P<k>\d)_(?P<kind>conv|bn)", deep_stem),
        (r"pool1_(?P<kind>conv|bn)", lambda m: f"maxpool.{int(m['kind'] == 'bn')}"),  # ResNet-RS's strided conv
        (BLOCK + r"_0_conv", lambda m: f"{_block(m)}.downsample.{0 + shift}"),
        (BLOCK + r"_0_bn", lambda m: f"{_block(m)}.downsample.{1 + shift}"),
        (BLOCK + r"_2_(?P<part>" + "|".join(splat) + ")",  # ResNeSt's split attention, where it has one
         lambda m: f"{_block(m)}.conv2.{splat[m['part']]}") if any(n.endswith("_2_attend") for n in names) else None,
        (BLOCK + r"_(?P<k>[1-3])_(?P<kind>conv|bn)", branch_conv),
        (BLOCK + r"_2_(?P<i>\d+)_(?P<kind>conv|bn)",  # Res2Net's split convs
         lambda m: f"{_block(m)}.{m['kind']}s.{int(m['i']) - 1}"),
        (BLOCK + r"_(?P<k>[12])_path(?P<p>\d)_(?P<kind>conv|bn)",  # SK's paths
         lambda m: f"{_block(m)}.conv{m['k']}.paths.{int(m['p']) - 1}.{m['kind']}"),
        (BLOCK + r"_(?P<k>[12])_(?P<part>" + "|".join(sk_attention) + ")",
         lambda m: f"{_block(m)}.conv{m['k']}.attn.{sk_attention[m['part']]}"),
        *_attention_rules(names, lambda m: f"{_block(m)}.se"),
        (r"predictions", lambda m: "fc"),
    ])(model)


def _attention_rules(names: list[str], module: Callable[[re.Match], str]) -> list[Rule]:
    """timm's attention modules (``create_attn``), each under the block's ``module``: SE ``fc1``/``fc2``, ESE
    ``fc``, ECA ``conv``, CBAM ``channel.fc1``/``fc2`` and ``spatial.conv.{conv,bn}``, global context
    ``conv_attn`` and ``mlp_scale`` (gc) or ``mlp_add`` (gca) ``.fc1``/``norm``/``fc2``."""
    mlp = "mlp_add" if any(name.endswith("_gc_add") for name in names) else "mlp_scale"
    parts = {"se_reduce_conv": "fc1", "se_expand_conv": "fc2", "ese_conv": "fc", "eca_conv": "conv",
             "cbam_fc1_conv": "channel.fc1", "cbam_fc2_conv": "channel.fc2", "cbam_spatial_conv": "spatial.conv.conv",
             "cbam_spatial_bn": "spatial.conv.bn", "gc_attn_conv": "conv_attn", "gc_fc1_conv": f"{mlp}.fc1",
             "gc_fc1_ln": f"{mlp}.norm", "gc_fc2_conv": f"{mlp}.fc2"}
    return [(BLOCK + r"_(?P<part>" + "|".join(parts) + ")", lambda m: f"{module(m)}.{parts[m['part']]}")]


_densenet_modules = _by_rules([
    (r"conv1_conv", lambda m: "features.conv0"),
    (r"conv1_bn", lambda m: "features.norm0"),
    (r"conv1_(?P<k>[1-3])_(?P<kind>conv|bn)",  # timm's deep stem
     lambda m: f"features.{'conv' if m['kind'] == 'conv' else 'norm'}{int(m['k']) - 1}"),
    (BLOCK + r"_0_bn", lambda m: f"{_dense_layer(m)}.norm1"),
    (BLOCK + r"_1_conv", lambda m: f"{_dense_layer(m)}.conv1"),
    (BLOCK + r"_1_bn", lambda m: f"{_dense_layer(m)}.norm2"),
    (BLOCK + r"_2_conv", lambda m: f"{_dense_layer(m)}.conv2"),
    (r"pool(?P<stage>\d+)_bn", lambda m: f"features.transition{int(m['stage']) - 1}.norm"),
    (r"pool(?P<stage>\d+)_conv", lambda m: f"features.transition{int(m['stage']) - 1}.conv"),
    (r"post_bn", lambda m: "features.norm5"),
    (r"predictions", lambda m: "classifier"),
])


def _dense_layer(m: re.Match) -> str:
    return f"features.denseblock{int(m['stage']) - 1}.denselayer{m['block']}"


OLD_DENSENET_NAME = re.compile(r"(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var)")


def _densenet_rename(name: str) -> str:
    """Checkpoints from before PyTorch 0.4 name ``norm1`` as ``norm.1``; torchvision renames them on load."""
    return OLD_DENSENET_NAME.sub(r"\1\2.\3", name)


def _vgg_modules(model: keras.Model) -> dict[str, str]:
    """torchvision's VGG numbers its modules in order: ``features.i`` counts every conv, BN, ReLU and
    max pool (padding is part of its convs), ``classifier.{0,3,6}`` are the Linear layers between
    ReLU and Dropout."""
    found, index, dense = {}, 0, 0
    for layer in planned_layers(model):
        if isinstance(layer, keras.layers.Dense):
            found[layer.name] = f"classifier.{3 * dense}"
            dense += 1
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization, keras.layers.Activation,
                                keras.layers.MaxPooling2D)) and not dense:
            if layer.weights:
                found[layer.name] = f"features.{index}"
            index += 1
    return found


def _dpn_modules(model: keras.Model) -> dict[str, str]:
    """timm's DPN: ``features.conv1_1`` stem, ``features.convS_B.{c1x1_a,c3x3_b,c1x1_c}`` (the b variants: the
    last conv as ``c1x1_c1`` and ``c1x1_c2``) with the projection ``c1x1_w_s1`` (stride 1) or ``c1x1_w_s2``,
    ``features.conv5_bn_ac`` and a 1x1-conv ``classifier``."""
    strides = {layer.name: layer.strides for layer in planned_layers(model) if isinstance(layer, keras.layers.Conv2D)}
    parts = {"1": "c1x1_a", "2": "c3x3_b", "3": "c1x1_c"}

    def unit(m: re.Match) -> str:
        block = f"features.conv{m['stage']}_{m['block']}"
        if m["k"] != "0":
            return f"{block}.{parts[m['k']]}.{m['kind']}"
        stride = strides.get(f"conv{m['stage']}_block{m['block']}_0_conv", (1, 1))[0]
        return f"{block}.c1x1_w_s{stride}.{m['kind']}"

    last = max((int(m[1]) for layer in planned_layers(model) if (m := re.match(r"conv(\d+)_block", layer.name))), default=5)
    return _by_rules([
        (r"conv1_(?P<kind>conv|bn)", lambda m: f"features.conv1_1.{m['kind']}"),
        (BLOCK + r"_(?P<k>[0-3])_(?P<kind>conv|bn)", unit),
        (BLOCK + r"_3_(?P<path>res|dense)_conv",  # the dpn*b blocks' last conv, one per path
         lambda m: f"features.conv{m['stage']}_{m['block']}.c1x1_c{1 if m['path'] == 'res' else 2}"),
        (r"post_bn", lambda m: f"features.conv{last}_bn_ac.bn"),
        (r"predictions", lambda m: "classifier"),
    ])(model)


def _preact_rules(block: Callable[[re.Match], str], downsample: str) -> list[Rule]:
    """The blocks of timm's pre-activation nets (ResNetV2, RegNetV), each under its ``block`` module: ``norm1`` before
    the block, ``conv{k}`` each followed by ``norm{k+1}``, the projection ``downsample``."""
    return [
        (BLOCK + r"_preact_bn", lambda m: f"{block(m)}.norm1"),
        (BLOCK + r"_0_conv", lambda m: f"{block(m)}.{downsample}"),
        (BLOCK + r"_(?P<k>[1-3])_conv", lambda m: f"{block(m)}.conv{m['k']}"),
        (BLOCK + r"_(?P<k>[1-2])_bn", lambda m: f"{block(m)}.norm{int(m['k']) + 1}"),
    ]


# timm's ResNetV2: ``stem.conv`` or the deep stem's ``stem.conv{k}``/``norm{k}``; ``stages.{S-2}.blocks.{B-1}``, the
# projection ``downsample.conv``; the final ``norm``; the classifier ``head.fc`` (a 1x1 conv).
_resnetv2_modules = _by_rules([
    (r"conv1_conv", lambda m: "stem.conv"),
    (r"conv1_(?P<k>[1-3])_(?P<kind>conv|bn)", lambda m: f"stem.{'conv' if m['kind'] == 'conv' else 'norm'}{m['k']}"),
    *_preact_rules(lambda m: f"stages.{int(m['stage']) - 2}.blocks.{int(m['block']) - 1}", "downsample.conv"),
    (r"post_bn", lambda m: "norm"),
    (r"predictions", lambda m: "head.fc"),
])


def _regnetv_modules(model: keras.Model) -> dict[str, str]:
    """timm's RegNetV (pre-activation RegNetY): the stem conv ``stem``; ``sS.bB`` (stages from 1 after the stem,
    blocks from 1) with SE as ``se`` and the projection ``downsample``, or ``downsample.1`` after an average pool; no
    final norm; the classifier ``head.fc``."""
    names = [layer.name for layer in planned_layers(model)]
    avg_down = any(re.fullmatch(BLOCK + r"_0_pool", name) for name in names)

    def block(m: re.Match) -> str:
        return f"s{int(m['stage']) - 1}.b{m['block']}"

    return _by_rules([
        (r"conv1_conv", lambda m: "stem"),
        *_preact_rules(block, "downsample.1" if avg_down else "downsample"),
        *_attention_rules(names, lambda m: f"{block(m)}.se"),
        (r"predictions", lambda m: "head.fc"),
    ])(model)


def _regnet_family(block: Callable[[re.Match], str], unit: Callable[[str, str], str], attention: str,
                   head: str) -> Callable[[keras.Model], dict[str, str]]:
    """timm's and torchvision's RegNets hold the same layers under other names: ``block`` names a block's module,
    ``unit(part, kind)`` a conv or norm in it (part ``stem``, ``0`` the shortcut, ``1``-``3`` the branch, ``head``
    RegNetZ's conv before the pool), ``attention`` its SE module, ``head`` the classifier."""

    def modules(model: keras.Model) -> dict[str, str]:
        return _by_rules([
            (r"(?P<part>conv1|head)_(?P<kind>conv|bn)",
             lambda m: unit("stem" if m["part"] == "conv1" else "head", m["kind"])),
            (BLOCK + r"_(?P<k>[0-3])_(?P<kind>conv|bn)", lambda m: f"{block(m)}.{unit(m['k'], m['kind'])}"),
            *_attention_rules([layer.name for layer in planned_layers(model)], lambda m: f"{block(m)}.{attention}"),
            (r"predictions", lambda m: head),
        ])(model)

    return modules


# timm's RegNet: ``stem.{conv,bn}``; ``sS.bB`` (stages count from 1 after the stem, blocks from 1) holding
# ``downsample.{conv,bn}``, ``conv{k}.{conv,bn}`` and ``se``; RegNetZ's ``final_conv.{conv,bn}``; the classifier
# ``head.fc``.
_timm_regnet_modules = _regnet_family(
    lambda m: f"s{int(m['stage']) - 1}.b{m['block']}",
    lambda part, kind: {"stem": "stem", "0": "downsample", "head": "final_conv"}.get(part, f"conv{part}") + f".{kind}",
    "se", "head.fc")

# torchvision's RegNet: ``stem.{0,1}`` (conv, norm); ``trunk_output.blockS.blockS-B`` (stages from 1 after the
# stem, blocks from 0) holding ``proj.{0,1}``, ``f.{a,b,c}.{0,1}`` and ``f.se``; the classifier ``fc``.
_torchvision_regnet_modules = _regnet_family(
    lambda m: f"trunk_output.block{int(m['stage']) - 1}.block{int(m['stage']) - 1}-{int(m['block']) - 1}",
    lambda part, kind: ({"stem": "stem", "0": "proj", "head": "head"}.get(part) or f"f.{'abc'[int(part) - 1]}")
    + f".{int(kind == 'bn')}",
    "f.se", "fc")


def _byobnet_modules(model: keras.Model) -> dict[str, str]:
    """timm's ByobNet (gcresnet50t, botnet26t and kin): ``stem.conv{k}.{conv,bn}``; ``stages.{S-2}.{B-1}``
    holding ``conv1_1x1``, ``conv2_kxk``, ``conv3_1x1`` and ``shortcut`` (each ``.conv``/``.bn``), attention as
    ``attn`` after the 3x3 or ``attn_last`` at the end, and a self-attention block's ``self_attn`` (BoTNet
    ``qkv``, ``pos_embed``; HaloNet ``q``, ``kv``, ``pos_embed``; lambda ``qkv``, ``norm_q``, ``norm_v``,
    ``conv_lambda``) and ``post_attn`` in the 3x3's place; the classifier ``head.fc``."""
    names = [layer.name for layer in planned_layers(model)]
    parts = {"0": "shortcut", "1": "conv1_1x1", "2": "conv2_kxk", "3": "conv3_1x1"}
    attention = next((m for name in names if (m := re.fullmatch(BLOCK + r"_(se|ese|eca|cbam|gc)_.*", name))), None)
    after_3x3 = bool(attention) and names.index(attention[0]) < names.index(
        f"conv{attention['stage']}_block{attention['block']}_3_conv")  # attn, not attn_last

    def block(m: re.Match) -> str:
        return f"stages.{int(m['stage']) - 2}.{int(m['block']) - 1}"

    attending = {name.rsplit("_2_", 1)[0] for name in names
                 if name.endswith(("_2_attention", "_2_halo", "_2_lambda"))}  # self-attention blocks
    self_attention = {"qkv_conv": "qkv", "attention": "pos_embed", "q_conv": "q", "kv_conv": "kv",
                      "halo": "pos_embed", "q_bn": "norm_q", "v_bn": "norm_v", "lambda": "conv_lambda"}

    def second(m: re.Match) -> str:  # a self-attention block's BN after the attention is its post_attn
        if m["kind"] == "bn" and m[0].rsplit("_2_bn", 1)[0] in attending:
            return f"{block(m)}.post_attn"
        return f"{block(m)}.conv2_kxk.{m['kind']}"

    return _by_rules([
        (r"conv1_(?P<k>\d)_(?P<kind>conv|bn)", lambda m: f"stem.conv{m['k']}.{m['kind']}"),
        (BLOCK + r"_2_(?P<part>" + "|".join(self_attention) + ")",
         lambda m: f"{block(m)}.self_attn.{self_attention[m['part']]}"),
        (BLOCK + r"_2_(?P<kind>conv|bn)", second),
        (BLOCK + r"_(?P<k>[013])_(?P<kind>conv|bn)", lambda m: f"{block(m)}.{parts[m['k']]}.{m['kind']}"),
        *_attention_rules(names, lambda m: f"{block(m)}.{'attn' if after_3x3 else 'attn_last'}"),
        (r"predictions", lambda m: "head.fc"),
    ])(model)


FAMILIES = (
    Family("torchvision/timm DenseNet", ("features.denseblock1.denselayer1.conv1.weight",), _densenet_modules,
           ("classifier",), _densenet_rename),
    Family("timm DPN", ("features.conv1_1.conv.weight",), _dpn_modules, ("classifier",), conv_classifier=True),
    Family("timm ResNetV2 (pre-activation)", ("stages.0.blocks.0.conv1.weight",), _resnetv2_modules, ("head.fc",),
           conv_classifier=True),
    Family("torchvision VGG", ("features.0.weight",), _vgg_modules, ("classifier",)),
    Family("timm RegNet", ("s1.b1.conv1.conv.weight",), _timm_regnet_modules, ("head.fc",)),
    Family("timm RegNetV (pre-activation)", ("s1.b1.norm1.weight",), _regnetv_modules, ("head.fc",)),
    Family("torchvision RegNet", ("trunk_output.block1.block1-0.f.a.0.weight",), _torchvision_regnet_modules, ("fc",)),
    Family("timm ByobNet", ("stages.0.0.conv1_1x1.conv.weight",), _byobnet_modules, ("head.fc",)),
    Family("torchvision/timm ResNet (Res2Net, ResNeSt, SKNet)",
           ("layer1.0.conv1.weight", "layer1.0.conv1.conv.weight", "layer1.0.conv1.paths.0.conv.weight"),
           _resnet_modules, ("fc",)),
)


def family_of(names: set[str]) -> Family | None:
    """The family one of whose marker tensors the file holds (after that family's renames), if any."""
    for family in FAMILIES:
        renamed = {family.rename(name) for name in names}
        if any(marker in renamed for marker in family.markers):
            return family
    return None
