"""matplotlib figures written to files: no display needed, never a half-written image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .atomic import replacing


def pyplot() -> Any:
    """matplotlib.pyplot drawing to files (the Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` atomically and release it."""
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    pyplot().close(fig)
