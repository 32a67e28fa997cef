"""The process half of a node handle for runtimes that reach their nodes only through a command
channel (docker, ssh): the server is started by a shell on the node, in a session of its own,
and known by its pid on the node; signals go to its process group with `kill` on the node.

A subclass says how one command runs on the node (`_run`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any, Mapping, Sequence

from harness.runtime.process import SignalledServer
from harness.seams import HarnessError

# $1 log dir, $2 data dir, $3 log file, then the command: started in a new session (setsid in a
# background job of a non-interactive shell does not fork, so $! is the server's own pid).
_SPAWN = 'mkdir -p "$1" "$2" && cd "$2" && log="$3" && shift 3 && { setsid "$@" </dev/null >>"$log" 2>&1 & echo $!; }'
# $1 pid: alive and not a zombie
_ALIVE = 's=$(ps -o stat= -p "$1") && case "$s" in Z*) exit 1;; esac'
# Environment passed through from the controller, so modules resolve as they do here.
PASSED_ENV = ("PYTHONPATH", "PATH")


class ShellNode(SignalledServer):
    """Mixed into a node dataclass with `name`, `data_dir`, `log_dir`, `spawn_env`, `_pid` and
    `_last_spawn`."""

    name: str
    passed_env: tuple[str, ...] = PASSED_ENV
    _pid: int | None
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None

    def _run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        raise NotImplementedError

    def exec(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        # `timeout` on the node too: a channel's own timeout would leave the command running there.
        return self._run(["timeout", "-s", "KILL", str(max(1, int(timeout))), *argv], timeout + 5)

    def _sh(self, script: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return self.exec(["sh", "-c", script, "sh", *args], timeout=timeout)

    @property
    def pid(self) -> int | None:
        return self._pid

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None, log_name: str = "server.log") -> int:
        if self.is_running():
            raise HarnessError(f"node {self.name} already runs pid {self.pid}")
        passed = {k: os.environ[k] for k in self.passed_env if k in os.environ}
        full_env = {**passed, **self.spawn_env, **(env or {})}  # type: ignore[attr-defined]
        log_dir, data_dir = str(self.log_dir), str(self.data_dir)  # type: ignore[attr-defined]
        result = self._sh(_SPAWN, log_dir, data_dir, f"{log_dir}/{log_name}", "env",
                          *(f"{k}={v}" for k, v in full_env.items()), *argv)
        if result.returncode != 0 or not result.stdout.strip().isdigit():
            raise HarnessError(f"starting {argv[0]} on {self.name} failed: {result.stderr.strip() or result.stdout.strip()}")
        self._pid = int(result.stdout.strip())
        self._last_spawn = (list(argv), dict(env) if env else None, log_name)
        return self._pid

    def is_running(self) -> bool:
        return self._pid is not None and self._sh(_ALIVE, str(self._pid)).returncode == 0

    def signal(self, sig: int) -> None:
        if self._pid is not None:
            # dash's kill takes `-N -PGID`, not `--`
            self.exec(["sh", "-c", f"kill -{int(sig)} -{self._pid} 2>/dev/null; true"])

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.is_running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if not self.is_running():
            return
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        if not self._wait_gone(timeout):
            self.kill()

    def kill(self) -> None:
        if self._pid is None:
            return
        self.signal(signal.SIGKILL)
        if not self._wait_gone(30):
            raise HarnessError(f"pid {self._pid} on {self.name} survived SIGKILL for 30 s")


class ShellCluster:
    """Mixed into a cluster dataclass with `prefix` and `nodes` (of ShellNodes): the Cluster
    seam's lookups, and the firewall as iptables run on the node."""

    prefix: str
    nodes: list

    @property
    def run_id(self) -> str:
        return self.prefix

    def node(self, name: str) -> Any:
        for node in self.nodes:
            if node.name == name:
                return node
        raise HarnessError(f"no node named {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def firewall(self, node: Any, argv: Sequence[str]) -> None:
        result = node.exec(["iptables", "-w", *argv])
        if result.returncode != 0:
            raise HarnessError(f"iptables {' '.join(argv)} on {node.name} failed: {result.stderr.strip()}")
