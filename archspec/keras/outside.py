"""Running a written ``.keras`` file as its receiver would: plain Keras in a fresh Python where archspec
cannot be imported (however it is installed), so a file that needs archspec fails here, not at the receiver."""

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
import keras
import numpy as np

path, inputs, outputs = sys.argv[1:]
y = keras.saving.load_model(path, safe_mode=True, compile=False)(np.load(inputs), training=False)
arrays = y if isinstance(y, dict) else {"output": y}
np.savez(outputs, **{k: keras.ops.convert_to_numpy(v) for k, v in arrays.items()})
"""


def outputs_without_archspec(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs, by name (``output`` for a classifier), that the ``.keras`` file at ``path`` gives for ``x``
    when plain Keras loads it in a separate process without archspec; a RunError says why it did not load."""
    with tempfile.TemporaryDirectory() as folder:
        inputs, outputs = Path(folder) / "x.npy", Path(folder) / "y.npz"
        np.save(inputs, x)
        done = subprocess.run([sys.executable, "-I", "-c", SCRIPT, str(path), str(inputs), str(outputs)],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RunError(f"'{path}' does not load in plain Keras without archspec: {last}")
        with np.load(outputs) as arrays:
            return {name: arrays[name] for name in arrays.files}
