"""Reference data from the real PyTorch code, for the tests that run without it. Developers run it,
CI does not: it needs torch, torchvision, timm and safetensors, and scikit-learn for its sample photos (a
separate venv: `pip install torch torchvision timm safetensors scikit-learn`).

    python scripts/torch_reference.py fixtures [--out tests/fixtures/weights]
        For each family a narrow network built by torchvision's or timm's own classes, with seeded
        random weights (batch-norm statistics included), saved in the real file formats, its archspec
        spec, and its class probabilities on fixed images.
    python scripts/torch_reference.py registry [OUT, default archspec/zoo/source_tensors.json.gz]
        Every sourced zoo entry's state-dict tensor names and shapes, from the library's own model: the
        registry `archspec export --format timm|torchvision` checks its files against (package data).
    python scripts/torch_reference.py census [OUT, default archspec/zoo/registry_census.json.gz]
        Every residual-family architecture in timm's and torchvision's registries (timm's modules in
        CENSUS_MODULES, torchvision's in CENSUS_TORCHVISION, and the other networks zoo entries name as their
        source): its module, parameter count, published weight
        tags and state-dict tensor names and shapes, built on PyTorch's meta device (no memory, no time).
        `archspec identify` and the coverage page read it (package data).
    python scripts/torch_reference.py full NAME OUT_DIR
        A full-size zoo entry's source model with seeded weights as OUT_DIR/NAME.pth, fixed images (of the
        size its weights were trained at) and its probabilities (tests/test_weights_parity_full.py calls it through ARCHSPEC_TORCH_PYTHON).
    python scripts/torch_reference.py exported LIBRARY MODEL WEIGHTS NUM_CLASSES IMAGES.npz OUT.npz
        A file `archspec export --format timm|torchvision` wrote, loaded into the library's own model with
        strict=True (LIBRARY "hub": a timm hub folder, through timm.create_model("local-dir:...")), and its
        probabilities on IMAGES.npz's images (0..255, NHWC) normalised by its mean and std (for a hub folder,
        by the folder's config.json as timm resolves it) (tests/test_export_torch.py).
    python scripts/torch_reference.py checkpoints [--out tests/fixtures/checkpoints]
        The densenet weight fixture saved as training scripts and wrappers save checkpoints: in a
        state_dict entry, with DataParallel's module. and torch.compile's _orig_mod. prefixes, beside EMA
        weights, as float16, and as a safetensors file named .pth.
    python scripts/torch_reference.py transforms [--out tests/fixtures/transforms]
        JPEGs of several shapes cut from scikit-learn's two sample photos, and what torchvision's and timm's
        own evaluation transforms make of them (tests/test_eval_transform.py).
    python scripts/torch_reference.py sources [results-imagenet.csv]
        The `source:` sections of the zoo's torchvision and timm entries, from their own metadata (a new entry
        whose spec names only its library and model gets every weight the library publishes for it); timm's
        top-1 at each weight's own input size from its results/results-imagenet.csv (github.com/huggingface/pytorch-image-models),
        when given.
"""

from __future__ import annotations

import argparse
import collections
import csv
import functools
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import timm
import torch
import torchvision
import yaml
from safetensors.torch import save_file

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
ZOO = Path(__file__).parents[1] / "archspec" / "zoo"

def zoo_sources() -> dict[str, tuple[str, str, list[str]]]:
    """Each zoo entry that is a torchvision or timm model: its library, model name and the weight tags its spec
    records, read from the spec files (a source is never inherited through extends, so each file has its own)."""
    found = {}
    for path in sorted(ZOO.glob("*/*.yaml")):
        source = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("source") or {}
        if source.get("library") in ("torchvision", "timm"):
            found[path.stem] = (source["library"], source["model"], [w["name"] for w in source.get("weights") or []])
    return found


SOURCES = zoo_sources()


def seeded(model: torch.nn.Module, seed: int, x: np.ndarray) -> torch.nn.Module:
    """Random weights (norm scales and shifts included), then batch-norm statistics measured on ``x`` as
    training would leave them: activations stay normalised, as in a trained net, so float32 rounding does
    not grow through deep SE nets (with random statistics, timm's own seresnet50 differs from itself in
    float64 by 2e-4). Eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or "running_" in name:
                continue
            if tensor.dim() == 1 and name.endswith("weight"):  # norm scales
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                fan_in = int(np.prod(tensor.shape[1:])) if tensor.dim() > 1 else 10
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (2 / fan_in) ** 0.5)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches seen: here the one batch x
    logits(model.train(), x)
    return model.eval()


def quiet_branches(model: torch.nn.Module, scale: float = 0.1) -> torch.nn.Module:
    """Scale the last norm of every residual branch (those timm's ``zero_init_last`` zeroes) by ``scale``, as
    training leaves branches small beside the identity: at the seeded scale the residual stream grows so fast
    that float32 rounding alone moves timm's own resnest50d by 8e-3 from its float64 outputs, hiding any real
    difference. torchvision's blocks have no such method and are left as they are; a block whose method zeroes
    nothing (timm's pre-activation RegNet) has its last conv, ``conv3``, scaled instead."""
    with torch.no_grad():
        for block in [m for m in model.modules() if hasattr(m, "zero_init_last")]:
            before = {name: p.clone() for name, p in block.named_parameters()}
            block.zero_init_last()
            zeroed = [name for name, p in block.named_parameters() if not torch.equal(p, before[name])]
            for name, p in block.named_parameters():
                if name in zeroed:
                    p.copy_(before[name] * scale)
            if not zeroed and hasattr(block, "conv3"):
                block.conv3.weight.mul_(scale)
    return model


def calibrated(model: torch.nn.Module, x: np.ndarray, mean=MEAN, std=STD) -> torch.nn.Module:
    """Scale the classifier so the logits on ``x`` have a standard deviation of 2: probabilities far from
    both uniform and saturated, so a wrong layer shows in them."""
    classifier = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))][-1]
    spread = float(logits(model, x, mean, std).std(dim=1).mean())
    with torch.no_grad():
        classifier.weight.mul_(2 / spread)
        classifier.bias.mul_(2 / spread)
    return model


def images(size: int, count: int = 2, seed: int = 0) -> np.ndarray:
    """Smooth random RGB images of whole pixel values 0..255 as float32, NHWC (stored as uint8)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (count, 3, 8, 8)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(small), size=(size, size), mode="bilinear")
    noisy = big.numpy().transpose(0, 2, 3, 1) + rng.normal(0, 8, (count, size, size, 3))
    return np.clip(noisy, 0, 255).round().astype(np.float32)


def logits(model: torch.nn.Module, x: np.ndarray, mean=MEAN, std=STD) -> torch.Tensor:
    normalised = ((x / 255.0 - mean) / std).astype(np.float32).transpose(0, 3, 1, 2)
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(normalised)))


def probabilities(model: torch.nn.Module, x: np.ndarray, mean=MEAN, std=STD) -> np.ndarray:
    return torch.softmax(logits(model, x, mean, std), dim=1).numpy()


def narrow_models() -> dict[str, tuple[torch.nn.Module, int, str]]:
    """Fixture name -> (the real class's narrow network, input size, file format)."""
    from timm.layers import SEModule
    from timm.models.byobnet import ByoBlockCfg, ByobNet, ByoModelCfg, interleave_blocks
    from timm.models.dpn import DPN
    from timm.models.regnet import RegNet, RegNetCfg
    from timm.models.res2net import Bottle2neck
    from timm.models.resnest import ResNestBottleneck
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet
    from timm.models.resnetv2 import ResNetV2
    from timm.models.sknet import SelectiveKernelBasic, SelectiveKernelBottleneck
    from torchvision.models.densenet import DenseNet
    from torchvision.models.regnet import BlockParams
    from torchvision.models.regnet import RegNet as TorchvisionRegNet
    from torchvision.models.vgg import VGG, make_layers

    vgg = VGG(make_layers([8, "M", 16, "M", 32, 32, "M", 32, 32, "M", 32, 32, "M"], batch_norm=True), num_classes=10)
    vgg.classifier = torch.nn.Sequential(torch.nn.Linear(32 * 7 * 7, 32), torch.nn.ReLU(True), torch.nn.Dropout(),
                                         torch.nn.Linear(32, 32), torch.nn.ReLU(True), torch.nn.Dropout(),
                                         torch.nn.Linear(32, 10))
    se = functools.partial(SEModule, rd_ratio=1 / 4, rd_divisor=1)
    return {
        "resnet_basic": (ResNet(BasicBlock, [1, 2, 1, 1], channels=(8, 16, 32, 64), num_classes=10), 64, "pth"),
        "resnext_se": (ResNet(Bottleneck, [1, 1, 2, 1], channels=(8, 16, 32, 64), cardinality=4, base_width=16,
                              block_args={"attn_layer": se}, num_classes=10), 64, "safetensors"),
        "resnet_d": (ResNet(Bottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), stem_type="deep", stem_width=8,
                            avg_down=True, num_classes=10), 64, "safetensors"),
        "densenet": (DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, bn_size=2,
                              num_classes=10), 64, "legacy"),
        "vgg_bn": (vgg, 224, "pth"),
        "dpn": (DPN(k_sec=(1, 1, 1, 1), inc_sec=(4, 8, 8, 16), k_r=16, groups=4, small=True, num_init_features=8,
                    num_classes=10), 64, "safetensors"),
        "resnetv2": (ResNetV2((1, 1, 1, 1), channels=(32, 64, 128, 256), stem_chs=16, num_classes=10,
                              conv_layer=timm.layers.create_conv2d,
                              norm_layer=timm.layers.BatchNormAct2d), 64, "safetensors"),
        **{f"resnet_{attn}": (ResNet(block, [1, 1, 1, 1], channels=(8, 16, 32, 64), block_args={"attn_layer": attn},
                                     num_classes=10, **stem), 64, "safetensors")
           for attn, block, stem in [
               ("eca", Bottleneck, {"stem_type": "deep_tiered", "stem_width": 8, "avg_down": True}),
               ("ese", Bottleneck, {}), ("cbam", BasicBlock, {}), ("gc", Bottleneck, {}), ("gca", Bottleneck, {})]},
        "resnet_res2net": (ResNet(Bottle2neck, [1, 1, 2, 1], channels=(8, 16, 32, 64), base_width=26,
                                  block_args={"scale": 4}, num_classes=10), 64, "safetensors"),
        "resnet_sk": (ResNet(SelectiveKernelBasic, [1, 1, 1, 1], channels=(16, 32, 64, 128), num_classes=10,
                             block_args={"sk_kwargs": {"rd_ratio": 1 / 8, "rd_divisor": 16, "split_input": True}}),
                      64, "safetensors"),
        "resnext_sk": (ResNet(SelectiveKernelBottleneck, [1, 1, 2, 1], channels=(8, 16, 32, 64), cardinality=4,
                              base_width=16, num_classes=10,
                              block_args={"sk_kwargs": {"rd_ratio": 1 / 16, "rd_divisor": 32, "split_input": False}}),
                       64, "safetensors"),
        "resnest": (ResNet(ResNestBottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), stem_type="deep", stem_width=8,
                           avg_down=True, cardinality=2, base_width=32, num_classes=10,
                           block_args={"radix": 2, "avd": True, "avd_first": False}), 64, "safetensors"),
        "resnet_rs": (ResNet(Bottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), stem_type="deep", stem_width=8,
                             replace_stem_pool=True, avg_down=True, num_classes=10,
                             block_args={"attn_layer": functools.partial(SEModule, rd_ratio=0.25)}), 64, "safetensors"),
        "byobnet_gca": (ByobNet(ByoModelCfg(
            blocks=tuple(ByoBlockCfg("bottle", d=d, c=c, s=1 if c == 32 else 2, br=0.25)
                         for d, c in ((1, 32), (2, 64), (1, 128), (1, 256))),
            stem_chs=16, stem_type="tiered", stem_pool="", attn_layer="gca"), num_classes=10), 64, "safetensors"),
        **{f"byobnet_{kind}": (ByobNet(ByoModelCfg(
            blocks=(ByoBlockCfg("bottle", d=1, c=32, s=1, br=0.25), ByoBlockCfg("bottle", d=1, c=64, s=2, br=0.25),
                    interleave_blocks(types=("bottle", "self_attn"), d=2, c=128, s=2, br=0.25),
                    ByoBlockCfg("self_attn", d=2, c=256, s=2, br=0.25)),
            stem_chs=16, stem_type="tiered", stem_pool="maxpool", fixed_input_size=kind == "bot",
            self_attn_layer=layer, self_attn_kwargs=kwargs), img_size=size, num_classes=10), size, "safetensors")
           for kind, layer, kwargs, size in [("bot", "bottleneck", {}, 64),
                                             ("halo", "halo", {"block_size": 4, "halo_size": 1}, 128),
                                             ("lambda", "lambda", {"r": 3}, 64)]},
        "regnet": (RegNet(RegNetCfg(w0=8, wa=8, wm=1.5, depth=5, group_size=4, se_ratio=0.25, stem_width=8),
                          num_classes=10), 64, "safetensors"),
        # group width 16 makes torchvision's width rounding differ from pycls's (the last stage: 48, not 32)
        "regnet_torchvision": (TorchvisionRegNet(BlockParams.from_init_params(
            depth=5, w_0=8, w_a=8, w_m=1.5, group_width=16, se_ratio=0.25), stem_width=8, num_classes=10), 64, "pth"),
        "resnetv2_basic_d": (ResNetV2((1, 2, 1, 1), channels=(16, 32, 64, 128), stem_chs=16, stem_type="deep",
                                      avg_down=True, basic=True, bottle_ratio=1.0, num_classes=10,
                                      conv_layer=timm.layers.create_conv2d,
                                      norm_layer=timm.layers.BatchNormAct2d), 64, "safetensors"),
        # the norms that keep no statistics, and BiT's weight-standardised convs and zero-padded stem pool
        "resnet_gn": (ResNet(Bottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), num_classes=10,
                             norm_layer=functools.partial(timm.layers.GroupNorm, num_groups=4)), 64, "safetensors"),
        "resnetv2_bit": (ResNetV2((1, 1, 1, 1), channels=(32, 64, 128, 256), stem_chs=16, stem_type="fixed",
                                  num_classes=10, conv_layer=functools.partial(timm.layers.StdConv2d, eps=1e-8),
                                  norm_layer=functools.partial(timm.layers.GroupNormAct, num_groups=8)),
                         64, "safetensors"),
        **{f"resnetv2_{kind}": (ResNetV2((1, 1, 1, 1), channels=(32, 64, 128, 256), stem_chs=16, stem_type="deep",
                                         avg_down=True, num_classes=10, conv_layer=timm.layers.create_conv2d,
                                         norm_layer=norm), 64, "safetensors")
           for kind, norm in [("frn", timm.layers.FilterResponseNormTlu2d),
                              ("evos", functools.partial(timm.layers.EvoNorm2dS0, groups=4))]},
        "regnet_sgn": (RegNet(RegNetCfg(w0=8, wa=8, wm=1.5, depth=5, group_size=4, se_ratio=0.25, stem_width=8,
                                        act_layer="silu",
                                        norm_layer=functools.partial(timm.layers.GroupNormAct, group_size=4)),
                              num_classes=10), 64, "safetensors"),
        # anti-aliased downsampling: blur pools (in the blocks and the stem), and timm's 2x2 average pools
        "resnet_blur": (ResNet(BasicBlock, [1, 1, 1, 1], channels=(8, 16, 32, 64), num_classes=10,
                               aa_layer=timm.layers.BlurPool2d), 64, "safetensors"),
        "resnet_aa_d": (ResNet(Bottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), stem_type="deep", stem_width=8,
                               avg_down=True, num_classes=10, aa_layer=torch.nn.AvgPool2d), 64, "safetensors"),
        "densenet_blur_deep": (timm.models.densenet.DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), bn_size=2,
                                                             stem_type="deep", aa_layer=timm.layers.BlurPool2d,
                                                             num_classes=10), 64, "safetensors"),
        "senet": (ResNet(Bottleneck, [1, 1, 1, 1], channels=(8, 16, 32, 64), cardinality=4, base_width=16,
                         stem_type="deep", stem_width=8, down_kernel_size=3, block_reduce_first=2, num_classes=10,
                         block_args={"attn_layer": se}), 64, "safetensors"),
        "resnet_pruned": (pruned(ResNet(Bottleneck, [1, 2, 1, 1], channels=(8, 16, 32, 64), stem_type="deep",
                                        stem_width=8, avg_down=True, block_args={"attn_layer": "eca"}, num_classes=10),
                                 PRUNED_WIDTHS), 64, "safetensors"),
        "regnetv": (RegNet(RegNetCfg(w0=8, wa=8, wm=1.5, depth=5, group_size=4, se_ratio=0.25, stem_width=8,
                                     preact=True, act_layer="silu", downsample="avg"), num_classes=10),
                    64, "safetensors"),
        "regnetz": (RegNet(RegNetCfg(w0=8, wa=8, wm=1.5, depth=5, group_size=4, bottle_ratio=4.0, se_ratio=0.25,
                                     stem_width=8, downsample=None, linear_out=True, num_features=48, act_layer="silu"),
                           num_classes=10), 64, "safetensors"),
        "dpn_silu": (DPN(k_sec=(1, 1, 1, 1), inc_sec=(4, 8, 8, 16), k_r=16, groups=4, small=True, b=True,
                         num_init_features=8, act_layer="silu", num_classes=10), 64, "safetensors"),
        "resnetv2_evob": (ResNetV2((1, 1, 1, 1), channels=(32, 64, 128, 256), stem_chs=16, stem_type="deep",
                                   avg_down=True, num_classes=10, conv_layer=timm.layers.create_conv2d,
                                   norm_layer=timm.layers.EvoNorm2dB0), 64, "safetensors"),
    }


# Each block's conv1, conv2 and conv3 widths of the narrow pruned fixture (the stages' nominal ones: 8, 8, 32; 16, 16,
# 64; 32, 32, 128; 64, 64, 256), as timm's _pruned files give them.
PRUNED_WIDTHS = [[[5, 7, 29]], [[11, 9, 50], [14, 16, 50]], [[20, 27, 101]], [[64, 30, 233]]]


def pruned(model: torch.nn.Module, widths: list[list[list[int]]]) -> torch.nn.Module:
    """``model`` narrowed as timm narrows its pruned networks (``adapt_model_from_string``): each block's convs and
    norms to its widths, the projections and the classifier to what they read and give; the ECA modules kept."""
    from timm.models._prune import adapt_model_from_string

    shapes = {name: list(t.shape) for name, t in model.state_dict().items() if name.endswith(".weight")}
    channels = shapes["layer1.0.conv1.weight"][1]  # the stem's
    for s, blocks in enumerate(widths, start=1):
        for b, block in enumerate(blocks):
            for k, width in enumerate(block, start=1):
                shapes[f"layer{s}.{b}.conv{k}.weight"][:2] = [width, block[k - 2] if k > 1 else channels]
                shapes[f"layer{s}.{b}.bn{k}.weight"] = [width]
            if f"layer{s}.{b}.downsample.1.weight" in shapes:
                shapes[f"layer{s}.{b}.downsample.1.weight"][:2] = [block[-1], channels]
                shapes[f"layer{s}.{b}.downsample.2.weight"] = [block[-1]]
            channels = block[-1]
    shapes["fc.weight"][1] = channels
    return adapt_model_from_string(model, "***".join(f"{name}:{shape}" for name, shape in shapes.items()))


def old_densenet_names(state: dict) -> collections.OrderedDict:
    """The key names of checkpoints saved before PyTorch 0.4 (norm.1 for norm1), as densenet121-a639ec97.pth has."""
    return collections.OrderedDict((k.replace("norm1", "norm.1").replace("norm2", "norm.2")
                                    .replace("conv1", "conv.1").replace("conv2", "conv.2")
                                    if "denselayer" in k else k, v) for k, v in state.items())


def save(model: torch.nn.Module, path: Path, kind: str) -> None:
    state = collections.OrderedDict((k, v.contiguous()) for k, v in model.state_dict().items())
    if kind == "safetensors":
        save_file(state, str(path))
    elif kind == "legacy":
        torch.save(old_densenet_names(state), path, _use_new_zipfile_serialization=False)
    else:
        torch.save(state, path)


def fixtures(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    reference = {}
    for seed, (name, (model, size, kind)) in enumerate(narrow_models().items()):
        x = images(size, seed=seed)
        calibrated(seeded(model, seed, x), x)
        suffix = "safetensors" if kind == "safetensors" else "pth"
        save(model, out / f"{name}.{suffix}", kind)
        reference[f"{name}_images"] = x.astype(np.uint8)
        reference[f"{name}_probabilities"] = probabilities(model, x)
    np.savez_compressed(out / "reference.npz", **reference)


def registry(out: Path) -> None:
    """Each sourced entry's library, model name and state dict (names and shapes, in the model's order,
    ``num_batches_tracked`` counters included), with the versions they were read from; ``also`` lists timm
    where timm has a model of the torchvision name that loads the same state dict and, given it, computes
    the same outputs (timm's resnet50 is torchvision's)."""
    entries = {}
    for entry, (library, model_name, _) in SOURCES.items():
        model = source_model(library, model_name)
        state = model.state_dict()
        entries[entry] = {"library": library, "model": model_name,
                          "tensors": {k: list(v.shape) for k, v in state.items()},
                          "also": ["timm"] if library == "torchvision" and same_in_timm(model, model_name) else []}
    with gzip.GzipFile(out, "wb", mtime=0) as file:  # the same bytes for the same registry
        file.write(json.dumps({"torch": torch.__version__.split("+")[0], "torchvision":
                               torchvision.__version__.split("+")[0], "timm": timm.__version__,
                               "entries": entries}, separators=(",", ":")).encode())


CENSUS_MODULES = ["resnet", "resnetv2", "regnet", "res2net", "resnest", "sknet", "densenet", "dpn"]
CENSUS_TORCHVISION = ("resnet", "resnext", "wide_resnet", "densenet", "regnet")


def meta_model(library: str, name: str) -> torch.nn.Module:
    """A registry model built on the meta device (no memory, no time) where its builder allows it (torchvision's
    RegNets compute their widths with tensors at construction, so they are built for real)."""
    try:
        with torch.device("meta"):
            return source_model(library, name)
    except NotImplementedError:
        return source_model(library, name)


def census(out: Path) -> None:
    """See the module docstring; test models (timm's ``test_*``) are left out."""
    networks = []
    for module in CENSUS_MODULES:
        for name in timm.list_models(module=module):
            if not name.startswith("test_"):
                networks.append(("timm", module, name, published_tags("timm", name)))
    torchvision_names = [n for n in torchvision.models.list_models(module=torchvision.models)
                         if n.startswith(CENSUS_TORCHVISION)]
    listed = {name for _, _, name, _ in networks} | set(torchvision_names)
    for library, name, _ in SOURCES.values():  # the zoo's networks from other modules (BoTNet's byoanet, VGG)
        if name not in listed and library == "timm":
            networks.append(("timm", next(m for m in timm.list_modules() if name in timm.list_models(module=m)),
                             name, published_tags("timm", name)))
        elif name not in listed:
            torchvision_names.append(name)
        listed.add(name)
    for name in torchvision_names:
        module = next((m for m in CENSUS_TORCHVISION if name.startswith(m)), name.rstrip("0123456789_bn"))
        networks.append(("torchvision", module, name, published_tags("torchvision", name)))
    records = []
    for library, module, name, tags in networks:
        model = meta_model(library, name)
        state = model.state_dict()
        records.append({"library": library, "module": module, "model": name,
                        "params": sum(p.numel() for p in model.parameters()),
                        "weights": tags,
                        "tensors": {k: list(v.shape) for k, v in state.items()}})
    with gzip.GzipFile(out, "wb", mtime=0) as file:  # the same bytes for the same registries
        file.write(json.dumps({"torch": torch.__version__.split("+")[0], "torchvision":
                               torchvision.__version__.split("+")[0], "timm": timm.__version__,
                               "registries": {"timm": CENSUS_MODULES, "torchvision": list(CENSUS_TORCHVISION)},
                               "networks": records}, separators=(",", ":")).encode())


def same_in_timm(model: torch.nn.Module, name: str) -> bool:
    """Whether timm's model of this name takes ``model``'s seeded state dict strictly and gives its outputs."""
    if name not in timm.list_models():
        return False
    twin = timm.create_model(name, pretrained=False)
    state = model.state_dict()
    if {k: v.shape for k, v in twin.state_dict().items()} != {k: v.shape for k, v in state.items()}:
        return False
    x = images(224, seed=3)
    seeded(model, 0, x)
    twin.load_state_dict(model.state_dict(), strict=True)
    return bool(np.allclose(probabilities(model.eval(), x), probabilities(twin.eval(), x), atol=1e-6))


def source_model(library: str, name: str) -> torch.nn.Module:
    if library == "torchvision":
        return torchvision.models.get_model(name, weights=None)
    return timm.create_model(name, pretrained=False)


def source_normalisation(library: str, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """The mean and std the source feeds its model with: torchvision's ImageNet ones, timm's per model."""
    if library == "timm":
        return np.array(model.pretrained_cfg["mean"]), np.array(model.pretrained_cfg["std"])
    return MEAN, STD


def full(entry: str, out: Path) -> None:
    """A full-size source model with seeded weights, two images of its input size and its probabilities, the
    images normalised as the source normalises them."""
    library, name, _ = SOURCES[entry]
    model = source_model(library, name)
    x = images(model.pretrained_cfg["input_size"][1] if library == "timm" else 224, seed=1)
    mean, std = source_normalisation(library, model)
    model = calibrated(quiet_branches(seeded(model, 0, x)), x, mean, std)
    out.mkdir(parents=True, exist_ok=True)
    save(model, out / f"{entry}.pth", "pth")
    np.savez(out / f"{entry}.npz", images=x, probabilities=probabilities(model, x, mean, std))


def exported(library: str, name: str, weights: Path, num_classes: int, images_file: Path, out: Path) -> None:
    """Load an exported file as its library loads it, strictly, and save its probabilities on the images."""
    data = np.load(images_file)
    mean, std = data["mean"], data["std"]
    if library == "hub":
        model = timm.create_model(f"local-dir:{weights}", pretrained=True)
        config = timm.data.resolve_data_config(model=model)
        mean, std = np.array(config["mean"]), np.array(config["std"])
    else:
        from safetensors.torch import load_file

        model = (timm.create_model(name, num_classes=num_classes) if library == "timm"
                 else torchvision.models.get_model(name, num_classes=num_classes))
        state = load_file(weights) if weights.suffix == ".safetensors" else torch.load(weights, weights_only=True)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    np.savez(out, probabilities=probabilities(model.eval(), data["images"], mean, std), mean=mean, std=std)


def sources(timm_results: Path | None) -> None:
    """Print each entry's source section (YAML), from torchvision's weight enums and timm's pretrained cfgs."""
    top1 = {}
    if timm_results:
        with open(timm_results, newline="") as file:
            top1 = {(row["model"], int(row["img_size"])): float(row["top1"]) for row in csv.DictReader(file)}
    for entry, (library, name, tags) in SOURCES.items():
        sized = [(tag, 224 if library == "torchvision" else timm.models.get_pretrained_cfg(f"{name}.{tag}").input_size[1])
                 for tag in tags or published_tags(library, name)]
        if top1 and library == "timm":  # weights trained for other labels (in21k, in12k) have no ImageNet top-1
            sized = [(tag, size) for tag, size in sized if (f"{name}.{tag}", size) in top1]
        lines = ["source:", f"  library: {library}", f"  model: {name}", "  weights:" + ("" if sized else " []")]
        for tag, size in sized:
            weight = _weight_lines(library, name, tag, top1.get((f"{name}.{tag}", size)))
            lines += [f"    - {line}" if i == 0 else f"      {line}" for i, line in enumerate(weight)]
        print(f"# {entry}\n" + "\n".join(lines))


def published_tags(library: str, name: str) -> list[str]:
    """Every weight tag the library publishes for the model (a new entry's, which records none yet), its default
    first (torchvision's first enum member, timm's first registered tag)."""
    if library == "torchvision":
        return [w.name for w in torchvision.models.get_model_weights(name)]
    return [t.partition(".")[2] for t, cfg in timm.models.get_arch_pretrained_cfgs(name).items()
            if cfg.has_weights and cfg.num_classes]  # a headless backbone (SEER's) has no top-1 to record


def _weight_lines(library: str, name: str, tag: str, timm_top1: float | None) -> list[str]:
    if library == "torchvision":
        weights = torchvision.models.get_model_weights(name)[tag]
        transform = weights.transforms()
        prefix = weights.url.rsplit("-", 1)[1].split(".")[0]  # torchvision's file names end in the sha256 prefix
        return [f"name: {tag}", f"url: {weights.url}", f"sha256: {prefix}",
                f"top1: {weights.meta['_metrics']['ImageNet-1K']['acc@1']}",
                f"eval: {{resize: {transform.resize_size[0]}, crop: {transform.crop_size[0]}, "
                f"interpolation: {transform.interpolation.value}}}"]
    cfg = timm.models.get_pretrained_cfg(f"{name}.{tag}")
    crop = cfg.input_size[1]
    return [f"name: {tag}", f"url: hf://{cfg.hf_hub_id}", "sha256: null", f"top1: {timm_top1}".replace("None", "null"),
            f"eval: {{resize: {int(crop / cfg.crop_pct)}, crop: {crop}, interpolation: {cfg.interpolation}}}"]


def checkpoints(out: Path) -> None:
    """Each file holds the densenet fixture's weights (tests/fixtures/weights/densenet.pth, renamed as
    torchvision renames its pre-0.4 keys); where a file holds two sets, the other is the same weights
    halved, so a test can tell which set loaded."""
    import re

    fixture = Path(__file__).parents[1] / "tests" / "fixtures" / "weights" / "densenet.pth"
    legacy = torch.load(fixture, weights_only=True)
    state = collections.OrderedDict((re.sub(r"(denselayer\d+\.(?:norm|conv))\.([12])", r"\1\2", k), v)
                                    for k, v in legacy.items())
    halved = collections.OrderedDict((k, v / 2 if v.is_floating_point() else v) for k, v in state.items())
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "epoch": 90, "arch": "densenet"}, out / "wrapped.pth")
    torch.save(collections.OrderedDict((f"module.{k}", v) for k, v in state.items()), out / "data_parallel.pth")
    torch.save(collections.OrderedDict((f"_orig_mod.{k}", v) for k, v in state.items()), out / "compiled.pt")
    torch.save({"model": halved, "model_ema": state}, out / "with_ema.pth")
    torch.save({"state_dict_ema": state}, out / "ema_only.pth.tar")
    torch.save(collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in state.items()),
               out / "half.pth")
    save_file(collections.OrderedDict((k, v.contiguous()) for k, v in state.items()), str(out / "safetensors.pth"))


# (width, height) of the JPEGs the transform fixtures cut: ImageNet's commonest shapes both ways round, odd
# sizes whose centre crops fall on half pixels, and one smaller than the resize, so it is upsampled
TRANSFORM_SHAPES = [(500, 375), (375, 500), (500, 333), (640, 427), (257, 341), (301, 199)]
# the views compared: torchvision's V1 and V2 weights (bilinear 256/224, 232/224) and timm's a1 (bicubic 235/224)
TRANSFORM_VIEWS = {
    "torchvision_v1": lambda: torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms(),
    "torchvision_v2": lambda: torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms(),
    "timm_a1": lambda: timm.data.create_transform(
        **timm.data.resolve_model_data_config(timm.create_model("resnet50d.a1_in1k", pretrained=False))),
}


def transforms(out: Path) -> None:
    """Cut the JPEGs from scikit-learn's sample photos with PIL, then load each as torchvision's ImageFolder
    does and save every view's output, un-normalised back to the whole pixel levels PIL resized to."""
    import sklearn.datasets
    from PIL import Image

    photos = Path(sklearn.datasets.__file__).parent / "images"
    out.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, (width, height) in enumerate(TRANSFORM_SHAPES):
        photo = Image.open(photos / ("china.jpg", "flower.jpg")[i % 2]).convert("RGB")
        name = f"photo_{width}x{height}.jpg"
        photo.resize((width, height), Image.BICUBIC).save(out / name, quality=90)
        image = Image.open(out / name).convert("RGB")  # torchvision's default_loader
        for view, make in TRANSFORM_VIEWS.items():
            transform = make()
            # torchvision's ImageClassification keeps its mean and std, timm's Compose ends in a Normalize
            normalise = transform if hasattr(transform, "mean") else transform.transforms[-1]
            tensor = transform(image)
            mean = torch.as_tensor(normalise.mean)[:, None, None]
            std = torch.as_tensor(normalise.std)[:, None, None]
            pixels = ((tensor * std + mean) * 255).permute(1, 2, 0).numpy()  # whole levels to within 1e-4
            arrays[f"{view}/{name}"] = pixels.round().astype(np.uint8)
    views = {view: repr(make()) for view, make in TRANSFORM_VIEWS.items()}
    np.savez_compressed(out / "reference.npz", **arrays)
    (out / "views.json").write_text(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__,
                                                "timm": timm.__version__, "views": views}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command",
                        choices=["fixtures", "registry", "census", "full", "exported", "checkpoints", "transforms", "sources"])
    parser.add_argument("args", nargs="*")
    args = parser.parse_args()
    if args.command == "fixtures":
        fixtures(Path(args.args[0]) if args.args else Path(__file__).parents[1] / "tests" / "fixtures" / "weights")
    elif args.command == "registry":
        registry(Path(args.args[0]) if args.args else ZOO / "source_tensors.json.gz")
    elif args.command == "census":
        census(Path(args.args[0]) if args.args else ZOO / "registry_census.json.gz")
    elif args.command == "full":
        full(args.args[0], Path(args.args[1]))
    elif args.command == "exported":
        library, name, weights, classes, images_file, out = args.args
        exported(library, name, Path(weights), int(classes), Path(images_file), Path(out))
    elif args.command == "checkpoints":
        checkpoints(Path(args.args[0]) if args.args else Path(__file__).parents[1] / "tests" / "fixtures" / "checkpoints")
    elif args.command == "transforms":
        transforms(Path(args.args[0]) if args.args else Path(__file__).parents[1] / "tests" / "fixtures" / "transforms")
    else:
        sources(Path(args.args[0]) if args.args else None)


if __name__ == "__main__":
    sys.exit(main())
