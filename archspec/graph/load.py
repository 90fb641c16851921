"""Specs as the rest of archspec uses them: schema-valid and plannable, errors at ``file:line:col``.

``archspec.spec.loader`` reads and validates a spec against its schema; a spec can still
describe a network that cannot exist (a map shrunk away, an identity across shapes). These
functions also plan it and place the planner's objection at the spec line that caused it.
They live here, above both the loader and the planner, so that ``archspec.spec`` needs
nothing from ``archspec.graph``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..spec import loader
from ..spec.errors import PlanError
from ..spec.schema import ModelSpec
from .ir import Graph
from .plan import REFERENCE_SIZE, plan

MULTIPLES = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # what a network's sides may have to be multiples of


def _plans(spec: ModelSpec) -> Graph:
    """Plan the spec; one that takes any size also at sides that are not multiples of 32 (a strided block whose
    paths round odd sizes differently, as lambda_resnet26t's, takes multiples of 32 only), so that no size it
    accepts fails at run time. A refusal says which sizes do plan. The graph returned is the first planned, the
    one the spec's figures are reported at: its own, or an any-size spec's at the reference size."""
    sides = [None] if not spec.any_size else [REFERENCE_SIZE, *(REFERENCE_SIZE + m for m in MULTIPLES[:5])]
    graphs: list[Graph] = []
    for side in sides:
        try:
            graphs.append(plan(spec if side is None else _at(spec, side)))
        except PlanError as error:
            where = f"it cannot take images of any size: at {side}x{side}, " if spec.any_size else ""
            raise PlanError(f"{where}{error}{_sizes_that_plan(spec)}", error.path) from None
    return graphs[0]


def _at(spec: ModelSpec, side: int) -> ModelSpec:
    return spec.model_copy(update={"input_shape": (side, side, spec.input_shape[2])})


def _sizes_that_plan(spec: ModelSpec) -> str:
    """"; it plans at sides that are multiples of M (e.g. 224, 256)": the least M whose two multiples next to the
    reference size both plan; "" when every side does, or none found does."""
    for multiple in MULTIPLES:
        first = -(-REFERENCE_SIZE // multiple) * multiple
        try:
            for side in (first, first + multiple):
                plan(_at(spec, side))
        except PlanError:
            continue
        return (f"; it plans at sides that are multiples of {multiple} (e.g. {first}, {first + multiple}): build "
                f"it at such a fixed size" if multiple > 1 else "")
    return ""


def load_spec(source: ModelSpec | Mapping[str, Any] | str | Path, *,
              overrides: Mapping[str, Any] | None = None) -> ModelSpec:
    """A validated, planned spec from a ModelSpec, a dict, a spec file or a zoo name.

    ``overrides`` are top-level fields merged over the loaded spec before validation.
    """
    return loader.read_spec(source, overrides=overrides, check=_plans)


def load_planned(source: str | Path) -> tuple[ModelSpec, Graph]:
    """``load_spec(source)`` for a spec file or a zoo name, with the graph that loading planned to check it (at
    the size its figures are reported at, see ``at_reference_size``): figures from it need no second plan."""
    graphs: list[Graph] = []
    spec = loader.read_spec(source, check=lambda checked: graphs.append(_plans(checked)))
    return spec, graphs[0]


def resized(spec: ModelSpec, input_size: int | Literal["any"] | None = None,
            num_classes: int | None = None, memory_efficient: bool = False) -> dict[str, Any]:
    """``input_size`` (square, the spec's channels kept; "any": images of any size, keras-hub's
    ``image_shape=(None, None, 3)``), ``num_classes`` and ``memory_efficient`` (every stage recomputing its
    blocks in the backward pass) as overrides of ``spec``: what ``build_model``, ``complexity`` and the
    commands' --input-size, --num-classes and --memory-efficient mean."""
    overrides: dict[str, Any] = {}
    if memory_efficient:
        overrides["stages"] = [{**stage.model_dump(), "memory_efficient": True} for stage in spec.stages]
    if input_size is not None:
        side = None if input_size == "any" else input_size
        overrides["input_shape"] = (side, side, spec.input_shape[2])
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    return overrides


def at_reference_size(spec: ModelSpec) -> ModelSpec:
    """``spec`` at the size its figures are reported at: unchanged, or for a network that takes any size
    (``input_shape: [null, null, C]``) the reference size it is planned at (224x224)."""
    if not spec.any_size:
        return spec
    return load_spec(spec, overrides=resized(spec, REFERENCE_SIZE))


def load_text(text: str, filename: str = "<string>") -> ModelSpec:
    """A validated, planned spec from YAML text; ``filename`` names it in errors and anchors
    relative ``extends``."""
    return loader.read_text(text, filename, check=_plans)


def load_training(source: ModelSpec | Mapping[str, Any] | str | Path,
                  config: str | Path | Sequence[str | Path] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> ModelSpec:
    """A validated, planned spec ready to train: the spec's ``train:`` section, then ``config``
    (a YAML file of ``train:`` fields, errors located in it), then ``overrides``."""
    return loader.read_training(source, config, overrides, check=_plans)


def check_spec(spec: ModelSpec) -> None:
    """Plan a spec built in Python to find whole-network problems (loading already does this,
    with source locations)."""
    loader.run_check(spec, _plans)
