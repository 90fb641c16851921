"""The one strictness of every spec object, the ``train:`` section's included."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields are errors, objects are immutable, and a value must have its field's type:
    "0.05" is no number and "yes" no boolean, in a spec as in a --config file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)  # .nan, .inf: never
