"""Durable storage shared by the reference systems: an append-only log and atomic state files.

Every record is one line, `<crc32 hex> <json>`, so a torn or corrupted tail (a crash in the
middle of a write, or the disk-fault nemesis) is detected on replay: the log is cut back to the
last good record instead of loading garbage. `sync=True` fsyncs before `append` returns; that is
what lets a system acknowledge a write only once it is on disk.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Iterable


def _encode(record: Any) -> bytes:
    body = json.dumps(record, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _decode(line: bytes) -> Any:
    """The record on a line, or raises ValueError if the line is torn or corrupt."""
    if not line.endswith(b"\n") or len(line) < 10 or line[8:9] != b" ":
        raise ValueError("torn record")
    body = line[9:-1]
    if int(line[:8], 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch")
    return json.loads(body)


def holds_records(path: Path) -> bool:
    """Whether the file starts with a record in this layer's format (the tests use it to find
    the logs a system keeps here, whatever it named them)."""
    try:
        with open(path, "rb") as f:
            _decode(f.readline())
    except (OSError, ValueError):
        return False
    return True


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableLog:
    """An append-only log of JSON records. Not thread-safe: callers hold their own lock."""

    def __init__(self, path: Path, sync: bool = True):
        self.path = Path(path)
        self.sync = sync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records = self._recover()
        self._file = open(self.path, "ab")

    def _recover(self) -> list[Any]:
        """Load every good record and cut the file after the last one."""
        if not self.path.exists():
            return []
        records, good_bytes = [], 0
        with open(self.path, "rb") as f:
            for line in f:
                try:
                    records.append(_decode(line))
                except ValueError:
                    break
                good_bytes += len(line)
        if good_bytes != self.path.stat().st_size:
            os.truncate(self.path, good_bytes)
        return records

    @property
    def records(self) -> list[Any]:
        """Everything appended so far (including what was replayed at open)."""
        return self._records

    def append(self, record: Any) -> None:
        self.extend([record])

    def extend(self, records: Iterable[Any]) -> None:
        records = list(records)
        self._file.write(b"".join(_encode(r) for r in records))
        self._file.flush()
        if self.sync:
            os.fsync(self._file.fileno())
        self._records.extend(records)

    def truncate(self, length: int) -> None:
        """Keep only the first `length` records (Raft cuts a conflicting suffix this way)."""
        if length >= len(self._records):
            return
        self._records = self._records[:length]
        self._file.close()
        write_atomic_lines(self.path, self._records)
        self._file = open(self.path, "ab")

    def close(self) -> None:
        self._file.close()


def write_atomic_lines(path: Path, records: Iterable[Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(b"".join(_encode(r) for r in records))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_state(path: Path, state: Any) -> None:
    """Replace a small state file atomically and durably (Raft's term and vote)."""
    write_atomic_lines(Path(path), [state])


def read_state(path: Path, default: Any) -> Any:
    """The state last written by `write_state`, or `default` if there is none."""
    try:
        with open(path, "rb") as f:
            return _decode(f.readline())
    except (OSError, ValueError):
        return default
