"""Finds systems, workloads, nemeses, checkers and runtimes through entry points.

The shipped plug-ins are registered in pyproject.toml exactly as an outside package registers
its own, so nothing here knows any plug-in by name.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from harness.seams import HarnessError

GROUPS = {
    "system": "faultline.systems",
    "workload": "faultline.workloads",
    "nemesis": "faultline.nemeses",
    "checker": "faultline.checkers",
    "runtime": "faultline.runtimes",
}


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])})


def load(kind: str, name: str) -> Any:
    """The object an entry point names; an unknown name is a HarnessError listing the known."""
    for ep in entry_points(group=GROUPS[kind]):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as e:  # a broken plug-in must not look like an unknown name
                raise HarnessError(f"the {kind} plug-in {name!r} ({ep.value}) failed to load: {e}") from e
    known = ", ".join(names(kind)) or "none"
    raise HarnessError(f"unknown {kind} {name!r}; known: {known}")
