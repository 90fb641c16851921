"""Full-size zoo entries against the real torchvision/timm model with the same seeded weights on the same
images: class probabilities within 1e-4 (the contract of ``build_model(NAME, weights=FILE)``).

Runs wherever torch, torchvision and timm are importable, or through another interpreter that has torch, torchvision and timm,
named by ARCHSPEC_TORCH_PYTHON (archspec's own environment never needs torch); skipped elsewhere. That
interpreter runs scripts/torch_reference.py, which writes the checkpoint and the source's probabilities.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from archspec.keras.build import build_model

from .weights_helpers import SCRIPT, TORCH_PYTHON

ENTRIES = ["densenet121", "vgg11", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "se_resnet50",
           "resnet50d", "dpn68", "preact_resnet50", "resnet26t", "ecaresnet26t", "ecaresnet50d", "seresnext26d_32x4d",
           "regnetx_002", "regnetx_004", "regnetx_032", "regnety_002", "regnety_008", "regnety_032", "resnetrs50",
           "gcresnet50t", "botnet26t_256", "halonet26t", "lambda_resnet26t", "skresnet18", "skresnext50_32x4d",
           "resnest50d", "res2net50_26w_4s"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(TORCH_PYTHON is None, reason="needs torch, torchvision and timm, or ARCHSPEC_TORCH_PYTHON")]


@pytest.mark.parametrize("name", ENTRIES)
def test_zoo_entry_gives_the_source_models_probabilities(name, tmp_path):
    subprocess.run([TORCH_PYTHON, str(SCRIPT), "full", name, str(tmp_path)], check=True, capture_output=True)
    reference = np.load(tmp_path / f"{name}.npz")
    model = build_model(name, weights=tmp_path / f"{name}.pth")  # raw pixels in, the spec's preprocess inside
    got = model.predict(reference["images"].astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, reference["probabilities"], atol=1e-4)
    np.testing.assert_allclose(np.log(got), np.log(reference["probabilities"]), atol=1e-3)  # the small ones too
