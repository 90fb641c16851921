"""VGG in the zoo (plain stages with max-pool downsampling, no norm; a flatten head with hidden
layers) and `archspec zoo compare`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from archspec import complexity
from archspec.cli import main
from archspec.graph.load import load_spec
from archspec.graph.plan import plan

# torchvision's vgg11/16/19: params and GMACs (the reference.yaml test checks them too, within 1%)
TORCHVISION = {"vgg11": (132_863_336, 7.609), "vgg16": (138_357_544, 15.470), "vgg19": (143_667_240, 19.632)}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_vgg_figures_equal_torchvision(name):
    params, gmacs = TORCHVISION[name]
    c = complexity(name)
    assert c.params == params
    assert abs(c.macs / 1e9 - gmacs) / gmacs < 0.01
    assert c.depth == int(name[3:])


def test_vgg_layers_are_torchvision_s():
    nodes = plan(load_spec("vgg16")).nodes
    ops = [n.op for n in nodes]
    assert "norm" not in ops and ops.count("pool") == 5  # four opening the stages, one closing the last
    assert all(n.attrs["bias"] for n in nodes if n.op == "conv")
    flat = next(n for n in nodes if n.op == "flatten")
    assert flat.shape == (7 * 7 * 512,)
    assert [n.name for n in nodes[-6:]] == ["flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]


def test_cifar_vgg_has_batch_norm_and_a_512_wide_classifier():
    c = complexity("cifar_vgg16")
    assert c.params == 14_728_266  # kuangliu/pytorch-cifar VGG('VGG16'): 13 conv-BN-ReLU, Linear(512, 10)
    assert c.parts[-1].params == 512 * 10 + 10


def test_built_vgg_matches_the_plan():
    import archspec

    model = archspec.build_model("cifar_vgg11", input_size=32)
    assert model.count_params() == complexity("cifar_vgg11").total_params
    assert model.get_layer("conv3_pool").__class__.__name__ == "MaxPooling2D"


def test_zoo_compare_prints_the_three_nets_per_stage(tmp_path):
    png = tmp_path / "fig3.png"
    result = CliRunner().invoke(main, ["zoo", "compare", "vgg19", "plain34", "resnet34", "--png", str(png)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:5] == ["vgg19", "19", "45", "143,667,240", "19.632"]  # 45 layers: preprocess, 44 of its own
    assert any(line.startswith("stage5") for line in lines)  # VGG's fifth stage, "-" for the others
    assert png.stat().st_size > 1000


def test_zoo_compare_names_a_bad_spec():
    result = CliRunner().invoke(main, ["zoo", "compare", "vgg19", "vgg91"])
    assert result.exit_code == 1
    assert "vgg91" in result.output
