"""Run records: which runs on this machine are alive, so that `cleanup` never removes a live one.

A runtime that makes things on this host outside the run directory (namespaces, routes, cgroups)
writes a record, `/run/faultline/<run_id>.json`, as the very first step of `create`, before it
makes anything, and removes it as the very last step of `destroy`. The record names the
controller by its pid *and* its start time (field 22 of /proc/PID/stat): after a crash the pid
may be reused by an unrelated process, and a pid alone would then make a dead run look alive.
`cleanup` counts a run as alive while that exact process runs, and leaves it alone.

The record also lists what the run makes (its namespaces, its subnet), written before they are
made, so a cleanup after a SIGKILL finds them all. /run is a tmpfs, emptied at boot together
with /run/netns, so a record never outlives what it describes by a reboot.

`host_lock` serialises the few steps where runs and cleanups share one name space: choosing a
subnet and adding its guard route, and deciding that a guard route belongs to no run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.seams import HarnessError

RUNS_DIR = Path("/run/faultline")
LOCK_NAME = ".lock"


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None when it is gone or a zombie
    (a killed child of ours stays one until reaped). With the pid it names one process for good."""
    fields = stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]


def controller_mark(pid: int | None = None) -> str:
    """`pid:start_time` of this process (or of `pid`): what a record or a marker stores."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_time(pid)}"


def mark_alive(mark: str) -> bool:
    """Whether the process a `controller_mark` named still runs (and is that same process)."""
    pid, _, started = mark.partition(":")
    return pid.isdigit() and started != "None" and start_time(int(pid)) == started


class CleanupReport(list):
    """What a cleanup removed, one line each for a person (the list itself, as `Runtime.cleanup`
    always returned), and what it left alone and why (`skipped`: a live run's controller pid)."""

    def __init__(self, removed: list[str] | None = None, skipped: list[str] | None = None) -> None:
        super().__init__(removed or [])
        self.skipped: list[str] = list(skipped or [])


@dataclass
class RunRecord:
    run_id: str
    runtime: str
    controller: str  # controller_mark of the process that created the cluster
    path: Path
    parts: dict[str, Any] = field(default_factory=dict)  # what the run makes: namespaces, subnet

    @property
    def pid(self) -> int:
        return int(self.controller.partition(":")[0] or 0)

    def alive(self) -> bool:
        return mark_alive(self.controller)

    def ours(self) -> bool:
        """Whether this process wrote the record (and it is still on disk)."""
        current = read(self.run_id, self.path.parent)
        return current is not None and current.controller == controller_mark()


def claim(run_id: str, runtime: str, parts: dict[str, Any], directory: Path | None = None) -> RunRecord:
    """Write the record of a new run; refuse if one with this id exists (a prefix clash)."""
    directory = directory or RUNS_DIR
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    record = RunRecord(run_id, runtime, controller_mark(), directory / f"{run_id}.json", dict(parts))
    try:
        fd = os.open(record.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise HarnessError(f"a run with prefix {run_id} is already recorded in {record.path}; "
                           "start the test again for a fresh prefix") from None
    with os.fdopen(fd, "w") as f:
        f.write(_dump(record))
    return record


def update(record: RunRecord, **parts: Any) -> None:
    """Add to what the record says the run makes; written whole by rename, so a reader never
    sees half a record."""
    record.parts.update(parts)
    tmp = record.path.with_name(record.path.name + ".tmp")
    tmp.write_text(_dump(record))
    os.replace(tmp, record.path)


def release(record: RunRecord) -> None:
    """Remove the record: the run made nothing that is still there."""
    with contextlib.suppress(FileNotFoundError):
        record.path.unlink()


def read(run_id: str, directory: Path | None = None) -> RunRecord | None:
    return _load((directory or RUNS_DIR) / f"{run_id}.json")


def all_records(directory: Path | None = None) -> list[RunRecord]:
    directory = directory or RUNS_DIR
    if not directory.is_dir():
        return []
    records = [_load(path) for path in sorted(directory.glob("*.json"))]
    return [r for r in records if r is not None]


@contextlib.contextmanager
def host_lock(directory: Path | None = None) -> Iterator[None]:
    """An exclusive lock shared by every run and cleanup on this host (flock: released by the
    kernel if the holder dies)."""
    directory = directory or RUNS_DIR
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _dump(record: RunRecord) -> str:
    return json.dumps({"run_id": record.run_id, "runtime": record.runtime, "controller": record.controller,
                       **record.parts}, indent=1) + "\n"


def _load(path: Path) -> RunRecord | None:
    try:
        data = json.loads(path.read_text())
        parts = {k: v for k, v in data.items() if k not in ("run_id", "runtime", "controller")}
        return RunRecord(str(data["run_id"]), str(data["runtime"]), str(data["controller"]), path, parts)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # gone meanwhile, or not a record of ours
