"""`archspec export --format litert`: float32 within 1e-4 of Keras, float16, dynamic and fully integer int8
files run back in the LiteRT interpreter, the ImageNet stem and BoTNet's attention in int8, and the refusals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from archspec import build_model
from archspec.cli import main
from archspec.graph import load
from archspec.keras import layers, litert
from archspec.train.inference import Transform, calibration_files, calibration_images

needs_litert = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                                  reason="needs the litert extra (ai-edge-litert)")

# A basic block and a grouped bottleneck at 8x8: small enough to convert in seconds.
SMALL = {
    "name": "small", "input_shape": [8, 8, 3], "num_classes": 5, "stem": {"type": "cifar", "width": 8},
    "stages": [{"type": "basic", "depth": 1, "width": 8, "shortcut": "A"},
               {"type": "bottleneck", "depth": 1, "width": 8, "stride": 2, "groups": 2, "base_width": 64}],
}


def images(size: int, count: int = 6) -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def zoo(name: str, size: int):
    spec = load.load_spec(name)
    return build_model(load.load_spec(spec, overrides=load.resized(spec, size, 10)))


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    """PNG files in class folders, and a file that is no image, which calibration passes over."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("calibration")
    for index, pixels in enumerate(images(12, 8).astype(np.uint8)):
        (folder / f"class{index % 2}").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / f"class{index % 2}" / f"{index}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_calibration_reads_the_images_of_a_folder_in_any_layout(calibration):
    files = calibration_files(calibration)
    assert len(files) == 9 and files == calibration_files(calibration)  # a fixed sample, the text file included
    assert calibration_images(files, Transform.of(16, None), 3, 5).shape == (5, 16, 16, 3)
    assert len(calibration_images(files, Transform.of(16, None), 3, 100)) == 8  # the text file passed over


class SixDimensionalBot(layers.RelativeSelfAttention):
    """BoTNet's attention as it was written before LiteRT: its position logits summed in 6-D tensors."""

    def call(self, qkv):
        h, w, n, dq, dv = self.map_height, self.map_width, self.heads, self.dim_qk, self.dim_v
        q = ops.reshape(qkv[..., :n * dq], (-1, h, w, n, dq))
        k = ops.reshape(qkv[..., n * dq:2 * n * dq], (-1, h * w, n, dq))
        v = ops.reshape(qkv[..., 2 * n * dq:], (-1, h * w, n, dv))
        rel_h = ops.einsum("bijnd,ikd->bnijk", q, layers._relative_table(self.height_rel, h, h))
        rel_w = ops.einsum("bijnd,jld->bnijl", q, layers._relative_table(self.width_rel, w, w))
        rel = ops.reshape(rel_h[..., :, None] + rel_w[..., None, :], (-1, n, h * w, h * w))
        logits = ops.einsum("bpnd,bqnd->bnpq", ops.reshape(q, (-1, h * w, n, dq)), k) * dq ** -0.5 + rel
        return ops.reshape(ops.einsum("bnpq,bqnd->bpnd", ops.softmax(logits, axis=-1), v), (-1, h, w, n * dv))


class SevenDimensionalHalo(layers.HaloAttention):
    """HaloNet's attention as it was: blocks reordered in 7-D and 6-D transposes, logits summed in 7-D."""

    def call(self, inputs):
        q, kv = inputs
        n, dq, dv, bs, halo = self.heads, self.dim_qk, self.dim_v, self.block_size, self.halo_size
        rows, cols = kv.shape[1] // bs, kv.shape[2] // bs
        bq, window, blocks = q.shape[1] // rows, bs + 2 * halo, rows * cols
        padded = ops.pad(kv, [[0, 0], [halo, halo], [halo, halo], [0, 0]])
        windows = ops.stack([padded[:, i * bs:i * bs + window, j * bs:j * bs + window, :]
                             for i in range(rows) for j in range(cols)], axis=1)
        windows = ops.reshape(windows, (-1, blocks, window * window, n, dq + dv))
        k, v = windows[..., :dq], windows[..., dq:]
        queries = ops.reshape(ops.transpose(ops.reshape(q, (-1, rows, bq, cols, bq, n, dq)), (0, 1, 3, 2, 4, 5, 6)),
                              (-1, blocks, bq, bq, n, dq))
        rel_h = ops.einsum("bzijnd,ikd->bznijk", queries, layers._relative_table(self.height_rel, bq, window))
        rel_w = ops.einsum("bzijnd,jld->bznijl", queries, layers._relative_table(self.width_rel, bq, window))
        rel = ops.reshape(rel_h[..., :, None] + rel_w[..., None, :], (-1, blocks, n, bq * bq, window * window))
        logits = ops.einsum("bzpnd,bzqnd->bznpq", ops.reshape(queries, (-1, blocks, bq * bq, n, dq)), k)
        out = ops.einsum("bznpq,bzqnd->bzpnd", ops.softmax(logits * dq ** -0.5 + rel, axis=-1), v)
        out = ops.transpose(ops.reshape(out, (-1, rows, cols, bq, bq, n * dv)), (0, 1, 3, 2, 4, 5))
        return ops.reshape(out, (-1, rows * bq, cols * bq, n * dv))


class EinsumPool(layers.AttentionPool):
    """GC's attention pooling as it was: an Einsum, which LiteRT lacks."""

    def call(self, inputs):
        x, logits = inputs
        shape = ops.shape(x)
        weights = ops.softmax(ops.reshape(logits, (shape[0], -1)), axis=-1)
        return ops.reshape(ops.einsum("bpc,bp->bc", ops.reshape(x, (shape[0], -1, shape[3])), weights),
                           (shape[0], 1, 1, shape[3]))


@pytest.mark.parametrize("new, old, shapes", [
    (lambda: layers.RelativeSelfAttention(2, 4, 3), lambda: SixDimensionalBot(2, 4, 3), [(2, 4, 6, 22)]),
    (lambda: layers.HaloAttention(2, 4, 3, 2, 1), lambda: SevenDimensionalHalo(2, 4, 3, 2, 1),
     [(2, 4, 4, 8), (2, 4, 4, 14)]),
    (lambda: layers.HaloAttention(2, 4, 3, 4, 2), lambda: SevenDimensionalHalo(2, 4, 3, 4, 2),
     [(2, 4, 4, 8), (2, 8, 8, 14)]),  # strided queries: two per block side
    (layers.AttentionPool, EinsumPool, [(2, 3, 5, 7), (2, 3, 5, 1)]),
])
def test_the_forms_litert_takes_compute_what_the_layers_computed(new, old, shapes):
    """The attention layers, rewritten in tensors of at most 5 dimensions and without Einsum of a vector,
    give their former outputs bit for bit from the same weights."""
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    layer, before = new(), old()
    expected = ops.convert_to_numpy(before(inputs))
    layer(inputs)
    layer.set_weights(before.get_weights())
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(inputs)), expected)


@needs_litert
@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic",
                                      pytest.param("int8", marks=pytest.mark.slow)])
def test_each_quantization_runs_back(tmp_path, quantize):
    model = build_model(SMALL)
    report = litert.write(model, quantize, tmp_path / "small.tflite", images(8) if quantize == "int8" else None)
    assert (tmp_path / "small.tflite").is_file() and list(tmp_path.iterdir()) == [tmp_path / "small.tflite"]
    if quantize == "none":
        assert report.difference <= 1e-4 and report.agreement is None
        assert (report.input_type, report.output_type) == ("float32", "float32")
    else:
        assert 0 <= report.agreement <= 1 and report.difference < 1
    if quantize == "int8":  # fully integer: pixels in, class scores out, both int8
        assert (report.input_type, report.output_type) == ("int8", "int8")


@needs_litert
@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("resnet18", 64), ("botnet26t_256", 64), ("gcresnet50t", 64),
                                        ("halonet26t", 256)])
def test_int8_runs_for_the_stem_and_attention(tmp_path, name, size):
    """The ImageNet stem's -inf padding is a zero padding in the converted form, so int8's scales stay finite;
    BoTNet's and HaloNet's attention use tensors of at most 5 dimensions, GC's pooling a matmul."""
    report = litert.write(zoo(name, size), "int8", tmp_path / "m.tflite", images(size, 4))
    assert report.input_type == "int8" and report.agreement is not None


@needs_litert
@pytest.mark.slow
def test_a_file_litert_cannot_run_is_not_kept(tmp_path, monkeypatch):
    """Without the built-in form, the stem's -inf padding gives int8 a scale of 1e36 that LiteRT cannot
    prepare: one sentence, and no file."""
    monkeypatch.setattr(litert, "portable", lambda model: model)
    with pytest.raises(litert.RunError, match="converts to LiteRT .int8. but the LiteRT interpreter cannot run it"):
        litert.write(zoo("resnet18", 64), "int8", tmp_path / "m.tflite", images(64, 4))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("activation", ["softmax", None])
def test_the_float_check_carries_the_tolerance_through_a_softmax(activation):
    """An untrained deep net's logits reach thousands, and its saturated softmax turns the converter's float32
    reordering of sums into probability differences past 1e-4: a softmax classifier's tolerance is the logits'
    (relative to those larger than 1), carried through the softmax; any other output keeps its own."""
    x = keras.Input((5,))
    head = keras.layers.Dense(3, activation=activation, kernel_initializer=keras.initializers.RandomNormal(0, 500))
    model = keras.Model(x, head(keras.layers.Dense(4)(x)))
    data = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    features = keras.ops.convert_to_numpy(model.layers[1](data))
    logits = features @ keras.ops.convert_to_numpy(head.kernel) + keras.ops.convert_to_numpy(head.bias)
    expected = max(1.0, float(np.abs(logits).max())) if activation else 1.0
    assert expected > 10 or not activation
    assert litert.softmax_gain(model, data) == pytest.approx(expected, rel=1e-6)


def test_an_operation_litert_lacks_is_named_with_its_layer(tmp_path):
    """GC's pooling as it was written, an Einsum: one sentence naming the layer and the operation."""
    x = keras.Input((4, 4, 3))
    pooled = EinsumPool(name="gc_pool")([x, keras.layers.Conv2D(1, 1)(x)])
    model = keras.Model(x, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(pooled)), name="tiny")
    with pytest.raises(litert.RunError, match=r"^tiny cannot be converted to LiteRT \(none\): layer 'gc_pool' needs "
                                              r"TensorFlow's Einsum, which LiteRT's built-in operations do not include$"):
        litert.write(model, "none", tmp_path / "tiny.tflite")
    assert list(tmp_path.iterdir()) == []


@needs_litert
@pytest.mark.slow
def test_cli_int8_with_calibration_folder(tmp_path, calibration):
    out = tmp_path / "r20.tflite"
    result = CliRunner().invoke(main, ["export", "cifar_resnet20", "--input-size", "12", "--format", "litert",
                                       "--quantize", "int8", "--calibration", str(calibration), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "input int8, output int8" in result.output and "on 8 calibration images" in result.output
    assert out.is_file()


@needs_litert
@pytest.mark.parametrize("args, message", [
    (["--quantize", "int8"], "--quantize int8 needs --calibration DIR"),
    (["--quantize", "int8", "--calibration", "EMPTY"], "holds no readable images (1 files"),
    (["--quantize", "float16", "--format", "onnx"], "--quantize applies to --format litert, not onnx"),
    (["--out", "EXISTS"], "exists: pass --force"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images here")
    (tmp_path / "exists.tflite").write_bytes(b"old")
    args = [{"EMPTY": str(tmp_path / "empty"), "EXISTS": str(tmp_path / "exists.tflite")}.get(a, a) for a in args]
    result = CliRunner().invoke(main, ["export", "cifar_resnet20", "--format", "litert", "--out",
                                       str(tmp_path / "new.tflite"), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "new.tflite").exists() and (tmp_path / "exists.tflite").read_bytes() == b"old"


def test_the_check_runs_in_the_python_named(tmp_path, monkeypatch):
    """ARCHSPEC_LITERT_PYTHON: a venv holding ai-edge-litert alone; a missing one is refused before any work."""
    monkeypatch.setenv(litert.PYTHON_VARIABLE, str(tmp_path / "no-python"))
    with pytest.raises(litert.RunError, match="ARCHSPEC_LITERT_PYTHON=.*no-python: no such Python"):
        litert.run("cifar_resnet20", out=tmp_path / "r20.tflite")
