"""The zoo's catalogue: one YAML spec per documented variant, found by name, the figures
papers and libraries published for them (``zoo/reference.yaml``) and the papers' ablation
tables (``zoo/ablations.yaml``). The entries' computed figures come from ``archspec.graph.catalogue``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from .strict import StrictModel

ZOO_DIR = Path(__file__).parents[1] / "zoo"  # archspec/zoo/<family>/<name>.yaml
REFERENCE_FILE = ZOO_DIR / "reference.yaml"


def _data(path: Path) -> Any:
    """A package file's YAML as plain data, parsed by libyaml where PyYAML has it: ten times faster than PyYAML's
    own parser, and these files need no located errors (specs go through ``archspec.spec.loader``)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=1)
def zoo_paths() -> dict[str, Path]:
    """Zoo name -> spec file. Names are file stems; family folders only group them."""
    return {p.stem: p for p in sorted(ZOO_DIR.glob("*/*.yaml"))}


def zoo_path(name: str) -> Path | None:
    """The entry's spec file, found by its name or by its source library's name for it (an alias)."""
    paths = zoo_paths()
    if name in paths or "/" in name or name.endswith((".yaml", ".yml")):  # a file path never reads the aliases
        return paths.get(name)
    return paths.get(aliases().get(name, ""))


ALIASED_LIBRARIES = ("timm", "torchvision")


@lru_cache(maxsize=1)
def aliases() -> dict[str, str]:
    """timm's and torchvision's names of the entries the zoo names otherwise (``seresnet50`` ->
    ``se_resnet50``), from their ``source:`` sections; a name two entries share, or an entry's own
    name, is no alias."""
    found: dict[str, list[str]] = {}
    for name, path in zoo_paths().items():
        source = (_data(path) or {}).get("source") or {}
        model = source.get("model")
        if source.get("library") in ALIASED_LIBRARIES and isinstance(model, str) and model != name:
            found.setdefault(model, []).append(name)
    return {model: names[0] for model, names in found.items() if len(names) == 1 and model not in zoo_paths()}


@dataclass(frozen=True)
class Published:
    """Figures a paper or library published for one zoo entry (reference.yaml)."""

    dataset: str
    params: int | None = None
    params_millions: float | None = None  # a paper's rounded count: compared to as many decimals as it gives
    total_params: int | None = None
    gmacs: float | None = None
    error: float | None = None
    protocol: str | None = None
    source: str | None = None


@lru_cache(maxsize=1)
def published() -> dict[str, Published]:
    """Zoo name -> published figures, read from the package's reference.yaml."""
    data = _data(REFERENCE_FILE)
    return {
        name: Published(dataset=dataset, **figures)
        for dataset, entries in data.items()
        for name, figures in entries.items()
    }


ABLATIONS_FILE = ZOO_DIR / "ablations.yaml"


class AblationRow(StrictModel):
    """One row of a paper's ablation table: what it changes in the paper's net, and its published error."""

    label: str
    error: float = Field(description="The paper's error for this row, in %.")
    stages: dict[str, str] = Field(description="Fields set on every residual stage of the net.")
    stem: dict[str, bool] = {}
    zoo: str | None = Field(None, description="The zoo entry this row is, where the zoo has one.")
    about: str


class Ablation(StrictModel):
    """A paper's ablation table: one net, trained once per row with one thing changed."""

    paper: str
    net: str = Field(description="The paper's net, a zoo entry.")
    dataset: str
    metric: str
    rows: list[AblationRow]


@lru_cache(maxsize=1)
def ablations() -> dict[str, Ablation]:
    """Table name (shortcuts, orders) -> the paper's table, read from the package's ablations.yaml."""
    data = _data(ABLATIONS_FILE)
    return {name: Ablation.model_validate(table) for name, table in data.items()}


IMAGENET_CLASSES_FILE = ZOO_DIR / "imagenet_classes.txt"  # torchvision's list (torchvision.models._meta)
# the WordNet ids of the same classes in the same order (sorted: ImageNet-1k's class indices), as timm ships them
# (timm/data/_info/imagenet_synsets.txt); the ILSVRC 2012 development kit's synsets of the 1,000 leaf classes
IMAGENET_SYNSETS_FILE = ZOO_DIR / "imagenet_synsets.txt"


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in the index order every zoo classifier's outputs use."""
    return tuple(IMAGENET_CLASSES_FILE.read_text(encoding="utf-8").splitlines())


@lru_cache(maxsize=1)
def imagenet_synsets() -> tuple[str, ...]:
    """The WordNet id (``n01440764``) of each ImageNet-1k class, in the same order: how ImageNet's own
    folders are named."""
    return tuple(IMAGENET_SYNSETS_FILE.read_text(encoding="utf-8").split())
