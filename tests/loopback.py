"""A stand-in for the runtime's Cluster and NodeHandle: real server processes on this machine,
each on a loopback address of its own (127.0.0.x) and one shared port, as in a real cluster, so
a System class runs unchanged without namespaces or root. Signals go to each node's process
group, as the local runtime's do. No firewall: tests that cut links use the real runtime.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence


@dataclass
class LoopbackNode:
    name: str
    address: str
    data_dir: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # e.g. libfaketime for a skewed clock
    proc: subprocess.Popen | None = field(default=None, repr=False)
    argv: list[str] = field(default_factory=list)

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None, log_name: str = "server.log") -> int:
        assert not self.is_running(), f"{self.name} already runs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.argv = list(argv)
        with open(self.log_dir / log_name, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
                                         start_new_session=True, env={**os.environ, **self.env, **(env or {})})
        return self.proc.pid

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.is_running():
            os.killpg(self.proc.pid, sig)  # type: ignore[union-attr]

    def kill(self) -> None:
        if self.proc is not None:
            self.signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        self.signal(signal.SIGCONT)  # a paused process would otherwise sit on the SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def restart(self) -> int:
        self.kill()
        return self.spawn(self.argv)

    def get_file(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)


@dataclass
class LoopbackCluster:
    nodes: list[LoopbackNode]
    run_dir: Path

    def node(self, name: str) -> LoopbackNode:
        return next(n for n in self.nodes if n.name == name)

    def connect(self, node: LoopbackNode, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((node.address, port), timeout=timeout)

    def firewall(self, node: LoopbackNode, argv: Sequence[str]) -> None:
        raise NotImplementedError("no firewall on the loopback stand-in")


def free_port(addresses: Sequence[str]) -> int:
    """A port that is free on every one of the given loopback addresses."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            for address in addresses:
                with socket.socket() as s:
                    s.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on all loopback addresses")
