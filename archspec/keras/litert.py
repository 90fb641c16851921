"""`archspec export --format litert`: a ``.tflite`` file, in float32 or quantized, run back in the LiteRT
interpreter before it is kept.

The converted model is the built-in form (``portable``): its zero padding after the stem's ReLU gives the max
pool what archspec's -inf padding does, and keeps int8's scales finite (a -inf constant gives the pad and pool
a scale of 1e36, which XNNPACK refuses to prepare). The check runs in a separate Python where TensorFlow,
Keras and archspec cannot be imported, as on a device: the one running archspec, or the one named by
``ARCHSPEC_LITERT_PYTHON`` (a venv holding ai-edge-litert alone).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np

from ..spec.errors import RunError
from ..spec.schema import ModelSpec
from ..utils.atomic import replacing
from .export import (
    TOLERANCE,
    check_format,
    check_out,
    default_path,
    example_shape,
    export,
    float32,
    load_source,
    named_outputs,
)
from .portable import portable
from .quiet import stderr_captured

Quantization = Literal["none", "float16", "dynamic", "int8"]
LITERT_HINT = "pip install 'archspec[litert]' (ai-edge-litert)"
PYTHON_VARIABLE = "ARCHSPEC_LITERT_PYTHON"
RANDOM_IMAGES = 8  # checked where no calibration images are given
Calibration = Callable[[keras.Model, "ModelSpec | None"], np.ndarray]  # (model, spec) -> images, float32 0..255

# The interpreter's run of each file on its images: inputs quantized and outputs dequantized as the file says,
# one image at a time (a device's batch), with the mean time per image.
SCRIPT = """
import json, sys, time

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("archspec", "tensorflow", "keras"):
            raise ImportError(name + " cannot be imported in this check")

sys.meta_path.insert(0, Blocked())
import numpy as np
from ai_edge_litert.interpreter import Interpreter

model, images, outputs = sys.argv[1:4]
interpreter = Interpreter(model_path=model)
run = interpreter.get_signature_runner()
(name, inp), = run.get_input_details().items()
details = run.get_output_details()

def quantized(x, d):
    scale, zero = d["quantization"]
    if not scale:
        return x.astype(d["dtype"])
    info = np.iinfo(d["dtype"])
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(d["dtype"])

def real(y, d):
    scale, zero = d["quantization"]
    return (y.astype(np.float32) - zero) * scale if scale else y.astype(np.float32)

x = np.load(images)
got, start = [], time.perf_counter()
for image in x:
    got.append({k: real(v, details[k]) for k, v in run(**{name: quantized(image[None], inp)}).items()})
seconds = (time.perf_counter() - start) / len(x)
np.savez(outputs, **{k: np.concatenate([g[k] for g in got]) for k in details})
print(json.dumps({"input": np.dtype(inp["dtype"]).name, "output": ", ".join(sorted({np.dtype(d["dtype"]).name
                  for d in details.values()})), "seconds": seconds}))
"""


@dataclass(frozen=True)
class Run:
    """The interpreter's outputs for some images, by name, its tensor types and its time per image."""

    outputs: dict[str, np.ndarray]
    input_type: str
    output_type: str
    seconds: float


@dataclass(frozen=True)
class Report:
    """What the run-back found: float32 against Keras, a quantized model against the float one."""

    path: Path
    quantize: Quantization
    input_type: str
    output_type: str
    images: int
    on: str  # which images: "calibration images" or "random images"
    difference: float  # largest output difference (relative to outputs larger than 1); probabilities for a classifier
    agreement: float | None  # share of images whose top-1 class is the float model's (a quantized classifier)

    def describe(self) -> str:
        kind = "float32" if self.quantize == "none" else f"{self.quantize}-quantized"
        head = f"wrote {self.path} (litert, {kind}; input {self.input_type}, output {self.output_type})"
        if self.agreement is None:
            what = "Keras" if self.quantize == "none" else "the float model"
            within = f"within {self.difference:.1g}" if self.difference else "exactly"
            return f"{head}; run in LiteRT, its outputs match {what} {within} on {self.on}"
        return (f"{head}; run in LiteRT on {self.images} {self.on}, its top-1 class is the float model's on "
                f"{self.agreement:.1%}, its probabilities at most {self.difference:.2g} away")


def check_litert(quantize: Quantization, calibrated: bool) -> None:
    """Refuse, before anything is loaded, an int8 export without calibration images, and one that cannot be
    run back because no Python with ai-edge-litert is there."""
    if quantize == "int8" and not calibrated:
        raise RunError("--quantize int8 needs --calibration DIR, a folder of images like those the model will see "
                       "(int8 takes its value ranges from them)")
    python = os.environ.get(PYTHON_VARIABLE)
    if python is None and importlib.util.find_spec("ai_edge_litert") is None:
        raise RunError(f"a LiteRT export is run back in the LiteRT interpreter, which is not installed: {LITERT_HINT}, "
                       f"or set {PYTHON_VARIABLE} to a Python that has it")
    if python is not None and not Path(python).is_file():
        raise RunError(f"{PYTHON_VARIABLE}={python}: no such Python")


def convert(model: keras.Model, quantize: Quantization, calibration: np.ndarray | None = None) -> bytes:
    """``model``'s built-in form in float32 as a LiteRT flatbuffer, quantized as asked (int8: every operation
    and the input and output in int8, ranges from ``calibration``); RunError naming the operation LiteRT lacks."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        export(portable(float32(model)), "savedmodel", Path(folder) / "model")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(folder) / "model"))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            converter.representative_dataset = lambda: ([image[None]] for image in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        with stderr_captured():  # the converter's C++ notices; its errors are raised, not printed
            try:
                return converter.convert()
            except Exception as error:  # the converter's and calibrator's own errors, of several classes
                cause = _cause(error, {layer.name for layer in model.layers})
    raise RunError(f"{model.name} cannot be converted to LiteRT ({quantize}): {cause}")


def _cause(error: Exception, layers: set[str]) -> str:
    """The operation LiteRT lacks and the Keras layer (of ``layers``) it comes from, from the converter's
    MLIR diagnostic; the diagnostic's first line, its locations cut, where it names no operation."""
    text = str(error)
    op = re.search(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)
    if op is None:
        line = next((line for line in text.splitlines() if "error:" in line), text.splitlines()[0] if text else "")
        return re.sub(r"^.*?error:\s*", "", line).strip() or type(error).__name__
    scopes = re.findall(r'"[^"/]+/([^"/]+)/[^"]*@', text)  # model/layer/op@function: TensorFlow's name scopes
    layer = next((name for scope in scopes for name in (scope, re.sub(r"_\d+$", "", scope)) if name in layers), None)
    where = f"layer '{layer}' needs" if layer else "it needs"
    return f"{where} TensorFlow's {op.group(1)}, which LiteRT's built-in operations do not include"


def interpret(path: Path, images: np.ndarray) -> Run:
    """``path`` run on ``images`` (float32, 0..255) by the LiteRT interpreter in a Python without TensorFlow,
    Keras or archspec; a RunError, with the interpreter's last word, where it cannot run the file."""
    python = os.environ.get(PYTHON_VARIABLE, sys.executable)
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "images.npy", images.astype(np.float32))
        done = subprocess.run([python, "-I", "-c", SCRIPT, str(path), str(Path(folder) / "images.npy"),
                               str(Path(folder) / "outputs.npz")], capture_output=True, text=True)
        if done.returncode:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"it stopped with exit status {done.returncode}"
            raise RunError(f"the LiteRT interpreter cannot run it: {last}")
        meta = json.loads(done.stdout.strip().splitlines()[-1])
        with np.load(Path(folder) / "outputs.npz") as arrays:
            outputs = {name: arrays[name] for name in arrays.files}
    return Run(outputs, meta["input"], meta["output"], meta["seconds"])


def compare(expected: dict[str, np.ndarray], run: Run) -> tuple[float, float | None]:
    """The largest difference from ``expected`` (Keras's outputs), and for a classifier the share of images
    whose top-1 class agrees; the interpreter names its outputs ``output_0``... in Keras's order."""
    got = dict(zip(expected, run.outputs.values())) if "output" in expected else run.outputs
    if got.keys() != expected.keys() or any(got[k].shape != v.shape for k, v in expected.items()):
        return float("inf"), None
    difference = max(float(np.max(np.abs(got[k] - v)) / max(1.0, np.max(np.abs(v)))) for k, v in expected.items())
    if "output" not in expected or expected["output"].ndim != 2:
        return difference, None
    return difference, float(np.mean(np.argmax(got["output"], -1) == np.argmax(expected["output"], -1)))


def softmax_gain(model: keras.Model, images: np.ndarray) -> float:
    """How much a softmax classifier's probabilities may move for a change of its logits within the tolerance:
    max(1, the largest |logit| on ``images``), 1 for any other output. A rounding relative to the logits moves
    a probability by at most that much, and an untrained deep net's logits reach thousands (its saturated
    softmax turns a float32 reordering of sums in the converter into differences of 1e-4 and more)."""
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.get_config()["activation"] != "softmax":
        return 1.0
    features = keras.Model(model.input, last.input)(images, training=False)
    logits = keras.ops.matmul(features, last.kernel) + (last.bias if last.use_bias else 0.0)
    return max(1.0, float(np.max(np.abs(keras.ops.convert_to_numpy(logits)))))


def write(model: keras.Model, quantize: Quantization, out: Path, calibration: np.ndarray | None = None) -> Report:
    """Convert, run the file back on the calibration images (or random ones) and only then put it at ``out``:
    a file LiteRT cannot run, or a float one that differs from Keras by more than ``TOLERANCE`` (carried through
    a softmax by ``softmax_gain``), is not kept."""
    images = calibration if calibration is not None else np.random.default_rng(0).uniform(
        0, 255, (RANDOM_IMAGES, *example_shape(model))).astype(np.float32)
    on = "calibration images" if calibration is not None else "random images"
    flatbuffer = convert(model, quantize, calibration)
    reference = float32(model)
    expected = named_outputs(reference(images, training=False))
    tolerance = TOLERANCE * softmax_gain(reference, images)
    with replacing(out) as tmp:
        tmp.write_bytes(flatbuffer)
        try:
            run = interpret(tmp, images)
        except RunError as error:
            raise RunError(f"{model.name} converts to LiteRT ({quantize}) but {error}; nothing was written") from None
        difference, agreement = compare(expected, run)
        if quantize == "none" and difference > tolerance:
            raise RunError(f"the LiteRT file gives outputs up to {difference:.3e} away from Keras's (more than "
                           f"{tolerance:.3g}); nothing was written")
    return Report(out, quantize, run.input_type, run.output_type, len(images), on, difference,
                  None if quantize == "none" else agreement)


def run(source: str, quantize: Quantization = "none", out: Path | None = None,
        overrides: dict[str, Any] | None = None, *, calibration: Calibration | None = None, force: bool = False,
        weights: str | None = None) -> Report:
    """Load or build, convert, check, write (see ``write``); ``calibration`` reads the images for the model."""
    check_format("litert")
    check_litert(quantize, calibration is not None)
    if out is not None:
        check_out(out, "litert", force)
    model, spec = load_source(source, overrides, weights)
    if out is None:
        out = default_path(model, "litert")
        check_out(out, "litert", force)
    return write(model, quantize, out, calibration(model, spec) if calibration else None)
