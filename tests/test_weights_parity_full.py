"""Full-size zoo entries against the real torchvision/timm model with the same seeded weights on the same
images: class probabilities within 1e-4 (the contract of ``build_model(NAME, weights=FILE)``).

Runs wherever torch, torchvision and timm are importable, or through another interpreter that has torch, torchvision and timm,
named by ARCHSPEC_TORCH_PYTHON (archspec's own environment never needs torch); skipped elsewhere. That
interpreter runs scripts/torch_reference.py, which writes the checkpoint and the source's probabilities.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from archspec.graph.load import load_spec
from archspec.keras.build import build_model
from archspec.keras.weights.registry import identify
from archspec.keras.weights.tensors import open_tensors
from archspec.spec.zoo import zoo_paths

from .weights_helpers import SCRIPT, TORCH_PYTHON

# the entries docs/coverage.md lists as checked at full size
ENTRIES = yaml.safe_load((Path(__file__).parents[1] / "docs" / "coverage.yaml").read_text())["full_size_parity"]

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
    with open_tensors(tmp_path / f"{name}.pth") as tensors:  # and identify names the entry the file is of
        assert name in {m.network.entry for m in identify(tensors.shapes).matches}


# Which of the libraries' own models start with a residual block's last norm at zero (timm's zero_init_last,
# torchvision's zero_init_residual): any norm's weight that is all zeros after a fresh, unseeded construction (batch
# and group norms, timm's FRN and EvoNorm).
ZEROED = r"""
import json, sys, timm, torch, torchvision
out = {}
for library, name in (arg.split(":", 1) for arg in sys.argv[1:]):
    model = timm.create_model(name) if library == "timm" else torchvision.models.get_model(name)
    norms = [m.weight for m in model.modules() if getattr(m, "weight", None) is not None and (
        isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm))
        or type(m).__name__.startswith(("FilterResponseNorm", "EvoNorm")))]
    out[f"{library}:{name}"] = any(bool((w == 0).all()) for w in norms)
print(json.dumps(out))
"""


def test_entries_initialise_their_blocks_last_norm_as_their_source_does():
    """``defaults.zero_init_last_norm`` of every sourced entry is what the source's own constructor does."""
    specs = {name: load_spec(path) for name, path in zoo_paths().items()}
    sourced = {name: f"{s.source.library}:{s.source.model}" for name, s in specs.items()
               if s.source and s.source.library in ("timm", "torchvision")}
    done = subprocess.run([TORCH_PYTHON, "-c", ZEROED, *sorted(set(sourced.values()))], capture_output=True,
                          text=True, check=True)
    zeroed = json.loads(done.stdout.splitlines()[-1])
    wrong = {name: source for name, source in sourced.items() if specs[name].defaults.zero_init_last_norm != zeroed[source]}
    assert not wrong, f"zero_init_last_norm differs from the source's initialisation: {wrong}"
