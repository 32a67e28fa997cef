"""Runs one test end to end: spec -> cluster -> clients and nemesis driven by the generator ->
history -> checkers -> results.json and report -> exit code.

Whatever ends the run (the schedule, an exception, Ctrl-C, SIGTERM), the teardown path heals
the nemeses, stops the system and destroys the cluster; the journal on disk already has every
op, and the run still ends through the same "check, record, report" path as `faultline analyze`.
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from harness import judge, store
from harness.journal import HistoryWriter, JournalError
from harness.hooks import workload_params
from harness.interpreter import Interpreter
from harness.plan import Plan, plan_test, schedule
from harness.seams import (
    BindsClients,
    Cluster,
    CollectsData,
    HarnessError,
    KeepsResults,
    NemesisPackage,
    Runtime,
    System,
    WorkloadOptions,
)
from harness.spec import RunOutcome, RunStatus, TestSpec
from harness.startup import start_cluster


class _Interrupted(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


class _Interrupts:
    """Raises Ctrl-C and SIGTERM in the main thread, and remembers which came. The exception
    can land anywhere, inside a lock's or a condition's own code too, and then what reaches the
    run's top is the error that follows from it ("release unlocked lock"), not the interrupt:
    whatever ends a run after a signal came is that signal."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def on_sigint(self, signum: int, frame: Any) -> None:
        self.reason = self.reason or "interrupted by Ctrl-C"
        raise KeyboardInterrupt

    def on_sigterm(self, signum: int, frame: Any) -> None:
        self.reason = self.reason or "interrupted by SIGTERM"
        raise _Interrupted()


def run_test(spec: TestSpec, status: RunStatus | None = None) -> RunOutcome:
    """Run one test. Raises HarnessError for bad input found before anything started."""
    status = status or RunStatus()
    plan = plan_test(spec)
    started_at = datetime.now(timezone.utc)
    prefix = plan.runtime.new_prefix()
    try:
        run_dir = store.new_run_dir(Path(spec.store), spec.test_name(), started_at)
        status.run_dir = run_dir
        store.write_json(run_dir / store.TEST_FILE, {
            **asdict(spec),
            "name": spec.test_name(),
            "nodes": spec.node_names(),
            "started_at": started_at.isoformat().replace("+00:00", "Z"),
            "prefix": prefix,
            "nemesis_draw": {fault: dict(how) for p in plan.packages for fault, how in p.draw.items()},
            "python": sys.version.split()[0],
        })
        log = _run_logger(run_dir, prefix)
        journal = HistoryWriter(run_dir / store.HISTORY_FILE, flush_each=False)
    except (OSError, JournalError) as e:
        # Nothing has started yet; a store that cannot take a run's first files is bad input.
        raise HarnessError(f"cannot write a new run into the store {spec.store}: {_os_reason(e)}") from None
    log.info("test %s in %s (prefix %s, seed %s)", spec.test_name(), run_dir, prefix, spec.seed)
    interrupts = _Interrupts()
    previous_sigint = signal.signal(signal.SIGINT, interrupts.on_sigint)
    previous_sigterm = signal.signal(signal.SIGTERM, interrupts.on_sigterm)
    try:
        try:
            system_data, interpreter = _drive(spec, plan, run_dir, prefix, journal, status, log)
        finally:
            journal.close()
        if journal.failure is not None:
            raise journal.failure  # the last flush, at close
        status.phase = "checking"
        results = judge.check_history(journal.ops, judge.checker_specs(plan.workload, plan.system),
                                      system_data, spec.seed, log)
        if interpreter.overran:
            # Ops were still in flight when the run was cut off: a pass would claim too much.
            results["reason"] = f"run cut off {spec.final_timeout:g}s after the time limit; " + results["reason"]
            if results["valid"] is True:
                results["valid"] = "unknown"
    except JournalError:
        status.phase = "checking"
        results = _check_held_ops(journal, plan, spec, log)
    except BaseException as e:
        if interrupts.reason is not None:
            if not isinstance(e, (KeyboardInterrupt, _Interrupted)):
                log.warning("after the interrupt: %s: %s", type(e).__name__, e)
            log.warning("%s; the history recorded so far is kept", interrupts.reason)
            results = {"valid": "unknown", "reason": interrupts.reason, "checkers": {}, "interrupted": True}
        elif isinstance(e, HarnessError):
            log.error("harness error: %s", e)
            results = {"valid": "unknown", "reason": f"harness error: {e}", "checkers": {}, "harness_error": True}
        elif isinstance(e, Exception):
            log.exception("harness failed")
            results = {"valid": "unknown", "reason": f"harness failed: {type(e).__name__}: {e}",
                       "checkers": {}, "harness_error": True}
        else:
            raise
    finally:
        signal.signal(signal.SIGINT, previous_sigint)
        signal.signal(signal.SIGTERM, previous_sigterm)
    results["stats"] = judge.history_stats(journal.ops)
    origin_wall = status.origin_wall or started_at.timestamp()
    results["origin_wall"] = origin_wall  # wall seconds at history time 0, to place node events
    results.update(_nemesis_results(plan.packages, origin_wall, log))
    judge.record(results, run_dir, run_dir / store.HISTORY_FILE, log)
    log.info("verdict: %s (%s)", results["valid"], results.get("reason", ""))
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)
    status.phase = "done"
    return RunOutcome(results["exit_code"], run_dir, results)


def _check_held_ops(journal: HistoryWriter, plan: Plan, spec: TestSpec, log: logging.Logger) -> dict[str, Any]:
    """The journal could not be written (a full disk): the run stopped and healed, and every op
    it saw is still in memory, so check those rather than lose the verdict with the disk. The
    run ends as a harness error (exit 3) whose reason names the file, and a pass is only
    "unknown": the run was cut short of its schedule (its final reads, say)."""
    log.error("harness error: %s", journal.failure)
    try:
        results = judge.check_history(journal.ops, judge.checker_specs(plan.workload, plan.system),
                                      None, spec.seed, log)
    except HarnessError as e:
        results = {"valid": "unknown", "reason": str(e), "checkers": {}}
    if results["valid"] is True:
        results["valid"] = "unknown"
    results["reason"] = (f"harness error: {journal.failure}; the run stopped, and its {len(journal.ops)} ops, "
                         f"held in memory, were checked: {results['reason']}")
    results["harness_error"] = True
    results["journal_error"] = str(journal.failure)
    return results


def _os_reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror[:1].lower()}{error.strerror[1:]}" + (f" ({error.filename})" if error.filename else "")
    return str(error)


def _drive(spec: TestSpec, plan: Plan, run_dir: Path, prefix: str, journal: HistoryWriter,
           status: RunStatus, log: logging.Logger) -> tuple[Any, Interpreter]:
    """Cluster up, run the schedule, collect; the cluster is torn down however this ends."""
    system, packages = plan.system, plan.packages
    cluster: Cluster | None = None
    try:
        status.phase = "starting cluster"
        cluster = plan.runtime.create(run_dir, spec.node_names(), prefix)
        log.info("cluster up: %s", ", ".join(f"{n.name}={n.address}" for n in cluster.nodes))
        system.setup(cluster)
        # Nemeses first: some shape how nodes start (the clock fault preloads libfaketime).
        for package in packages:
            package.nemesis.setup(cluster, system)
        status.phase = "waiting for the cluster to be ready"
        start_cluster(cluster, system)
        options = WorkloadOptions(seed=spec.seed, concurrency=spec.concurrency, nodes=spec.node_names(),
                                  rate=spec.rate, params=workload_params(system, spec.workload))
        generator = schedule(spec, plan.workload, options, packages)
        interpreter = Interpreter(spec, cluster, system, packages, journal, status, log)
        for package in packages:
            if isinstance(package.nemesis, BindsClients):
                package.nemesis.bind_clients(interpreter.gates)
        status.phase = "running"
        interpreter.run(generator)
        missing = plan.runtime.lost(cluster)
        if missing:
            raise HarnessError(f"the cluster vanished during the run ({missing}); something outside "
                               "this run removed it, e.g. `faultline cleanup --force`, so the history says "
                               "nothing about the system")
        status.phase = "collecting"
        return _collect(system, cluster, run_dir, log), interpreter
    finally:
        status.phase = "tearing down"
        _teardown(plan.runtime, cluster, system, packages, log)


def _teardown(runtime: Runtime, cluster: Cluster | None, system: System, packages: Sequence[NemesisPackage],
              log: logging.Logger) -> None:
    """Heal, stop, destroy: each step runs even if an earlier one failed, and Ctrl-C pressed
    again during teardown does not cut it short."""
    if cluster is None:
        return
    # A handler that does nothing, not SIG_IGN: an ignored signal stays ignored in every child,
    # so a node restarted by a heal here could then only be stopped with SIGKILL.
    previous = signal.signal(signal.SIGINT, _hold_off)
    previous_term = signal.signal(signal.SIGTERM, _hold_off)
    try:
        for package in packages:
            _attempt(log, f"heal {package.name}", lambda p=package: p.nemesis.teardown(cluster, system))
        _attempt(log, "stop the system", lambda: system.teardown(cluster))
        _attempt(log, "destroy the cluster", lambda: runtime.destroy(cluster))
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


def _attempt(log: logging.Logger, what: str, action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception:
        log.exception("teardown: could not %s", what)


def _collect(system: System, cluster: Cluster, run_dir: Path, log: logging.Logger) -> Any:
    if not isinstance(system, CollectsData):
        return None
    try:
        data = system.collect(cluster)
    except Exception:
        log.exception("collecting the system's final data failed")
        return None
    try:
        store.write_json(run_dir / store.SYSTEM_FILE, data)
    except OSError:
        log.exception("could not keep the system's final data in %s", store.SYSTEM_FILE)
    return data


def _nemesis_results(packages: Sequence[NemesisPackage], origin_wall: float, log: logging.Logger) -> dict[str, Any]:
    """What the nemeses kept of the run (`KeepsResults`), under keys a check does not own."""
    out: dict[str, Any] = {}
    for package in packages:
        if not isinstance(package.nemesis, KeepsResults):
            continue
        try:
            kept = dict(package.nemesis.results(origin_wall))
        except Exception:
            log.exception("nemesis %s could not hand over its results", package.name)
            continue
        for key, value in kept.items():
            if key in judge.JUDGED_KEYS or key in out or key == "origin_wall":
                log.error("nemesis %s: results key %r is taken; dropped", package.name, key)
                continue
            out[key] = value
    return out


def _run_logger(run_dir: Path, prefix: str) -> logging.Logger:
    log = logging.getLogger(f"faultline.run.{prefix}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = _QuietFileHandler(run_dir / store.LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    log.addHandler(handler)
    return log


class _QuietFileHandler(logging.FileHandler):
    """The run's log file. A line that cannot be written (a full disk) is dropped without the
    traceback logging prints by default, once per line, into the user's terminal: the run's
    own error already says the store is full."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def _hold_off(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM during teardown: noted by doing nothing, so the heal runs to its end."""
