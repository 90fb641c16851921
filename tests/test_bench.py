"""A smoke test of `archspec bench`: a tiny model, one step; real figures live in benchmarks/."""

from __future__ import annotations

import json

import keras
import pytest
from click.testing import CliRunner

from archspec.cli import main

pytestmark = pytest.mark.backend_neutral  # CI runs these on every Keras backend

TINY = """\
name: tiny
input_shape: [16, 16, 3]
num_classes: 4
stem: {type: cifar, width: 8}
stages:
  - {type: bottleneck, depth: 1, width: 4, groups: 2, base_width: 32}
"""


def test_bench_reports_every_figure_for_a_tiny_model(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = CliRunner().invoke(main, ["bench", str(spec), "--batch-size", "2", "--steps", "1", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["model"] == "tiny" and figures["batch_size"] == 2
    for key in ("build_s", "inference_img_s", "train_img_s", "train_step_s"):
        assert figures[key] > 0, key
    if keras.backend.backend() == "tensorflow":  # JAX and torch keep no allocator peak on the CPU
        assert figures["peak_memory_mb"] >= 0  # a model this small may stay under the allocator's tracking
    else:
        assert figures["peak_memory_mb"] is None


def test_compare_needs_a_keras_equivalent():
    result = CliRunner().invoke(main, ["bench", "cifar_resnet20", "--compare", "keras"])
    assert result.exit_code == 1 and "no keras.applications equivalent" in result.output
