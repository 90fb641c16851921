"""Checkpoints as people have them (written by PyTorch: scripts/torch_reference.py checkpoints): wrapped,
DataParallel and torch.compile prefixes, EMA beside the plain weights, float16, a file named for another
format; and plain errors for a folder, a truncated archive and one missing tensor."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.keras.weights.tensors import file_kind, open_tensors
from archspec.keras.weights.torch_pickle import WeightsFileError
from archspec.keras.weights.transfer import load_source_weights

from .weights_helpers import FIXTURES, build_for_source

CHECKPOINTS = Path(__file__).parent / "fixtures" / "checkpoints"
REFERENCE = np.load(FIXTURES / "reference.npz")


def probabilities(file: Path, ema: bool = False, tolerance: float = 1e-4) -> tuple[object, bool]:
    """What the densenet fixture's spec loaded from ``file`` gives, and whether it is the source's output."""
    model = build_for_source(FIXTURES / "densenet.yaml")
    loaded = load_source_weights(model, file, ema=ema)
    got = model.predict(REFERENCE["densenet_images"].astype(np.float32), verbose=0)
    return loaded, np.allclose(got, REFERENCE["densenet_probabilities"], atol=tolerance)


@pytest.mark.parametrize("file,wrapper", [("wrapped.pth", "state_dict"), ("data_parallel.pth", ""),
                                          ("compiled.pt", ""), ("safetensors.pth", "")])
def test_wrapped_and_prefixed_checkpoints_load_as_the_bare_state_dict(file, wrapper):
    loaded, same = probabilities(CHECKPOINTS / file)
    assert same and loaded.wrapper == wrapper and not loaded.unused_ema


def test_a_file_is_known_by_its_content_not_its_name():
    assert file_kind(CHECKPOINTS / "safetensors.pth") == "safetensors"
    assert file_kind(CHECKPOINTS / "ema_only.pth.tar") == "torch"
    assert file_kind(FIXTURES / "densenet.pth") == "torch"  # the legacy format


def test_ema_weights_are_used_only_on_request():
    plain, same = probabilities(CHECKPOINTS / "with_ema.pth")  # its 'model' entry holds the weights halved
    assert not same and plain.wrapper == "model" and plain.unused_ema == "model_ema"
    assert "--ema uses them" in plain.describe()
    ema, same = probabilities(CHECKPOINTS / "with_ema.pth", ema=True)
    assert same and ema.wrapper == "model_ema" and "the EMA weights" in ema.describe()
    assert probabilities(CHECKPOINTS / "ema_only.pth.tar", ema=True)[1]
    with pytest.raises(WeightsFileError, match=r"holds only EMA weights \(state_dict_ema\): pass --ema"):
        probabilities(CHECKPOINTS / "ema_only.pth.tar")
    with pytest.raises(WeightsFileError, match="no EMA weights .* leave out --ema"):
        probabilities(CHECKPOINTS / "data_parallel.pth", ema=True)


def test_float16_weights_load_widened():
    assert probabilities(CHECKPOINTS / "half.pth", tolerance=5e-3)[1]


def test_build_says_which_weights_of_the_file_it_used(tmp_path):
    result = CliRunner().invoke(main, ["build", str(FIXTURES / "densenet.yaml"), "--weights",
                                       str(CHECKPOINTS / "with_ema.pth"), "--ema"])
    assert result.exit_code == 0, result.output
    assert "(its 'model_ema' entry, the EMA weights)" in result.output


def test_a_folder_a_truncated_archive_and_a_missing_tensor_are_named(tmp_path):
    folder = tmp_path / "download"
    folder.mkdir()
    shutil.copy(CHECKPOINTS / "wrapped.pth", folder / "model.pth")
    with pytest.raises(WeightsFileError, match=r"is a folder: pass the weights file inside it \(model.pth\)"):
        open_tensors(folder)
    cut = tmp_path / "cut.pth"
    cut.write_bytes((CHECKPOINTS / "wrapped.pth").read_bytes()[:50_000])
    with pytest.raises(WeightsFileError, match="truncated or damaged: its end is missing"):
        open_tensors(cut)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(WeightsFileError, match="is empty"):
        open_tensors(empty)
    from safetensors.numpy import save_file

    with open_tensors(CHECKPOINTS / "safetensors.pth") as full:
        arrays = {name: full.read(name) for name in full.shapes if name != "features.norm5.weight"}
    save_file(arrays, str(tmp_path / "one_short.safetensors"))
    with pytest.raises(WeightsFileError, match=r"needs tensor 'features.norm5.weight' .* the file lacks it and no "
                                               r"other of the .* the model needs: it is incomplete"):
        probabilities(tmp_path / "one_short.safetensors")
