"""The whole-zoo contract runs only when asked for (``-m zoo``); otherwise its representative entries run."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "zoo" in (config.option.markexpr or ""):
        return
    left = [item for item in items if item.get_closest_marker("zoo") and not item.get_closest_marker("representative")]
    if left:
        config.hook.pytest_deselected(items=left)
        dropped = set(left)
        items[:] = [item for item in items if item not in dropped]
