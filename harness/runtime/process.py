"""The process half of a node handle, for runtimes whose node processes are children of the
controller (local, loopback): spawn in a session of its own, so every signal reaches the
whole process group; stop, kill, pause and resume by signal; restart from the remembered
command line."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Mapping, Sequence

from harness.runtime.interrupts import HeldSignals
from harness.seams import HarnessError


class SignalledServer:
    """What pause, resume and restart are on any node handle whose server is one process group
    it can signal (`signal`), kill and spawn again with the command it remembers."""

    name: str
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def restart(self) -> int:
        if self._last_spawn is None:
            raise HarnessError(f"node {self.name} was never started, so it cannot be restarted")
        self.kill()
        argv, env, log_name = self._last_spawn
        return self.spawn(argv, env, log_name)


class ProcessGroupNode(SignalledServer):
    """Mixed into a node dataclass that has `name`, `data_dir`, `log_dir`, `spawn_env`, `_proc`
    and `_last_spawn`. A runtime says how a command runs on its node (`_on_node`) and what it
    adds to the environment (`_marker_env`)."""

    name: str
    _proc: subprocess.Popen | None
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None

    def _on_node(self, argv: Sequence[str]) -> list[str]:
        return list(argv)

    def _marker_env(self) -> Mapping[str, str]:
        return {}

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None, log_name: str = "server.log") -> int:
        if self.is_running():
            raise HarnessError(f"node {self.name} already runs pid {self.pid}")
        self.log_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        self.data_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        full_env = {**os.environ, **self.spawn_env, **(env or {}), **self._marker_env()}  # type: ignore[attr-defined]
        # Signals held: an interrupt that lands inside Popen, after the fork, would leave a
        # process whose pid the handle never learnt, which no heal or teardown then reaches.
        with open(self.log_dir / log_name, "ab") as log, HeldSignals():  # type: ignore[attr-defined]
            # A new session makes the server a process group leader: every signal goes to the
            # group, so helpers the server forks are paused and killed with it.
            self._proc = subprocess.Popen(
                self._on_node(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,  # type: ignore[attr-defined]
                env=full_env,
                start_new_session=True,
            )
            self._last_spawn = (list(argv), dict(env) if env else None, log_name)
        return self._proc.pid

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.is_running():
            try:
                os.killpg(self._proc.pid, sig)  # type: ignore[union-attr]
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        if not self.is_running():
            return
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        try:
            self._proc.wait(timeout=timeout)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self._proc is None:
            return
        self.signal(signal.SIGKILL)
        self._proc.wait()
