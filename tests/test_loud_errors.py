"""Where archspec used to stay silent or leak TensorFlow's internals: each case is one paragraph now."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from archspec.cli import main
from archspec.cli.common import Failure
from archspec.spec.errors import RunError
from archspec.train.data import open_data


def test_multiworker_without_tf_config_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["train", "cifar_resnet20", "--strategy", "multiworker",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "TF_CONFIG is not set" in result.output
    assert "--strategy mirrored" in result.output and not (tmp_path / "run").exists()


@pytest.mark.parametrize("typo,meant", [("digts", "digits"), ("foldr:photos", "folder:photos"),
                                        ("tfrecrd:a-*", "tfrecord:a-*")])
def test_a_mistyped_data_source_gets_a_suggestion(typo, meant):
    with pytest.raises(RunError, match=re.escape(f"did you mean '{meant}'")):
        open_data(typo, validation_split=0.1, seed=0, synthetic_classes=2)


def test_an_image_that_does_not_decode_is_named_without_tensorflows_internals(tmp_path):
    for name in ("0", "1"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "data" / name / "fine.png")
    broken = tmp_path / "data" / "1" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    model = tmp_path / "net.keras"
    assert CliRunner().invoke(main, ["build", "cifar_resnet20", "--num-classes", "2", "--save", str(model)]).exit_code == 0
    result = CliRunner().invoke(main, ["evaluate", str(model), "--data", f"folder:{tmp_path / 'data'}"])
    assert result.exit_code == 1 and "1 of the 3 images" in result.output, result.output  # checked before evaluating
    assert f"'{broken}': truncated" in result.output
    assert "{{" not in result.output and "Traceback" not in result.output


def test_failures_never_print_tensorflows_node_names(capsys):
    Failure("cannot read it: Invalid JPEG data {{function_node __inference_one_step_123}} "
            "{{node DecodeJpeg}} and more").show()
    assert capsys.readouterr().err == "error: cannot read it: Invalid JPEG data and more\n"


@pytest.mark.parametrize("args", [["evaluate", "resnet50", "--wieghts", "torchvision", "--data", "digits"],
                                  ["predict", "resnet50"], ["train", "resnet50", "--strategy", "mirorred"],
                                  ["evaluate", "resnet50", "--data", "digits"]])
def test_argument_errors_come_before_tensorflow_is_imported(args):
    """A typo costs well under a second: TensorFlow (seconds to import) is loaded only once the command runs."""
    import subprocess
    import sys

    probe = (f"import sys\nfrom archspec.cli import main\ntry:\n    main({args!r})\nexcept SystemExit as exit:\n"
             f"    print('exit', exit.code, 'tensorflow' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] in ("exit 2 False", "exit 1 False"), done.stderr


def test_weight_sources_say_which_one_an_entry_has_and_what_a_typo_meant():
    imagenet = CliRunner().invoke(main, ["build", "resnet50", "--weights", "imagenet"])
    assert imagenet.exit_code == 1 and "resnet50 is torchvision's resnet50: use --weights torchvision" in imagenet.output
    typo = CliRunner().invoke(main, ["build", "resnet50", "--weights", "torchvison:IMAGENET1K_V2"])
    assert typo.exit_code == 1 and "did you mean 'torchvision:IMAGENET1K_V2'?" in typo.output, typo.output
    tag = CliRunner().invoke(main, ["build", "resnet50", "--weights", "torchvision:IMAGENET1K_V3"])
    assert tag.exit_code == 1 and "did you mean torchvision:IMAGENET1K_V2?" in tag.output, tag.output


def test_an_unreachable_hub_fails_at_once(monkeypatch, tmp_path):
    """huggingface_hub retries an unreachable hub for about 30 s; archspec asks it only once the host answers."""
    import time

    pytest.importorskip("huggingface_hub")
    from archspec.graph.load import load_spec
    from archspec.keras.weights.sources import resolve
    from archspec.keras.weights.torch_pickle import WeightsFileError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "https://archspec-test.invalid")
    start = time.monotonic()
    with pytest.raises(WeightsFileError, match="archspec-test.invalid cannot be reached.*download it from"):
        resolve(load_spec("se_resnet50"), "timm")
    assert time.monotonic() - start < 10
