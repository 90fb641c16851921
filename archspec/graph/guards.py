"""Size guards: refuse a spec too big to plan or to build before any work is spent on it.

A spec is a few lines, but ``depth: 1000000000`` or ``input_shape: [100000, 100000, 3]``
would plan for hours or allocate terabytes. The planner refuses too many blocks from
the spec's fields before it plans (``archspec.graph.plan.MAX_BLOCKS``); ``check_size`` compares
the analytic figures of the planned graph with limits the caller may raise (``build_model``'s
keyword arguments, ``archspec build --max-params / --max-activation-mb``). Nothing here
imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.errors import SpecError
from ..spec.schema import ModelSpec
from .complexity import Complexity

MAX_PARAMS = 1_000_000_000
MAX_ACTIVATION_MB = 4096.0  # per image; the zoo's largest (resnetrs420 at 320) needs about 2,060
BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Limits:
    """How big a model may be built: trainable parameters, and activation memory per image in MiB."""

    max_params: int = MAX_PARAMS
    max_activation_mb: float = MAX_ACTIVATION_MB


def activation_mb(figures: Complexity) -> float:
    """Memory of every layer's output for one image, in MiB."""
    return figures.activations * BYTES_PER_VALUE / 2**20


def check_size(spec: ModelSpec, figures: Complexity, limits: Limits = Limits()) -> None:
    """Refuse a spec whose parameters or activations exceed ``limits``, with the estimates in the message.
    A network that takes any size has no activation figure of its own (it grows with the images it is given,
    and its figures are the reference size's), so only its parameters are limited."""
    over = []
    if figures.params > limits.max_params:
        over.append(f"{figures.params:,} parameters, above the limit of {limits.max_params:,} "
                    f"(max_params, or --max-params on the command line)")
    if not spec.any_size and activation_mb(figures) > limits.max_activation_mb:
        over.append(f"{activation_mb(figures):,.1f} MiB of activations per image, above the limit of "
                    f"{limits.max_activation_mb:,.1f} MiB (max_activation_mb, or --max-activation-mb)")
    if over:
        shape = "any size" if spec.any_size else "x".join(map(str, spec.input_shape))
        raise SpecError(f"{spec.name} at {shape} is too big to build: it would have {' and '.join(over)}; "
                        f"shrink the spec or raise the limit if the machine can hold it")
