"""Judging a history, and the one ending that `faultline test` and `faultline analyze` share:
check the history, record results.json, write the report.

Checkers never see the runner: they get a history and options, so a stored or imported history
is judged exactly as a live run's.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness import plugins, store
from harness.history import Op
from harness.hooks import extra_checkers
from harness.seams import HarnessError, System, Workload
from harness.spec import exit_code_for

if TYPE_CHECKING:  # annotations only: logging is a noticeable part of start-up
    import logging

# Keys of results.json that say how a check or a run ended (the verdict, a harness error, an
# interruption); every other key is a fact of the run (its time origin, what a nemesis kept) and
# survives a re-check. A re-check's ending is its own: an interrupted run re-checked says what
# its history holds, and the run's own results.json, never written over, still says it was cut.
JUDGED_KEYS = frozenset({"valid", "reason", "checkers", "stats", "exit_code", "harness_error", "interrupted",
                         "journal_error", "warnings"})


def checker_specs(workload: Workload, system: System | None) -> dict[str, Mapping[str, Any]]:
    """The workload's checkers plus any the system adds for it (`AddsCheckers`)."""
    specs = dict(workload.checkers())
    if system is not None:
        specs.update(extra_checkers(system, workload.name))
    return specs


def check_history(
    history: list[Op],
    checkers: Mapping[str, Mapping[str, Any]],
    system_data: Any = None,
    seed: int | None = None,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """Run each named checker on the history and combine: any invalid -> invalid; else any
    unknown -> unknown; else valid."""
    out: dict[str, Any] = {}
    for name, options in checkers.items():
        check = plugins.load("checker", name)
        opts = {**options, "system_data": system_data, "seed": seed}
        try:
            out[name] = check(history, opts)
        except ValueError as e:
            # Checkers raise ValueError for input they cannot take (an unknown model, a value
            # of the wrong shape): bad input, which the user must fix, not a verdict.
            raise HarnessError(f"checker {name}: {e}") from e
        except Exception as e:
            if log:
                log.exception("checker %s failed", name)
            out[name] = {"valid": "unknown", "reason": f"checker crashed: {type(e).__name__}: {e}"}
    verdicts = [r.get("valid") for r in out.values()]
    if not verdicts:
        valid: Any = "unknown"
        reason = "no checker ran"
    elif False in verdicts:
        valid = False
        reason = "; ".join(f"{n}: {r.get('reason', 'invalid')}" for n, r in out.items() if r.get("valid") is False)
    elif all(v is True for v in verdicts):
        valid = True
        reason = "every checker passed"
    else:
        valid = "unknown"
        reason = "; ".join(f"{n}: {r.get('reason', 'unknown')}" for n, r in out.items() if r.get("valid") is not True)
    return {"valid": valid, "reason": reason, "checkers": out}


def history_stats(history: Sequence[Op]) -> dict[str, Any]:
    counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    nemesis_ops = 0
    for op in history:
        if op.is_client:
            counts[op.type] = counts.get(op.type, 0) + 1
        else:
            nemesis_ops += 1
    duration = (history[-1].time or 0) / 1e9 if history else 0.0
    return {"ops": counts["invoke"], **{k: counts[k] for k in ("ok", "fail", "info")},
            "nemesis_events": nemesis_ops, "duration_s": round(duration, 3)}


ANALYSIS_DIR = "analysis"  # RUN/analysis/<time>/: re-checks of a stored run, beside its own results


def new_analysis_dir(parent: Path, name: str | None = None) -> Path:
    """Make a new, empty directory `parent/name` for one re-check (name: the UTC time by
    default); if that is taken, `name-2`, `name-3`, ...: a re-check never writes over another
    or over the run's own results, even when two run at once."""
    name = name or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = parent / (name if n == 1 else f"{name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def analyze(history_path: Path, checkers: Mapping[str, Mapping[str, Any]], system_data: Any = None) -> dict[str, Any]:
    """Re-check a stored or imported history. The facts of the run in the results.json beside
    it (clock offsets, the time origin) carry over: they are not the check's to change."""
    lean = _from_file(history_path, checkers)
    if lean is not None:
        lean["exit_code"] = exit_code_for(lean)
        return {**_run_facts(history_path.parent / store.RESULTS_FILE), **lean}
    from harness.history_reader import read_history  # the reader (EDN, shape rules) only when needed
    history = read_history(history_path)
    results = {**_run_facts(history_path.parent / store.RESULTS_FILE), **check_history(history, checkers, system_data)}
    results["stats"] = history_stats(history)
    if history.warnings:
        results["warnings"] = list(history.warnings)  # e.g. a torn last line that was skipped
    results["exit_code"] = exit_code_for(results)
    return results


def _from_file(history_path: Path, checkers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """A single checker whose function carries `from_file(path, options)` may answer straight
    from the file, without the history being read into ops (the linearizable checker's lean
    path for large keyed histories): it returns (result, stats), or None to be run as usual."""
    if len(checkers) != 1:
        return None
    (name, options), = checkers.items()
    from_file = getattr(plugins.load("checker", name), "from_file", None)
    answer = from_file(history_path, options) if from_file is not None else None
    if answer is None:
        return None
    result, stats = answer
    return {"valid": True, "reason": "every checker passed", "checkers": {name: result}, "stats": stats}


def record(results: dict[str, Any], out_dir: Path, history_path: Path, log: logging.Logger | None = None) -> None:
    """The shared ending: set the exit code, write results.json, then the HTML report (a report
    that cannot be written is logged; the results are already safe).

    A store that cannot be written (a full disk) does not lose the verdict, which the caller
    still prints: results.json that cannot be written makes the run a harness error, and either
    failure is added to the reason, naming the file. Neither leaves half a file behind."""
    results["exit_code"] = exit_code_for(results)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        store.write_json(out_dir / store.RESULTS_FILE, results)
    except OSError as e:
        results["harness_error"] = True
        results["reason"] = f"{results.get('reason', '')}; {_not_written(out_dir / store.RESULTS_FILE, e)}"
        results["exit_code"] = exit_code_for(results)
        return  # no report either: it would say less than the line the caller prints
    try:
        from harness.report import write_report_for
    except ImportError:
        return
    try:
        write_report_for(history_path, results, out_dir)
    except OSError as e:
        results["reason"] = f"{results.get('reason', '')}; {_not_written(out_dir / store.REPORT_FILE, e)}"
        if log is not None:
            log.error("%s", _not_written(out_dir / store.REPORT_FILE, e))
    except Exception:
        if log is None:
            raise
        log.exception("writing the HTML report failed")


def _not_written(path: Path, error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{path.name} not written ({reason[:1].lower()}{reason[1:]}: {path})"


def _run_facts(results_path: Path) -> dict[str, Any]:
    try:
        previous = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(previous, dict):
        return {}
    return {k: v for k, v in previous.items() if k not in JUDGED_KEYS}
