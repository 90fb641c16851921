"""Weights out to the PyTorch side: every family's mapping writes back, tensor for tensor and bit for bit, the
file PyTorch wrote (the narrow fixtures of scripts/torch_reference.py); the writers' files read back exactly,
by archspec and by torch's own ``torch.load(weights_only=True)`` where torch is installed; and the command
names the network, says which ``num_classes`` to pass, refuses networks no library has (naming the nearest),
never overwrites without ``--force`` and never leaves a half-written file. Loading the files into timm's and
torchvision's own models is tests/test_export_torch.py's."""

from __future__ import annotations

import errno
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.keras.build import build_model
from archspec.keras.model_io import save_model
from archspec.keras.weights import writers
from archspec.keras.weights.registry import COUNTER, registry
from archspec.keras.weights.tensors import open_tensors
from archspec.keras.weights.transfer import check_fit, load_source_weights, state_dict
from archspec.keras.weights_export import export_weights
from archspec.spec.errors import RunError

from .weights_helpers import FIXTURES, build_for_source

FIXTURE_FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".pth", ".safetensors"))
TORCH = importlib.util.find_spec("torch") is not None


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def registry_tensors(entry: str, library: str) -> dict[str, tuple[int, ...]]:
    return next(n.tensors for n in registry() if n.entry == entry and n.library == library)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.stem for p in FIXTURE_FILES])
def test_every_family_writes_back_the_file_pytorch_wrote(path):
    model = build_for_source(FIXTURES / f"{path.stem}.yaml")
    load_source_weights(model, path)
    with open_tensors(path) as original:
        family = check_fit(model, original.shapes, path).family
        written = state_dict(model, family)
        names = {family.rename(name): name for name in original.shapes}  # the legacy DenseNet's old names
        assert {n for n in written if not n.endswith(COUNTER)} == set(names)
        for name, array in written.items():
            if name.endswith(COUNTER):
                assert array.dtype == np.int64 and array.shape == ()
                assert f"{name[:-len(COUNTER)]}running_var" in written  # one beside each batch norm, as torch keeps
                continue
            expected = original.read(names[name])
            assert array.dtype == expected.dtype and array.shape == expected.shape, name
            assert np.array_equal(array, expected), name


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"conv.weight": rng.normal(size=(8, 3, 3, 3)).astype(np.float32),
            "bn.running_var": rng.uniform(0.5, 2, 8).astype(np.float32),
            "bn.num_batches_tracked": np.zeros((), np.int64),
            "fc.weight": rng.normal(size=(10, 8)).astype(np.float32), "empty": np.zeros((0, 4), np.float32)}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("dtype", [None, "float16", "bfloat16"])
def test_written_files_read_back_exactly(tmp_path, suffix, dtype):
    tensors = writers.cast(sample_tensors(), dtype)
    path = tmp_path / f"w{suffix}"
    (writers.write_pth if suffix == ".pth" else writers.write_safetensors)(tensors, path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # nothing beside it
    with open_tensors(path) as read:
        assert set(read.shapes) == set(tensors) - {"bn.num_batches_tracked"}  # counters are not weights
        for name in read.shapes:
            assert np.array_equal(read.read(name), tensors[name].astype(np.float32)), name
    if dtype:
        assert tensors["conv.weight"].dtype.name == dtype and tensors["bn.num_batches_tracked"].dtype == np.int64


def test_a_pth_pickle_names_only_a_state_dicts_globals_and_aligns_its_storages(tmp_path):
    import pickletools
    import zipfile

    path = tmp_path / "w.pth"
    writers.write_pth(sample_tensors(), path)
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read("archive/data.pkl")
        offsets = {i.filename: i.header_offset for i in archive.infolist()}
    globals_named = {arg for op, arg, _ in pickletools.genops(pickled) if op.name == "GLOBAL"}
    assert globals_named == {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch FloatStorage",
                             "torch LongStorage"}
    data = path.read_bytes()
    for name, start in offsets.items():
        if "/data/" in name:
            name_length, extra = np.frombuffer(data[start + 26:start + 30], "<u2")
            assert (start + 30 + name_length + extra) % writers.ALIGNMENT == 0, name


@pytest.mark.skipif(not TORCH, reason="torch is not installed (the test extra installs it)")
def test_torch_load_reads_the_written_files(tmp_path):
    tensors = sample_tensors()
    writers.write_pth(tensors, tmp_path / "w.pth")
    writers.write_safetensors(writers.cast(tensors, "bfloat16"), tmp_path / "w.safetensors")
    np.savez(tmp_path / "expected.npz", **tensors)
    script = f"""
import numpy as np, torch
from safetensors.torch import load_file
expected = np.load({str(tmp_path / 'expected.npz')!r})
files = (({str(tmp_path / 'w.pth')!r}, torch.float32), ({str(tmp_path / 'w.safetensors')!r}, torch.bfloat16))
for path, dtype in files:
    state = torch.load(path, weights_only=True) if path.endswith(".pth") else load_file(path)
    assert list(state) == list(expected), list(state)
    for name, tensor in state.items():
        want = torch.from_numpy(expected[name])
        assert tensor.shape == want.shape and tensor.dtype == (want.dtype if name.endswith("tracked") else dtype)
        assert torch.equal(tensor, want.to(tensor.dtype)), name
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_export_writes_the_registry_state_dict_and_says_which_num_classes(tmp_path):
    out = tmp_path / "tuned.pth"
    result = cli("export", "resnet18", "--format", "torchvision", "--num-classes", "10", "--input-size", "32",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "torchvision's resnet18" in result.output and "pass num_classes=10" in result.output
    assert 'torchvision.models.get_model("resnet18", num_classes=10)' in result.output
    expected = dict(registry_tensors("resnet18", "torchvision"), **{"fc.weight": (10, 512), "fc.bias": (10,)})
    with open_tensors(out) as read:
        assert read.shapes == {k: v for k, v in expected.items() if not k.endswith(COUNTER)}


@pytest.mark.backend_neutral
def test_a_spec_that_is_a_registry_network_exports_under_that_name(tmp_path):
    model = build_model(Path(__file__).parents[1] / "specs" / "resnext50.yaml", input_size=32)
    exported = export_weights(model, "torchvision", tmp_path / "r.safetensors")  # no spec: the function is checked
    assert (exported.model, exported.num_classes, exported.changed_head, exported.difference) == (
        "resnext50_32x4d", 1000, False, 0.0)
    twin = export_weights(model, "timm", tmp_path / "t.safetensors")  # timm's resnext50_32x4d is torchvision's
    assert twin.model == "resnext50_32x4d" and twin.library == "timm"


def test_a_network_no_library_has_is_refused_naming_the_nearest(tmp_path):
    out = tmp_path / "r.safetensors"
    result = cli("export", "resnet26", "--format", "torchvision", "--input-size", "32", "--out", str(out))
    assert result.exit_code == 1 and "is not one of torchvision's networks" in result.output
    assert "nearest is resnet50" in result.output and "layer1.2.conv1.weight" in result.output
    assert "Traceback" not in result.output and not out.exists() and list(tmp_path.iterdir()) == []


def test_the_same_tensors_computing_another_function_are_refused(tmp_path):
    spec = {"extends": "resnet18", "name": "swish18", "defaults": {"activation": "swish"}}
    with pytest.raises(RunError, match="has the tensors of torchvision's resnet18 but computes another function"):
        export_weights(build_model(spec, input_size=32), "torchvision", tmp_path / "r.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_needs_force_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "r.safetensors"
    out.write_bytes(b"keep")
    args = ["export", "resnet18", "--format", "timm", "--input-size", "32", "--out", str(out)]
    result = cli(*args)
    assert result.exit_code == 1 and "exists: pass --force" in result.output and out.read_bytes() == b"keep"

    def full_disk(array: np.ndarray) -> bytes:  # the disk fills once the header is written
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(writers, "_bytes", full_disk)
        result = cli(*args, "--force")
    assert result.exit_code == 1 and "No space left" in result.output and "Traceback" not in result.output
    assert out.read_bytes() == b"keep" and [p.name for p in tmp_path.iterdir()] == ["r.safetensors"]
    result = cli(*args, "--force")
    assert result.exit_code == 0, result.output
    with open_tensors(out) as read:
        assert "layer1.0.conv1.weight" in read.shapes


def test_options_that_belong_to_other_formats_are_refused(tmp_path):
    result = cli("export", "resnet18", "--format", "keras", "--dtype", "float16", "--out", str(tmp_path / "m.keras"))
    assert result.exit_code == 1 and "--dtype applies to --format timm or torchvision" in result.output
    result = cli("export", "resnet18", "--format", "torchvision", "--hub", "--out", str(tmp_path / "hub"))
    assert result.exit_code == 1 and "goes with --format timm" in result.output
    result = cli("export", "resnet18", "--format", "timm", "--out", str(tmp_path / "r.onnx"))
    assert result.exit_code == 1 and ".safetensors (the default) or .pth" in result.output
    backbone = build_model("resnet18", input_size=32, features=True)
    with pytest.raises(RunError, match=r"a backbone with \d+ feature-map outputs"):
        export_weights(backbone, "timm", tmp_path / "b.safetensors")


def test_a_pooled_backbone_exports_as_timms_headless_model(tmp_path):
    pooled = build_model("resnet18", input_size=32, features=True, pooling="avg")
    exported = export_weights(pooled, "timm", tmp_path / "b.safetensors")
    assert (exported.model, exported.num_classes, exported.changed_head) == ("resnet18", 0, True)
    assert 'timm.create_model("resnet18", num_classes=0)' in exported.how_to_load()
    with open_tensors(tmp_path / "b.safetensors") as read:
        assert not any(name.startswith("fc.") for name in read.shapes)


def test_a_trained_checkpoint_exports_as_a_timm_hub_folder_with_its_classes(tmp_path):
    model = build_model("resnet18", input_size=32, num_classes=3)
    run = tmp_path / "run"
    run.mkdir()
    save_model(model, run / "best.keras")
    (run / "classes.json").write_text(json.dumps(["cat", "dog", "fox"]))
    hub = tmp_path / "resnet18-pets"
    result = cli("export", str(run / "best.keras"), "--format", "timm", "--hub", "--dtype", "bfloat16",
                 "--out", str(hub))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in hub.iterdir()) == ["config.json", "model.safetensors"]
    assert f'timm.create_model("local-dir:{hub}", pretrained=True)' in result.output and "bfloat16" in result.output
    config = json.loads((hub / "config.json").read_text())
    assert config["architecture"] == "resnet18" and config["num_classes"] == 3 and config["num_features"] == 512
    assert config["label_names"] == ["cat", "dog", "fox"]
    cfg = config["pretrained_cfg"]
    assert cfg["input_size"] == [3, 32, 32] and cfg["first_conv"] == "conv1" and cfg["classifier"] == "fc"
    np.testing.assert_allclose(cfg["mean"], [0.485, 0.456, 0.406], rtol=1e-6)  # resnet18's preprocess: imagenet
    np.testing.assert_allclose(cfg["std"], [0.229, 0.224, 0.225], rtol=1e-6)
    header_length = int.from_bytes((hub / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((hub / "model.safetensors").read_bytes()[8:8 + header_length])
    assert header["conv1.weight"]["dtype"] == "BF16" and header["bn1.num_batches_tracked"]["dtype"] == "I64"
    assert header["__metadata__"]["architecture"] == "resnet18"


def test_the_class_count_is_the_last_head_layers_and_a_headless_dict_fits_num_classes_0():
    from archspec.keras.weights.families import family_of
    from archspec.keras.weights.registry import Match, fit

    vgg = next(n for n in registry() if n.entry == "vgg11" and n.library == "torchvision")
    head = family_of(set(vgg.tensors)).head
    tuned = dict(vgg.tensors, **{"classifier.6.weight": (10, 4096), "classifier.6.bias": (10,)})
    assert fit(tuned, vgg, head) == Match(vgg, 10, True)  # VGG's head is three layers; the last counts the classes
    assert fit(dict(vgg.tensors), vgg, head) == Match(vgg, 1000, False)
    headless = {k: v for k, v in vgg.tensors.items() if not k.startswith("classifier.")}
    assert fit(headless, vgg, head) == Match(vgg, 0, True)
    wider = dict(vgg.tensors, **{"features.0.weight": (32, 3, 3, 3)})
    assert fit(wider, vgg, head) == "tensor 'features.0.weight' is [32, 3, 3, 3] in the model, [64, 3, 3, 3] in vgg11"
