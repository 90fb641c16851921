"""Named training recipes: YAML files of ``train:`` fields shipped in ``archspec/recipes/``, each
with its source in a comment, chosen with ``archspec train --recipe NAME``."""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import SpecError

RECIPES_DIR = Path(__file__).parents[1] / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    """The file of recipe ``name``; an unknown name is a SpecError listing the known ones."""
    path = RECIPES_DIR / f"{name}.yaml"
    if name in recipe_names():
        return path
    close = difflib.get_close_matches(name, recipe_names(), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise SpecError(f"unknown recipe '{name}': {hint}the recipes are {', '.join(recipe_names())}")
