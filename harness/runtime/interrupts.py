"""Holding Ctrl-C and SIGTERM off while a runtime makes or removes a cluster, one piece at a time.

Python runs a signal handler between any two bytecodes, so an interrupt can land after a
namespace was made and before the cluster noted it: teardown then never sees that namespace.
While signals are held, a SIGINT or SIGTERM is only noted; the runtime asks at the points it
chooses (`checkpoint`, between two pieces, when the cluster knows exactly what exists) and it is
delivered, to the handler that was in place, when the hold ends (`release`). So creation stays
interruptible, with a delay of one `ip` command at most, and leaves nothing when interrupted.

Handlers can only be changed in the main thread; elsewhere holding does nothing (signals are
delivered to the main thread anyway).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from harness.seams import HarnessError

HELD = (signal.SIGINT, signal.SIGTERM)


class CreationInterrupted(HarnessError):
    """Raised at a checkpoint when a signal came while held; replaced by the run's own
    reaction to that signal (KeyboardInterrupt, the controller's SIGTERM exception) when the
    hold is released, unless that handler does nothing."""


class HeldSignals:
    def __init__(self) -> None:
        self.pending: int | None = None
        self._saved: dict[int, object] = {}

    def hold(self) -> None:
        """Note SIGINT and SIGTERM instead of acting on them (a second call does nothing)."""
        if self._saved or threading.current_thread() is not threading.main_thread():
            return
        for sig in HELD:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN or previous is None:
                continue  # ignored stays ignored; None: set from outside Python, leave it
            self._saved[sig] = signal.signal(sig, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.pending is None:
            self.pending = signum

    def checkpoint(self) -> None:
        """Stop here if a signal came: the caller removes what it made, then releases."""
        if self.pending is not None:
            raise CreationInterrupted(f"interrupted by {signal.Signals(self.pending).name} while the cluster was made")

    def release(self) -> None:
        """Put the handlers back and deliver a signal noted meanwhile to them (which raises
        KeyboardInterrupt for Ctrl-C, or whatever the controller's SIGTERM handler raises)."""
        for sig, previous in self._saved.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._saved.clear()
        if self.pending is not None:
            sig, self.pending = self.pending, None
            signal.raise_signal(sig)

    def __enter__(self) -> "HeldSignals":
        self.hold()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
