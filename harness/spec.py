"""What a test is (`TestSpec`, saved as test.json), how it is going (`RunStatus`) and how it
ended (`RunOutcome`, exit codes). Plain records, shared by the CLI, the runner and the matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_HARNESS = 0, 1, 2, 3
EXIT_INTERRUPTED = 4  # Ctrl-C or SIGTERM: not a verdict on the system, so not "unknown"


@dataclass
class TestSpec:
    """Everything needed to run (and re-run) a test; saved as test.json."""

    __test__ = False  # a record, not a pytest test class

    system: str
    workload: str
    mode: str | None = None
    nemesis: list[str] = field(default_factory=list)
    nodes: int = 3
    concurrency: int = 5
    time_limit: float = 30.0
    seed: int = 0
    rate: float = 100.0  # client ops/s over all clients; 0 = as fast as they go
    nemesis_interval: float = 5.0
    runtime: str = "local"
    store: str = "store"
    name: str | None = None
    final_timeout: float = 120.0  # for the heal and final-read phases after the time limit
    server_args: list[str] = field(default_factory=list)  # extra flags for every node's server
    # Runtime options: given to the runtime whose constructor takes them (ssh takes both).
    hosts: str | None = None  # the hosts file
    insecure_host_keys: bool = False  # skip the host-key check (named in the report)

    def test_name(self) -> str:
        return self.name or f"{self.system}-{self.mode}-{self.workload}"

    def node_names(self) -> list[str]:
        return [f"n{i + 1}" for i in range(self.nodes)]


@dataclass
class RunStatus:
    """Live figures for a progress display; written by the runner, read by anyone."""

    phase: str = "starting"
    started: float = 0.0  # monotonic seconds when clients started
    origin_wall: float = 0.0  # wall seconds at history time 0 (when clients started)
    time_limit: float = 0.0
    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    faults: dict[str, str] = field(default_factory=dict)  # package -> what it is doing now
    run_dir: Path | None = None


@dataclass
class RunOutcome:
    exit_code: int
    run_dir: Path | None
    results: dict[str, Any]


def exit_code_for(results: Mapping[str, Any]) -> int:
    if results.get("harness_error"):
        return EXIT_HARNESS
    if results.get("interrupted"):
        return EXIT_INTERRUPTED
    valid = results.get("valid")
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN
