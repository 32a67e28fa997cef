"""How the harness asks for the optional hooks that `harness.seams` declares: each function
returns the plug-in's answer when it defines the hook, and the declared default otherwise."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.seams import (
    DEFAULT_START_TIMEOUT,
    AddsCheckers,
    BoundsStartup,
    Cluster,
    DeclaresDurableFiles,
    HarnessError,
    NeedsNodePackages,
    NodeHandle,
    ReportsPrimary,
    ReportsReadiness,
    SelftestRow,
    System,
    TunesWorkloads,
)


def workload_params(system: System, workload: str) -> Mapping[str, Any]:
    return system.workload_params.get(workload, {}) if isinstance(system, TunesWorkloads) else {}


def extra_checkers(system: System, workload: str) -> Mapping[str, Mapping[str, Any]]:
    return system.checkers(workload) if isinstance(system, AddsCheckers) else {}


def start_timeout(system: System) -> float:
    return float(system.start_timeout) if isinstance(system, BoundsStartup) else DEFAULT_START_TIMEOUT


def node_ready(system: System, cluster: Cluster, node: NodeHandle) -> bool:
    if isinstance(system, ReportsReadiness):
        return bool(system.ready(cluster, node))
    return node.is_running()


def selftest_rows(system_cls: type) -> Sequence[SelftestRow]:
    # Read off the class, since listing the matrix instantiates no system.
    return tuple(system_cls.selftest) if hasattr(system_cls, "selftest") else ()


def durable_files(system: System) -> Sequence[str]:
    return tuple(system.durable_files) if isinstance(system, DeclaresDurableFiles) else ("**/*",)


def node_packages(system: System) -> tuple[str, ...]:
    return tuple(system.node_packages) if isinstance(system, NeedsNodePackages) else ()


def primary(system: System, cluster: Cluster) -> str:
    """The system's current primary, or HarnessError when it has none to report."""
    if not isinstance(system, ReportsPrimary):
        raise HarnessError(f"{system.name} does not report a primary (it has no `primary(cluster)` method)")
    name = system.primary(cluster)
    if not name:
        raise HarnessError(f"{system.name} has no primary right now")
    return name
