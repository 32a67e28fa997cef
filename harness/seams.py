"""The seams: what a plug-in implements, modelled on Jepsen's DB, Client and Nemesis protocols.

Plug-ins are found through entry points (see `harness.plugins`); each group names what its
entry point must load:

- `faultline.systems`: a `System` class, instantiated as `cls(mode)`.
- `faultline.workloads`: a `Workload` class, instantiated with no arguments.
- `faultline.nemeses`: a function `(NemesisOptions) -> NemesisPackage`.
- `faultline.checkers`: a function `(history: list[Op], options: dict) -> dict`, the result being
  `{"valid": True | False | "unknown", ...evidence}`.
- `faultline.runtimes`: a `Runtime` class, instantiated with no arguments.

Systems and nemeses act on nodes only through `NodeHandle` and `Cluster`, so they run unchanged
on every runtime.
"""

from __future__ import annotations

import random
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from harness.history import Op


@runtime_checkable
class NodeHandle(Protocol):
    """One node of a cluster, wherever it lives."""

    name: str  # "n1", "n2", ...
    address: str  # reachable by peers and by clients (from the client side of the runtime)
    data_dir: Path  # survives restarts of the node's process within a run
    log_dir: Path  # the node's logs; copied into the store
    # Added to the environment of every `spawn` (the system's own `env` wins on a clash), so a
    # nemesis can preload a library into the node's process, e.g. libfaketime for clock faults.
    spawn_env: dict[str, str]

    def exec(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command on the node and wait for it (in the node's network namespace)."""

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None, log_name: str = "server.log") -> int:
        """Start the node's long-running process in a process group of its own; returns its pid.
        Output goes to `log_dir/log_name`. Remembered so `restart` can start it again."""

    def is_running(self) -> bool:
        """Whether the spawned process is alive (a paused process is alive)."""

    def signal(self, sig: int) -> None:
        """Send a signal to the whole process group of the spawned process."""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; waits until the process is gone."""

    def kill(self) -> None:
        """SIGKILL the process group and wait until it is gone."""

    def pause(self) -> None:
        """SIGSTOP the process group."""

    def resume(self) -> None:
        """SIGCONT the process group."""

    def restart(self) -> int:
        """Spawn the last spawned command again (after a kill or stop); returns the new pid."""

    def put_file(self, local: Path, remote: str) -> None: ...

    def get_file(self, remote: str, local: Path) -> None: ...


@runtime_checkable
class Cluster(Protocol):
    """The nodes of one test, plus the way clients reach them."""

    nodes: list[NodeHandle]
    run_dir: Path

    def node(self, name: str) -> NodeHandle: ...

    def connect(self, node: NodeHandle, port: int, timeout: float) -> socket.socket:
        """A TCP connection to `node:port` from the client side (for the local runtime: from
        the client namespace, never the root namespace)."""

    def firewall(self, node: NodeHandle, argv: Sequence[str]) -> None:
        """Run an iptables command inside the node (partitions and network faults)."""


class Runtime(Protocol):
    """Where nodes live: creates and destroys clusters."""

    name: str

    def check_prerequisites(self) -> None:
        """Raise `HarnessError` with the fix if this machine cannot host the runtime."""

    def create(self, run_dir: Path, node_names: Sequence[str], prefix: str) -> Cluster: ...

    def destroy(self, cluster: Cluster) -> None:
        """Remove everything `create` made; safe to call twice and after a partial create."""

    def cleanup(self, prefix: str | None = None) -> list[str]:
        """Remove what crashed runs left (all faultline resources, or one run's); returns what
        was removed, described for a person."""


class Client(Protocol):
    """One logical process's connection to the system. Created unopened by `System.client`."""

    def open(self, cluster: Cluster, node: NodeHandle) -> None: ...

    def invoke(self, op: Op) -> Op:
        """Perform `op` and return its completion (`op.complete(...)`). When the outcome is
        unknown (timeout, connection lost after sending) the completion is `info`, never `fail`.
        An exception raised here is recorded as `info` with the exception as error."""

    def close(self) -> None: ...


class System(Protocol):
    """A system under test. Instantiated per test as `cls(mode)`."""

    name: str
    modes: Sequence[str]  # the first is the default
    workloads: Sequence[str]  # workload names it supports
    capabilities: frozenset[str]  # faults it supports among {"kill", "pause", "clock", "disk"}
    description: str

    def __init__(self, mode: str, server_args: tuple[str, ...] = ()) -> None:
        """`server_args`: extra flags for every node's server (`faultline test --server-arg`),
        e.g. dynkv's `--n 5 --r 2 --w 2`."""

    def setup(self, cluster: Cluster) -> None:
        """Install and configure on every node, before the first start."""

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        """Start (or restart) the node's server and return once it accepts clients."""

    def client(self, cluster: Cluster) -> Client: ...

    def teardown(self, cluster: Cluster) -> None:
        """Stop every node's server (the runtime removes the nodes themselves)."""

    # Optional, looked up with getattr:
    #   workload_params: Mapping[str, Mapping[str, Any]]  workload name -> its parameters, e.g.
    #       {"register": {"cas": False}} for a system without compare-and-set
    #   checkers(self, workload: str) -> Mapping[str, Mapping[str, Any]]  extra checkers
    #   collect(self, cluster) -> Any  data for those checkers, saved as system.json


@dataclass(frozen=True)
class WorkloadOptions:
    """What a workload may depend on when it builds its generators."""

    seed: int
    concurrency: int
    nodes: Sequence[str]
    rate: float = 0.0  # ops/s over all clients; 0 = as fast as clients go
    params: Mapping[str, Any] = field(default_factory=dict)  # from System.workload_params[name]


class Workload(Protocol):
    """A generator of client operations plus the checkers that judge the history."""

    name: str
    description: str

    def generator(self, options: WorkloadOptions) -> Any:
        """The main phase's client ops (a generator, see `harness.generator`)."""

    def final_generator(self, options: WorkloadOptions) -> Any | None:
        """Ops run after faults are healed and nodes restarted (final reads), or None."""

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        """Checker names (entry points in `faultline.checkers`) and the options for each."""


@dataclass(frozen=True)
class NemesisOptions:
    seed: int
    nodes: Sequence[str]
    interval: float  # mean seconds between faults
    capabilities: frozenset[str]  # what the system supports
    concurrency: int = 1  # client worker threads (0..concurrency-1), for faults aimed at clients


class ClientGates(Protocol):
    """The runner's hold on its client worker threads, for faults that stall a client the way
    SIGSTOP or a long GC pause stalls a client process. The controller runs the clients, so this
    works the same on every runtime. A nemesis that wants it defines
    `bind_clients(self, gates: ClientGates) -> None`; the runner calls that before the first op,
    and opens every gate itself when the run ends, however it ends."""

    threads: Sequence[int]

    def close(self, threads: Sequence[int], seconds: float) -> dict[int, Any]:
        """Stall these threads for at most `seconds` from now; returns thread -> its process."""

    def open(self, threads: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Reopen these threads' gates (None: all); returns the stalls that ended, described
        for the history (thread, process, op index, f, where, seconds)."""


class Nemesis(Protocol):
    """Injects faults. `invoke` gets an invocation from the nemesis process and returns its
    completion (usually `info`, with `value` saying exactly what was done)."""

    def setup(self, cluster: Cluster, system: System) -> None: ...

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op: ...

    def teardown(self, cluster: Cluster, system: System) -> None:
        """Heal everything this nemesis did. Runs on success, on error and on Ctrl-C."""

    # Optional, looked up with getattr:
    #   bind_clients(self, gates: ClientGates) -> None  for faults that stall client threads


@dataclass
class NemesisPackage:
    """A fault bundled with its schedule, its final heal and how the report draws it."""

    name: str
    nemesis: Nemesis
    fs: frozenset[str]  # the op `f`s this package's nemesis handles
    generator: Any  # nemesis ops for the main phase
    final_generator: Any | None  # heal/recover ops before the final phase
    # fault f -> {"start": f that begins the interval, "stop": f that ends it, "color": css}
    draw: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # described for `faultline systems`


class HarnessError(Exception):
    """A problem a person can act on (bad input, a missing privilege or tool). The CLI prints
    the message alone and exits 3."""


CheckerFn = Callable[[list[Op], Mapping[str, Any]], dict]


def seeded_rng(seed: int, purpose: str) -> random.Random:
    """An independent, reproducible random stream per purpose, all from the test's one seed."""
    return random.Random(f"{seed}:{purpose}")
