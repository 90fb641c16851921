"""Every zoo entry that records a torchvision or timm source takes that model's state dict exactly, both
ways: each tensor of the real model (names and shapes read from it by scripts/torch_reference.py into the
registry) fills one layer, every weighted layer is filled, and the model's weights written back as that
state dict have the real model's names and shapes, ``num_batches_tracked`` included (what its
``load_state_dict(strict=True)`` asks), and load back unchanged. No PyTorch needed."""

from __future__ import annotations

import numpy as np
import pytest

from archspec.graph.load import load_spec
from archspec.keras.build import build_model
from archspec.keras.weights.registry import COUNTER, registry
from archspec.keras.weights.transfer import check_fit, state_dict
from archspec.spec.zoo import zoo_paths

from .helpers import small_size, zoo_params

SOURCE_TENSORS = {network.entry: network.tensors for network in registry()}


TORCH_SOURCED = [name for name in zoo_paths() if (s := load_spec(name).source) and s.library in ("torchvision", "timm")]


# CI checks one entry per tensor-naming family and module, and every sourced entry's parameter count on the graph
# (tests/test_identify.py); `pytest -m zoo tests/test_weights_zoo.py` builds and checks every sourced entry (about
# 8 minutes on 2 cores), as a zoo entry is added.
QUICK = {"resnet50", "resnet50d", "se_resnet50", "densenet121", "vgg11", "dpn68", "dpn68b", "preact_resnet50", "regnety_002",
         "ecaresnet26t", "resnetrs50", "skresnet18", "skresnext50_32x4d", "resnest50d", "res2net50_26w_4s",
         "gcresnet50t", "botnet26t_256", "halonet26t", "lambda_resnet26t"}


@pytest.mark.parametrize("name", zoo_params(lambda name: name in TORCH_SOURCED, whole_zoo=set(TORCH_SOURCED) - QUICK))
def test_source_state_dict_fills_the_entry_exactly(name):
    if name not in SOURCE_TENSORS:
        pytest.fail(f"{name} records a torch source but the fixtures lack its tensors: run "
                    f"scripts/torch_reference.py registry")
    spec = load_spec(name)
    shapes = {k: v for k, v in SOURCE_TENSORS[name].items() if not k.endswith(COUNTER)}  # readers skip counters
    model = build_model(spec, input_size=small_size(spec), max_params=2_000_000_000)  # weights fit at any size
    fit = check_fit(model, shapes, f"{spec.source.model} state dict")
    assert sum(len(needs) for needs in fit.needs.values()) == len(shapes)
    written = state_dict(model, fit.family)
    assert {k: v.shape for k, v in written.items()} == SOURCE_TENSORS[name]
    for layer, needs in fit.needs.items():  # back in layer by layer: a copy of a big model's weights is gigabytes
        before = layer.get_weights()
        layer.set_weights([need.convert(written.pop(need.name)) for need in needs])
        assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights(), strict=True)), layer.name
