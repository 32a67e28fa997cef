"""Where runs are kept: `store/<test-name>/<timestamp>/`, with `store/latest` at the newest.

A run directory holds test.json (the spec, seed included: enough to re-run), history.jsonl,
results.json, report.html, nodes/<node>/ logs and harness.log.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.seams import HarnessError

TEST_FILE, HISTORY_FILE, RESULTS_FILE, REPORT_FILE, LOG_FILE, SYSTEM_FILE = (
    "test.json",
    "history.jsonl",
    "results.json",
    "report.html",
    "harness.log",
    "system.json",
)


def new_run_dir(store: Path, test_name: str, started: datetime) -> Path:
    """Make a fresh run directory and point `store/latest` at it."""
    stamp = started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
    base = store / test_name / stamp
    run_dir, n = base, 1
    while run_dir.exists():  # two runs in one second
        n += 1
        run_dir = base.with_name(f"{stamp}-{n}")
    run_dir.mkdir(parents=True)
    latest = store / "latest"
    tmp = store / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.relative_to(store))
    os.replace(tmp, latest)
    return run_dir


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically, so a crash never leaves half a results file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=repr) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def resolve_history(path: Path) -> tuple[Path, Path | None]:
    """A history file and its run directory (None for a bare file) from a path that names a run
    directory, `store/latest`, a store directory, or a history file itself."""
    if path.is_dir():
        if (path / "latest").exists() and not (path / HISTORY_FILE).exists():
            path = path / "latest"
        history = path / HISTORY_FILE
        if not history.exists():
            raise HarnessError(f"{path}: not a run directory (no {HISTORY_FILE})")
        return history, path.resolve()
    if not path.exists():
        raise HarnessError(f"{path}: no such file or directory")
    return path, None
