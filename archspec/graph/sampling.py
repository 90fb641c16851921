"""Sampling networks from the RegNet design space within a params/MACs budget, as Radosavovic et al. 2020
sample theirs (pycls's ``regnet_sampler``): depth uniform, w0, wa and wm log-uniform on their grids, the
group width a power of two, and only generators whose widths make exactly the stages asked for.

Pure Python: each candidate is planned, not built, so thousands are checked in seconds without TensorFlow.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

from ..spec.design_space import RegNet
from ..spec.errors import SpecError
from ..spec.schema import ModelSpec
from .complexity import Complexity, complexity

MAX_TRIES_PER_SAMPLE = 2_000  # candidates drawn per network asked for before giving up on the budget


@dataclass(frozen=True)
class Space:
    """The ranges a RegNet generator is drawn from (pycls's sweep defaults for the RegNet space)."""

    depth: tuple[int, int] = (12, 28)
    w0: tuple[int, int] = (8, 256)
    wa: tuple[float, float] = (8.0, 256.0)
    wm: tuple[float, float] = (1.5, 3.0)
    group_width: tuple[int, int] = (1, 32)
    stages: int = 4
    se_ratio: float = 0.0  # 0.25: RegNetY


@dataclass(frozen=True)
class Budget:
    """Closed ranges of params and MACs (None: any)."""

    params: tuple[float, float] | None = None
    macs: tuple[float, float] | None = None

    def admits(self, c: Complexity) -> bool:
        return all(low <= value <= high for value, bounds in ((c.params, self.params), (c.macs, self.macs))
                   if bounds for low, high in [bounds])


@dataclass(frozen=True)
class Sample:
    spec: ModelSpec
    complexity: Complexity


def regnet_spec(generator: RegNet, name: str, input_size: int = 224, num_classes: int = 1000) -> ModelSpec:
    """The network a generator stands for, as pycls builds RegNets: a strided 3x3 stem of 32 channels, the
    generated stages, an average-pooled classifier."""
    return ModelSpec.model_validate({
        "name": name, "family": "regnet", "input_shape": [input_size, input_size, 3], "num_classes": num_classes,
        "preprocess": "imagenet", "defaults": {"padding": "symmetric", "zero_init_last_norm": True},
        "stem": {"type": "imagenet", "width": 32, "kernel": 3, "pool": False},
        "regnet": generator.model_dump(exclude_defaults=True)})


def sample_regnets(count: int, space: Space, budget: Budget, seed: int, prefix: str = "regnet_sample",
                   progress: Callable[[], None] = lambda: None) -> list[Sample]:
    """``count`` distinct networks of ``space`` within ``budget``, drawn with ``seed`` (the same seed, the same
    networks), calling ``progress`` as each is found; a SpecError if too few of the candidates drawn fit."""
    rng = random.Random(seed)
    found: list[Sample] = []
    seen: set[tuple] = set()
    tries = 0
    while len(found) < count:
        if tries >= MAX_TRIES_PER_SAMPLE * count:
            raise SpecError(f"only {len(found)} of the {tries:,} networks drawn from the space fit the budget, "
                            f"{count} asked for: widen the budget or the ranges, or ask for fewer")
        tries += 1
        generator = _draw(rng, space)
        if generator is None or tuple(generator.model_dump().values()) in seen:
            continue
        spec = regnet_spec(generator, f"{prefix}_{len(found):03d}")
        c = complexity(spec)
        if budget.admits(c):
            seen.add(tuple(generator.model_dump().values()))
            found.append(Sample(spec, c))
            progress()
    return found


def _draw(rng: random.Random, space: Space) -> RegNet | None:
    """One candidate, or None where its widths do not make ``space.stages`` distinct stages."""
    low, high = (int(math.log2(g)) for g in space.group_width)
    generator = RegNet(
        depth=rng.randint(*space.depth), w0=_log_uniform(rng, *space.w0, 8), wa=_log_uniform(rng, *space.wa, 0.1),
        wm=_log_uniform(rng, *space.wm, 0.001), group_width=2 ** rng.randint(low, high), se_ratio=space.se_ratio)
    return generator if len(generator.stages()) == space.stages else None


def _log_uniform(rng: random.Random, low: float, high: float, step: float) -> float:
    """A log-uniform draw from [low, high] rounded to a multiple of ``step`` (pycls's ``log_uniform``)."""
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    snapped = round(value / step) * step
    return int(snapped) if isinstance(step, int) else round(snapped, 6)
