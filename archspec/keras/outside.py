"""Running an exported model as its receiver would: a fresh Python where archspec cannot be imported (however it
is installed) loads it with the format's own reader (plain Keras for a ``.keras`` file, TensorFlow for a
SavedModel folder, onnxruntime for an ``.onnx`` file), so a file that needs archspec fails here, not at the
receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..spec.errors import RunError

# -I: no PYTHONPATH, user site or working directory on sys.path; the blocker stops an installed archspec.
SCRIPT = """
import sys

class NoArchspec:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "archspec":
            raise ImportError("archspec cannot be imported in this check")

sys.meta_path.insert(0, NoArchspec())
sys.setrecursionlimit(20000)  # Keras loads a 1000-layer functional model recursively
import os

import numpy as np


def run(path, x):
    if path.endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        arrays = session.run(None, {session.get_inputs()[0].name: x})
        return dict(zip([o.name for o in session.get_outputs()], arrays)) if len(arrays) > 1 else arrays[0]
    if os.path.isdir(path):
        import tensorflow as tf

        served = tf.saved_model.load(path)  # kept referenced while its function runs
        return served.serve(x)
    import keras

    outputs = keras.saving.load_model(path, safe_mode=True, compile=False)(x, training=False)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)  # torch's tensors need detaching


for path, inputs, outputs in zip(*[iter(sys.argv[1:])] * 3):
    try:
        y = run(path, np.load(inputs))
    except Exception as error:
        sys.exit(f"{path}: {type(error).__name__}: {' '.join(str(error).split())}")
    arrays = y if isinstance(y, dict) else {"output": y}
    np.savez(outputs, **{k: np.asarray(v) for k, v in arrays.items()})
"""


def outputs_without_archspec(files: dict[Path, np.ndarray]) -> dict[Path, dict[str, np.ndarray]]:
    """The outputs, by name (``output`` for a single one), that each exported model (a ``.keras`` or ``.onnx``
    file, a SavedModel folder) gives for its inputs when its format's reader loads it in one separate process
    without archspec; a RunError says which did not load, and why."""
    with tempfile.TemporaryDirectory() as folder:
        args = []
        for index, (path, x) in enumerate(files.items()):
            np.save(Path(folder) / f"{index}.npy", x)
            args += [str(path), str(Path(folder) / f"{index}.npy"), str(Path(folder) / f"{index}.npz")]
        done = subprocess.run([sys.executable, "-I", "-c", SCRIPT, *args], capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RunError(f"without archspec, its reader cannot load {last}")
        outputs = {}
        for index, path in enumerate(files):
            with np.load(Path(folder) / f"{index}.npz") as arrays:
                outputs[path] = {name: arrays[name] for name in arrays.files}
        return outputs
