"""Where runs are kept: `store/<test-name>/<timestamp>/`, with `store/latest` at the newest.

A run directory holds test.json (the spec, seed included: enough to re-run), history.jsonl,
results.json, report.html, nodes/<node>/ logs and harness.log.
"""

from __future__ import annotations

import json
import os
import re
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


# One path component of ordinary characters: a test name becomes a folder of the store, and
# `latest` must only ever point inside the store.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_NAME_MAX = 100
_RESERVED_NAMES = frozenset({"latest"})  # store/latest is the link to the newest run


def check_test_name(name: str) -> None:
    """Refuse a test name that would not be one plain folder inside the store."""
    if not name:
        raise HarnessError("--name: the test name is empty; give a plain name such as seedkv-set")
    if len(name) > _NAME_MAX:
        raise HarnessError(f"--name: the test name is {len(name)} characters long; keep it to {_NAME_MAX}")
    if not _NAME.fullmatch(name):
        raise HarnessError(
            f"--name {name!r}: a test name is one folder of the store: letters, digits and . _ + -, "
            "starting with a letter or digit (no /, no .., no spaces)"
        )
    if name in _RESERVED_NAMES:
        raise HarnessError(f"--name {name!r}: that name is taken by the store's link to the newest run")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def new_run_dir(store: Path, test_name: str, started: datetime) -> Path:
    """Make a fresh run directory and point `store/latest` at it. The name is checked before
    anything is created, and a test folder that is a link out of the store is refused, so
    neither the run nor `latest` can land outside the store."""
    check_test_name(test_name)
    store = Path(store)
    root = Path(os.path.realpath(store))
    test_dir = store / test_name
    if not _inside(Path(os.path.realpath(test_dir)), root):
        raise HarnessError(f"--name {test_name!r}: {test_dir} leads out of the store {root}; choose another name")
    stamp = started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
    base = test_dir / stamp
    run_dir, n = base, 1
    while os.path.lexists(run_dir):  # two runs in one second
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
    """Write JSON atomically, so a crash never leaves half a results file: write a temporary
    file beside it, sync it and rename it over. A write that fails (a full disk) raises OSError
    and leaves the old file, if any, as it was, and no temporary file behind."""
    text = json.dumps(data, indent=2, default=repr) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


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
