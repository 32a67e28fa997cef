"""The journal: a run's history written as JSON Lines while the run goes, one op a line, so a
controller killed with SIGKILL loses no op it had recorded, and a full disk leaves only whole
lines behind. `write_history` writes a whole history at once (tests, imports)."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any, Iterable

import orjson

from harness.history import Op


class JournalError(Exception):
    """The journal could not be written, most often because the disk is full.

    The run must stop: an op it went on with would be recorded only in memory. The message names
    the file and the system's reason ("no space left on device writing store/.../history.jsonl")
    and how many ops the file holds whole; the ops after them are still in `HistoryWriter.ops`.
    (Not a HarnessError: seams.py imports this module. The runner turns it into one.)
    """

    def __init__(self, path: Path, error: OSError, on_disk: int):
        reason = error.strerror or str(error)
        code = errno.errorcode.get(error.errno or 0)
        super().__init__(f"{reason[:1].lower()}{reason[1:]} writing {path}{f' ({code})' if code else ''}; "
                         f"the file holds the first {on_disk} ops whole")
        self.path, self.errno, self.on_disk = Path(path), error.errno, on_disk


class HistoryWriter:
    """Appends ops to a JSON Lines journal, numbering them.

    With `flush_each=True` (the default) every op is handed to the OS as it is appended. The
    runner passes False and calls `flush()` itself each time its loop turns (before it waits for
    anything), which costs far fewer system calls and, with them, fewer hand-overs of the GIL to
    worker threads: a completion is on disk before the runner acts on anything after it. Either
    way a controller killed with SIGKILL loses no op it had acted on.

    A write that fails (a full disk) raises `JournalError` and ends the journal: the file is cut
    back to its last whole line, so every line in it stays readable, and from then on `append`
    and `flush` raise the same error at once, so no thread goes on as if its op were recorded.
    Every op appended, before or after, stays in `ops`, for the run to check what it saw.
    The buffering is done here, not by `open`, to know exactly which bytes reached the file.

    Safe to call from several threads; `append` returns the op with its index set.
    """

    BUFFER_LIMIT = 1 << 20  # bytes kept before a write even without a flush

    def __init__(self, path: Path, flush_each: bool = True):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._flush_each = flush_each
        self._next_index = 0
        self.ops: list[Op] = []
        self.failure: JournalError | None = None
        self._pending = bytearray()  # lines not yet in the file (the first may be partly there)
        self._on_disk = 0  # ops whose lines are whole in the file
        self._unsettled = False  # a write may have happened that `_took` has not counted
        self._pending_lines = 0  # lines in `_pending` (its first may be partly in the file)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)
            self._size = os.fstat(self._file.fileno()).st_size
            self._whole = self._size  # the file's length up to its last whole line
        except OSError as e:
            raise JournalError(self.path, e, 0) from None

    def append(self, op: Op) -> Op:
        with self._lock:
            op.index = self._next_index
            self._next_index += 1
            self.ops.append(op)
            if self.failure is not None:
                raise self.failure
            self._pending += encode_op(op)
            self._pending_lines += 1
            if self._flush_each or len(self._pending) >= self.BUFFER_LIMIT:
                self._write_pending()
            return op

    def flush(self) -> None:
        """Hand every appended op to the OS; raises JournalError if the journal has failed."""
        with self._lock:
            if self.failure is not None:
                raise self.failure
            if self._pending and not self._file.closed:
                self._write_pending()

    def close(self) -> None:
        """Flush and close. Never raises: a failure of the last flush is kept in `failure`,
        which the owner checks (a close in a `finally` must not hide the error being raised)."""
        with self._lock:
            if self._file.closed:
                return
            try:
                if self.failure is None and self._pending:
                    self._write_pending()
            except JournalError:
                pass
            finally:
                try:
                    self._file.close()
                except OSError:
                    pass

    def _write_pending(self) -> None:
        """Write the pending lines (caller holds the lock); on failure cut the file back to
        its last whole line and end the journal.

        Ctrl-C can land in the main thread between a write and the bookkeeping after it; the
        lines it wrote must not be written again by the next flush or the close. So a write is
        marked unsettled until its bytes are accounted for, and an unsettled one is settled
        from the file's size (this writer is the file's only writer) before anything else."""
        try:
            if self._unsettled:
                self._took(os.fstat(self._file.fileno()).st_size - self._size)
                self._unsettled = False
            while self._pending:
                self._unsettled = True
                written = self._file.write(self._pending)
                if written == len(self._pending):  # the usual case: every line, all whole
                    self._on_disk += self._pending_lines
                    self._size += written
                    self._whole = self._size
                    self._pending_lines = 0
                    self._pending.clear()
                else:
                    self._took(written)
                self._unsettled = False
        except OSError as e:
            try:
                self._took(os.fstat(self._file.fileno()).st_size - self._size)
            except OSError:
                pass
            self._cut_to(self._whole)
            self._pending.clear()
            self._pending_lines = 0
            self.failure = JournalError(self.path, e, self._on_disk)
            raise self.failure from None

    def _took(self, written: int) -> None:
        """Drop from `_pending` the `written` bytes now in the file, counting whole lines."""
        if written <= 0:
            return
        lines = self._pending.count(b"\n", 0, written)
        last = self._pending.rfind(b"\n", 0, written)
        # No call from here on, so no signal handler can run halfway through the update.
        self._on_disk += lines
        self._pending_lines -= lines
        if last >= 0:
            self._whole = self._size + last + 1
        self._size += written
        del self._pending[:written]

    def _cut_to(self, size: int) -> None:
        # A torn line helps no reader; cutting it frees space, so it works on a full disk too.
        try:
            os.ftruncate(self._file.fileno(), size)
        except OSError:
            pass

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()
        if self.failure is not None and exc_type is None:
            raise self.failure


_ORJSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def encode_op(op: Op) -> bytes:
    """One journal line. orjson, because encoding is most of the runner's cost per op."""
    return orjson.dumps(op.to_dict(), default=_json_fallback, option=_ORJSON_OPTIONS)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)




def write_history(path: Path, ops: Iterable[Op]) -> None:
    """Write ops as JSON Lines (indices are kept as they are)."""
    with open(path, "wb") as f:
        for op in ops:
            f.write(encode_op(op))
