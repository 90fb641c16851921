"""PyTorch and safetensors weights loaded without PyTorch: parity with the real code on narrow networks of
every family (fixtures written by torchvision's and timm's own classes), refusals naming the first misfit,
and hostile files that must execute nothing."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import save_file

from archspec.cli import main
from archspec.keras.build import build_model
from archspec.keras.weights.tensors import open_tensors
from archspec.keras.weights.torch_pickle import WeightsFileError
from archspec.keras.weights.transfer import load_source_weights

from .weights_helpers import FIXTURES, build_for_source

REFERENCE = np.load(FIXTURES / "reference.npz")
NARROW_NETWORKS = [
    ("resnet_basic", "resnet_basic.pth"),  # zip format
    ("resnext_se", "resnext_se.safetensors"),
    ("densenet", "densenet.pth"),  # legacy format, with pre-0.4 key names (norm.1)
    ("vgg_bn", "vgg_bn.pth"),
    ("dpn", "dpn.safetensors"),
    ("resnet_d", "resnet_d.safetensors"),
    ("resnetv2", "resnetv2.safetensors"),
    ("resnetv2_basic_d", "resnetv2_basic_d.safetensors"),
    *[(name, f"{name}.safetensors") for name in ("resnet_gn", "resnetv2_bit", "resnetv2_frn", "resnetv2_evos",
                                                "regnet_sgn", "resnet_blur", "resnet_aa_d", "densenet_blur_deep", "senet", "resnet_pruned",
                                                "regnetv", "regnetz", "dpn_silu", "resnetv2_evob")],
    *[(f"resnet_{attention}", f"resnet_{attention}.safetensors") for attention in ("eca", "ese", "cbam", "gc", "gca")],
    ("regnet", "regnet.safetensors"),
    ("regnet_torchvision", "regnet_torchvision.pth"),
    *[(name, f"{name}.safetensors") for name in ("resnet_res2net", "resnet_sk", "resnext_sk", "resnest", "resnet_rs",
                                                "byobnet_gca", "byobnet_bot", "byobnet_halo", "byobnet_lambda")],
]


@pytest.mark.backend_neutral
@pytest.mark.parametrize("name,file", NARROW_NETWORKS)
def test_narrow_network_gives_the_source_models_probabilities(name, file):
    model = build_for_source(FIXTURES / f"{name}.yaml")
    loaded = load_source_weights(model, FIXTURES / file)
    assert loaded.layers == sum(1 for layer in model.layers if layer.weights)
    expected = REFERENCE[f"{name}_probabilities"]
    got = model.predict(REFERENCE[f"{name}_images"].astype(np.float32), verbose=0)
    assert expected.max() < 0.99  # the fixtures' classifiers are scaled so that a wrong layer shows
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(np.log(got), np.log(expected), atol=1e-3)  # the small probabilities too


def test_the_three_file_formats_give_the_same_tensors(tmp_path):
    with open_tensors(FIXTURES / "resnet_basic.pth") as pth:
        arrays = {name: pth.read(name) for name in pth.shapes}
    save_file(arrays, str(tmp_path / "copy.safetensors"))
    with open_tensors(tmp_path / "copy.safetensors") as copy:
        assert copy.shapes == {k: v.shape for k, v in arrays.items()}
        assert all(np.array_equal(copy.read(k), v) for k, v in arrays.items())
    with open_tensors(FIXTURES / "densenet.pth") as legacy:  # the legacy stream, old names kept as written
        assert "features.denseblock1.denselayer1.norm.1.weight" in legacy.shapes
        assert not any(k.endswith("num_batches_tracked") for k in legacy.shapes)


def _tensors(name: str) -> dict[str, np.ndarray]:
    with open_tensors(FIXTURES / name) as tensors:
        return {k: tensors.read(k) for k in tensors.shapes}


def _fixture_model(name: str):
    return build_model(FIXTURES / f"{name}.yaml")


def test_a_missing_tensor_is_named_with_its_shape(tmp_path):
    arrays = _tensors("resnet_basic.pth")
    del arrays["layer2.1.bn2.running_var"]
    save_file(arrays, str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsFileError, match=r"layer 'conv3_block2_2_bn' needs tensor 'layer2.1.bn2.running_var' "
                                               r"of shape \(16,\); the file lacks it and no other of the 77 the "
                                               r"model needs: it is incomplete"):
        load_source_weights(_fixture_model("resnet_basic"), tmp_path / "missing.safetensors")


def test_an_extra_tensor_is_named(tmp_path):
    arrays = _tensors("resnet_basic.pth")
    arrays["layer4.1.conv1.weight"] = np.zeros((64, 64, 3, 3), np.float32)
    save_file(arrays, str(tmp_path / "extra.safetensors"))
    with pytest.raises(WeightsFileError,
                       match=r"tensor 'layer4.1.conv1.weight' \(shape \(64, 64, 3, 3\)\) fits no layer"):
        load_source_weights(_fixture_model("resnet_basic"), tmp_path / "extra.safetensors")


def test_a_wrong_shape_in_the_backbone_names_both_shapes_and_a_classifier_starts_fresh():
    wider = {"extends": str(FIXTURES / "resnet_basic.yaml"), "stem": {"type": "imagenet", "width": 16}}
    with pytest.raises(WeightsFileError, match=r"'conv1.weight' has shape \(64, 3, 7, 7\), the model's layer "
                                               r"'conv1_conv' needs \(16, 3, 7, 7\)"):
        load_source_weights(build_model(wider), FIXTURES / "resnet_basic.pth")
    loaded = load_source_weights(build_model(FIXTURES / "resnet_basic.yaml", num_classes=7),
                                 FIXTURES / "resnet_basic.pth")
    assert loaded.unused_head == 2 and loaded.describe() == ("; predictions left at initialisation (the file's "
                                                             "classifier has 10 classes, the model's 7)")


def test_another_architectures_weights_are_refused_and_the_model_left_untouched():
    model = _fixture_model("resnet_basic")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsFileError, match="no counterpart in a torchvision/timm DenseNet file"):
        load_source_weights(model, FIXTURES / "densenet.pth")
    with pytest.raises(WeightsFileError, match="needs tensor 'layer3.1.conv1.weight'"):  # a smaller ResNet
        load_source_weights(build_model({**_spec_dict("resnet_basic"), "stages": _deeper_stages()}),
                            FIXTURES / "resnet_basic.pth")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def _spec_dict(name: str) -> dict:
    import yaml

    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())


def _deeper_stages() -> list[dict]:
    stages = _spec_dict("resnet_basic")["stages"]
    return [stages[0], stages[1], {**stages[2], "depth": 2}, stages[3]]


def _hostile_pickle(target: Path) -> bytes:
    class Payload:  # unpickling it with pickle.load would create ``target``
        def __reduce__(self):
            return (open, (str(target), "w"))

    return pickle.dumps({"conv1.weight": Payload()}, protocol=2)


def test_a_model_without_classifier_leaves_the_files_classifier_unused():
    import keras

    full = _fixture_model("resnet_basic")
    backbone = keras.Model(full.input, full.get_layer("conv5_block1_out").output)
    loaded = load_source_weights(backbone, FIXTURES / "resnet_basic.pth")
    assert loaded.unused_head == 2  # fc.weight, fc.bias
    with pytest.raises(WeightsFileError, match="tensor 'layer4.0.conv1.weight'.*fits no layer"):
        load_source_weights(keras.Model(full.input, full.get_layer("conv4_block1_out").output),
                            FIXTURES / "resnet_basic.pth")


def test_a_pickle_that_would_create_a_file_is_refused_without_running(tmp_path):
    target = tmp_path / "pwned"
    archive = tmp_path / "hostile.pth"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("hostile/data.pkl", _hostile_pickle(target))
        z.writestr("hostile/version", "3\n")
    legacy = tmp_path / "hostile_legacy.pth"
    legacy.write_bytes(_hostile_pickle(target))
    for path in (archive, legacy):
        with pytest.raises(WeightsFileError, match=r"refusing to read it.*names (io|builtins)\.open"):
            open_tensors(path)
    assert not target.exists()
    pickle.load(io.BytesIO(_hostile_pickle(target)))["conv1.weight"].close()  # the payload is real: pickle runs it
    assert target.exists()


@pytest.mark.parametrize("name", ["resnet_basic.pth", "densenet.pth", "resnext_se.safetensors"])
@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.5, 0.999])
def test_truncated_files_are_refused(tmp_path, name, fraction):
    data = (FIXTURES / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(WeightsFileError, match=str(cut)):
        with open_tensors(cut) as tensors:
            for k in tensors.shapes:
                tensors.read(k)


def test_cli_refuses_a_hostile_file_in_one_paragraph(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    path.write_bytes(_hostile_pickle(target))
    out = tmp_path / "out.keras"
    result = CliRunner().invoke(main, ["build", str(FIXTURES / "resnet_basic.yaml"), "--weights", str(path),
                                       "--save", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {path}: refusing") and "Traceback" not in result.output
    assert not target.exists() and not out.exists()


def test_cli_builds_with_a_pth_file():
    result = CliRunner().invoke(main, ["build", str(FIXTURES / "resnet_basic.yaml"), "--weights",
                                       str(FIXTURES / "resnet_basic.pth"), "--json"])
    assert result.exit_code == 0, result.output


def test_evonorm_b0_keeps_a_moving_variance_as_timm_does():
    """Training updates running_var as timm's EvoNorm2dB0 (momentum 0.1 in PyTorch's terms, the unbiased variance),
    and inference divides by it."""
    from archspec.keras.layers import EvoNormB0

    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    layer = EvoNormB0(0.9, epsilon=1e-3)
    layer(x, training=True)
    n = x.size // x.shape[-1]
    np.testing.assert_allclose(layer.running_var.numpy(), 0.9 + 0.1 * x.var(axis=(0, 1, 2)) * n / (n - 1), rtol=1e-5)
    instance_std = np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-3)
    expected = x / np.maximum(np.sqrt(layer.running_var.numpy() + 1e-3), x + instance_std)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-5, atol=1e-6)
