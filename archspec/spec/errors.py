"""The exceptions a spec or a command can raise, and how a spec problem reads."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as the source allows."""

    message: str
    path: str = ""  # field path, e.g. "stages[1].groups"
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)
        field = f"{self.path}: " if self.path else ""
        return f"{where}: {field}{self.message}" if where else f"{field}{self.message}"


class SpecError(ValueError):
    """A spec that cannot be loaded, validated or planned. The CLI prints it and exits 1."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = Problem(problems)
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class PlanError(ValueError):
    """The spec is well formed but describes a network that cannot exist.

    Raised by the planner (``archspec.graph``); ``path`` is the field path of the stage or
    section at fault, so the loader can point at the line of the spec that caused it.
    """

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class RunError(ValueError):
    """A command that cannot run or finish as asked, though its spec is fine: missing or
    mismatched data, an output folder that cannot be written, a loss that became NaN.
    The CLI prints it as one paragraph and exits 1."""


def reason(error: Exception, limit: int = 300) -> str:
    """The part of an error's message a one-paragraph error can quote: a failed TensorFlow assertion's
    own message; else the message's first line or, after a graph's stack ("Graph execution error"),
    its last, without the ``{{node ...}}`` names TensorFlow adds."""
    text = getattr(error, "message", None) or str(error)
    asserted = re.search(r"assertion failed: \[([^\]]*)\]", text)
    if asserted:
        return asserted.group(1)[:limit]
    lines = [line.strip() for line in re.sub(r"\{\{.*?\}\}", "", text).splitlines()]
    lines = [line for line in lines if line and not line.startswith("[[") and line != "Graph execution error:"]
    if not lines:
        return type(error).__name__
    return (lines[-1] if text.startswith("Graph execution error") else lines[0])[:limit]
