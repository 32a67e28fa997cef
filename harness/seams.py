"""The seams: everything a plug-in implements or may implement, in one file.

Modelled on Jepsen's DB, Client and Nemesis protocols. Plug-ins are found through entry points
(`harness.plugins` loads them and checks them against this file before any cluster starts);
each group names what its entry point must load:

| group                 | loads                                   | instantiated as                    |
|-----------------------|-----------------------------------------|------------------------------------|
| `faultline.systems`   | a `System` class                        | `cls(mode, server_args)`           |
| `faultline.workloads` | a `Workload` class                      | `cls()`                            |
| `faultline.nemeses`   | a `NemesisFactory`                      | `factory(NemesisOptions)`          |
| `faultline.checkers`  | a `CheckerFn`                           | called as `check(history, options)`|
| `faultline.runtimes`  | a `Runtime` class                       | `cls()`                            |

A test runs in this order; each line names the hooks called there:

1. load and check every plug-in; build the nemesis packages (`NemesisFactory`), refusing two
   that handle the same fault op; `Runtime.check_prerequisites`.
2. `Runtime.new_prefix`, `Runtime.create` -> a `Cluster` of `NodeHandle`s.
3. `System.setup(cluster)`; `Nemesis.setup` for every package (a fault may shape how nodes
   start, e.g. libfaketime in `NodeHandle.spawn_env`).
4. `System.start(cluster, node)` for every node, one after the other without waiting; then the
   harness polls `ReportsReadiness.ready(cluster, node)` for every node until all are ready or
   `BoundsStartup.start_timeout` passes. So a system whose nodes can only get ready together (Raft,
   etcd, ZooKeeper, a primary with replicas) starts like any other.
5. `TunesWorkloads.workload_params` -> `WorkloadOptions.params`; `Workload.generator`;
   `BindsClients.bind_clients` for nemeses that stall clients.
6. the main phase: `System.client(cluster)` per client process, `Client.open`, `Client.invoke`;
   `Nemesis.invoke` for fault ops (`ReportsPrimary.primary` when a fault aims at the primary).
   A nemesis that restarts nodes goes through `harness.startup.restart_nodes`, which is
   bounded, so a heal never waits forever on a node that needs a quorum to boot.
7. the final heal (`NemesisPackage.final_generator`), then `Workload.final_generator`.
8. `CollectsData.collect(cluster)` -> `system.json`, passed to checkers as
   `options["system_data"]`.
9. `Runtime.lost` (a vanished cluster ends the run as a harness error); teardown, whatever
   ended the run: `Nemesis.teardown`, `System.teardown`, `Runtime.destroy`; then
   `KeepsResults.results` of every nemesis.
10. checkers: `Workload.checkers()` plus `AddsCheckers.checkers(workload)`; each `CheckerFn`
    returns a result that declares its evidence by kind (`EVIDENCE_KINDS`).

Systems and nemeses act on nodes only through `NodeHandle` and `Cluster`, so they run unchanged
on every runtime. Nothing outside `harness/runtime/` reads a runtime's own attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing them costs start-up of every command
    import socket
    import subprocess

from harness.history import Op

# --------------------------------------------------------------------------------------------
# Where nodes live


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

    @property
    def pid(self) -> int | None:
        """The spawned process's pid as the node sees it (what `exec` commands on the node can
        name, e.g. to move it into a cgroup); None before the first spawn."""

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
    # Unique among the runs alive on this host (the run's prefix): a nemesis names what it
    # creates outside the nodes with it, so cleanup can tell one run's leftovers from another's.
    run_id: str

    def node(self, name: str) -> NodeHandle: ...

    def connect(self, node: NodeHandle, port: int, timeout: float) -> socket.socket:
        """A TCP connection to `node:port` from the client side (for the local runtime: from
        the client namespace, never the root namespace)."""

    def firewall(self, node: NodeHandle, argv: Sequence[str]) -> None:
        """Run an iptables command inside the node (partitions and network faults). A runtime
        without a firewall raises `HarnessError` saying so."""


@runtime_checkable
class Runtime(Protocol):
    """Where nodes live: creates and destroys clusters."""

    name: str

    def check_prerequisites(self) -> None:
        """Raise `HarnessError` with the fix if this machine cannot host the runtime."""

    def new_prefix(self) -> str:
        """A fresh run id: short, safe in interface and file names, unique on this host."""

    def create(self, run_dir: Path, node_names: Sequence[str], prefix: str) -> Cluster: ...

    def lost(self, cluster: Cluster) -> str | None:
        """What of the cluster is gone that this run did not remove (another process's cleanup,
        a host that went away), described for a person; None while it is whole. Asked after
        the final phase: a run whose cluster vanished under it is a harness error, not a
        verdict on the system."""

    def destroy(self, cluster: Cluster) -> None:
        """Remove everything `create` made; safe to call twice and after a partial create, and
        also when creation was interrupted halfway (nothing of it may be left)."""

    def cleanup(self, prefix: str | None = None, force: bool = False) -> list[str]:
        """Remove what crashed runs left (every run's, or the one with this prefix), including
        what faults made on this runtime's hosts under the run's id. A run whose controller
        still runs is never touched, unless it is named by `prefix` with `force`. Returns what
        was removed, described for a person; a `harness.runtime.runs.CleanupReport` (a list)
        also says in `.skipped` what was left and why."""


# --------------------------------------------------------------------------------------------
# The system under test


@runtime_checkable
class Client(Protocol):
    """One logical process's connection to the system. Created unopened by `System.client`."""

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        """Bind to `node` (client thread i is bound to node i mod n). Open lazily or here; an
        exception here completes the op as `fail`, since nothing was sent."""

    def invoke(self, op: Op) -> Op:
        """Perform `op` and return its completion (`op.complete(...)`). When the outcome is
        unknown (timeout, connection lost after sending) the completion is `info`, never `fail`.
        An exception raised here is recorded as `info` with the exception as error."""

    def close(self) -> None: ...


CAPABILITIES = frozenset({"kill", "pause", "clock", "disk"})
"""What a system may declare. Faults that need none of them (partitions, network degradation,
slow nodes, client pauses) run against any system.

- `kill`: its nodes survive SIGKILL and a later `start` (kill and disk faults).
- `pause`: SIGSTOP/SIGCONT of the node's process group is meaningful (pause faults).
- `clock`: nodes start through `NodeHandle.spawn`, which carries the clock fault's libfaketime
  preload (a static binary, e.g. most Go programs, ignores it: do not declare it then).
- `disk`: what the node keeps lives under `NodeHandle.data_dir`; with `DeclaresDurableFiles`
  the truncate and corrupt faults aim at those files only."""


@runtime_checkable
class System(Protocol):
    """A system under test. Instantiated per test as `cls(mode, server_args)`."""

    name: str
    modes: Sequence[str]  # non-empty; the first is the default
    workloads: Sequence[str]  # workload names it supports
    capabilities: frozenset[str]  # a subset of CAPABILITIES
    description: str

    def __init__(self, mode: str, server_args: tuple[str, ...] = ()) -> None:
        """`server_args`: extra flags for every node's server (`faultline test --server-arg`),
        e.g. dynkv's `--n 5 --r 2 --w 2`."""

    def setup(self, cluster: Cluster) -> None:
        """Install and configure on every node, before the first start."""

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        """Launch (or relaunch) the node's server and return without waiting for its peers:
        the harness starts every node before it asks any of them `ready`. Waiting for what the
        node can do alone is allowed; waiting for a quorum is not."""

    def client(self, cluster: Cluster) -> Client: ...

    def teardown(self, cluster: Cluster) -> None:
        """Stop every node's server (the runtime removes the nodes themselves)."""


# Optional System hooks. A system provides one by defining the member; the harness asks
# `isinstance(system, Hook)` (in `harness.hooks`) and otherwise uses the default named here.


@runtime_checkable
class ReportsReadiness(Protocol):
    """Called after every node was started (and after a nemesis restarts nodes), repeatedly,
    until it says True or the start-up bound passes. It must return quickly (a probe with a
    timeout of a second or so). Default: ready as soon as the node's process runs."""

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool: ...


@runtime_checkable
class BoundsStartup(Protocol):
    """Seconds from the first start until every node must be ready. Default:
    `DEFAULT_START_TIMEOUT`."""

    start_timeout: float


DEFAULT_START_TIMEOUT = 60.0


@runtime_checkable
class ReportsPrimary(Protocol):
    """Called when a fault aims at `primary` (kill:primary, partition:primary, ...): the name of
    the node that leads now, or None during an election. Without it those faults are refused."""

    def primary(self, cluster: Cluster) -> str | None: ...


@runtime_checkable
class TunesWorkloads(Protocol):
    """Workload name -> parameters for it, read when the workload builds its generator, e.g.
    `{"register": {"cas": False}}` for a system without compare-and-set. Default: none."""

    workload_params: Mapping[str, Mapping[str, Any]]


@runtime_checkable
class AddsCheckers(Protocol):
    """Checkers (names in `faultline.checkers` -> options) to run beside the workload's own,
    e.g. raftkv's election safety. Called once per check. Default: none."""

    def checkers(self, workload: str) -> Mapping[str, Mapping[str, Any]]: ...


@runtime_checkable
class CollectsData(Protocol):
    """Called once after the final phase, before teardown: what the nodes hold (dumps, logs),
    saved as system.json and passed to every checker as `options["system_data"]`."""

    def collect(self, cluster: Cluster) -> Any: ...


@runtime_checkable
class NeedsNodePackages(Protocol):
    """Debian packages the system's nodes need beyond Python (e.g. `redis-server`). The docker
    runtime builds them into its node image (a new image only when the set changes); on the
    local and ssh runtimes the machine or host must have them."""

    node_packages: Sequence[str]


@runtime_checkable
class DeclaresDurableFiles(Protocol):
    """Glob patterns, relative to `NodeHandle.data_dir`, of the files that hold the system's
    logs and state: the disk fault's truncate and corrupt damage these (lose-unsynced works on
    every file regardless). Default: every file in the data directory."""

    durable_files: Sequence[str]


@dataclass(frozen=True)
class SelftestRow:
    """One row of the self-test matrix: a test that exercises one mode, and the verdict it must
    get (valid, or invalid naming at least one of `anomalies`). Run as an ordinary test."""

    mode: str
    workload: str
    nemesis: str  # comma-separated `--nemesis` value
    nodes: int
    valid: bool
    anomalies: tuple[str, ...] = ()
    time_limit: float = 60.0
    rate: float = 100.0
    concurrency: int = 5
    nemesis_interval: float = 5.0
    quick: bool = False  # in the test suite's subset
    why: str = ""  # what the fault does to this mode


@runtime_checkable
class DeclaresSelftest(Protocol):
    """The system's rows in `faultline selftest`: one per mode is the norm, so the harness can
    show that it passes the correct modes and catches the buggy ones. Default: none."""

    selftest: Sequence[SelftestRow]


# --------------------------------------------------------------------------------------------
# Workloads


@dataclass(frozen=True)
class WorkloadOptions:
    """What a workload may depend on when it builds its generators."""

    seed: int
    concurrency: int
    nodes: Sequence[str]
    rate: float = 0.0  # ops/s over all clients; 0 = as fast as clients go
    params: Mapping[str, Any] = field(default_factory=dict)  # from TunesWorkloads


@runtime_checkable
class Workload(Protocol):
    """A generator of client operations plus the checkers that judge the history. The ops and
    values each workload sends are its contract with clients; see the workload's docstring and
    docs/plugging-in-a-system.md."""

    name: str
    description: str

    def generator(self, options: WorkloadOptions) -> Any:
        """The main phase's client ops (a generator, see `harness.generator`)."""

    def final_generator(self, options: WorkloadOptions) -> Any | None:
        """Ops run after faults are healed and nodes restarted (final reads), or None."""

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        """Checker names (entry points in `faultline.checkers`) and the options for each."""


# --------------------------------------------------------------------------------------------
# Nemeses


@dataclass(frozen=True)
class NemesisOptions:
    seed: int
    nodes: Sequence[str]
    interval: float  # mean seconds between faults
    capabilities: frozenset[str]  # what the system supports
    concurrency: int = 1  # client worker threads (0..concurrency-1), for faults aimed at clients
    variant: str = ""  # after the colon in `--nemesis kill:minority`; "" = the factory's first


@runtime_checkable
class NemesisFactory(Protocol):
    """What a `faultline.nemeses` entry point loads: builds the package for one test.
    `variants` names what may follow the colon (`kill:minority`, `partition:ring`); the first
    is the default. Raise `HarnessError` when the system lacks a capability the fault needs."""

    variants: Sequence[str]

    def __call__(self, options: NemesisOptions) -> "NemesisPackage": ...


@runtime_checkable
class Nemesis(Protocol):
    """Injects faults. `invoke` gets an invocation from the nemesis process and returns its
    completion (usually `info`, with `value` saying exactly what was done)."""

    def setup(self, cluster: Cluster, system: System) -> None: ...

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op: ...

    def teardown(self, cluster: Cluster, system: System) -> None:
        """Heal everything this nemesis did. Runs on success, on error and on Ctrl-C."""


class ClientGates(Protocol):
    """The runner's hold on its client worker threads, for faults that stall a client the way
    SIGSTOP or a long GC pause stalls a client process. The controller runs the clients, so this
    works the same on every runtime. The runner opens every gate itself when the run ends."""

    threads: Sequence[int]

    def close(self, threads: Sequence[int], seconds: float) -> dict[int, Any]:
        """Stall these threads for at most `seconds` from now; returns thread -> its process."""

    def open(self, threads: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Reopen these threads' gates (None: all); returns the stalls that ended, described
        for the history (thread, process, op index, f, where, seconds)."""


@runtime_checkable
class BindsClients(Protocol):
    """Optional Nemesis hook, called once before the first op, for faults aimed at clients."""

    def bind_clients(self, gates: ClientGates) -> None: ...


@runtime_checkable
class KeepsResults(Protocol):
    """Optional Nemesis hook, called once after teardown: facts of the run the nemesis kept
    (the clock fault's offsets per node), merged into results.json under these keys. `origin_wall`
    is the wall time of history time 0, to place wall-clock records on the run's timeline."""

    def results(self, origin_wall: float) -> Mapping[str, Any]: ...


@dataclass
class NemesisPackage:
    """A fault bundled with its schedule, its final heal and how the report draws it."""

    name: str
    nemesis: Nemesis
    fs: frozenset[str]  # the op `f`s this package's nemesis handles; no two packages may share one
    generator: Any  # nemesis ops for the main phase
    final_generator: Any | None  # heal/recover ops before the final phase
    # fault f -> {"start": f that begins the interval, "stop": f that ends it, "color": css}
    draw: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # described for `faultline systems`
    # The client load over the main phase, for packages that vary it (`all`): (seconds, factor
    # of `--rate`) pairs, repeated when they run out; factor `math.inf` = unthrottled. Empty: the
    # steady `--rate`. At most one package of a test may set it.
    client_load: Sequence[tuple[float, float]] = ()


# --------------------------------------------------------------------------------------------
# Checkers


CheckerFn = Callable[[list[Op], Mapping[str, Any]], dict]
"""`check(history, options) -> result`. Options are the workload's (or system's) for this
checker plus `system_data` (from `CollectsData`) and `seed`. Raise ValueError for input the
checker cannot take (it is reported as bad input, exit 3). The result:

    {"valid": True | False | "unknown", "reason": "...",
     "anomalies": ["stale-read", ...],          # when invalid: what kind of wrong
     "first_anomaly_index": 123,                 # or "first_anomaly_wall": seconds since epoch
     "evidence": [{"kind": ..., "label": ..., ...}, ...],
     ...figures, e.g. "lost_count": 3}

Each evidence item has a `kind` from `EVIDENCE_KINDS`; the report and the CLI draw evidence by
kind, never by the checker's name, so an outside checker's evidence shows like a shipped one's.
Only `kind` and `label` are required; indices are `Op.index` in the history the checker was
given; `count` is the total when a list was cut short. `checkers.evidence` builds these items.
An item of an unknown kind is shown as its JSON.

Optional hook `check.from_file(path, options) -> (result, stats) | None`: when `faultline
analyze` runs this checker alone, `harness.judge.analyze` first offers it the history file, so
it can answer without the history being read into `Op`s (the linearizable checker's lean path
for large keyed journals). `stats` is what `judge.history_stats` would give; only a `valid`
result may be given this way. None: the history is read and `check` runs as usual.
"""

EVIDENCE_KINDS: Mapping[str, str] = {
    "elements": "values with one label (lost, unexpected, duplicated): "
                "{'kind': 'elements', 'label': 'lost', 'elements': [...], 'count': n}",
    "ops": "history ops to point at, each with an optional note: "
           "{'kind': 'ops', 'label': 'stale reads', 'indices': [i, ...], 'notes': [text, ...], 'count': n}",
    "window": "a failing window of concurrent ops (linearizability): {'kind': 'window', 'label', 'model', "
              "'key', 'reason', 'failed': [ops], 'window': [ops], "
              "'prefix': {'ops': [ops], 'states': [...], 'omitted': n}, 'state_before': state}; "
              "ops are op dicts (invocations and completions) or history indices",
    "cycle": "a dependency cycle of transactions: {'kind': 'cycle', 'label': 'G2-item', "
             "'steps': [{'op': index, 'edge': 'rw', 'to': index, 'why': text}, ...], 'count': n}",
    "intervals": "intervals over time (holders, leaders), drawn as a chart: {'kind': 'intervals', 'label', "
                 "'bars': [{'label', 'start': ns, 'end': ns, 'from': ns, 'to': ns, 'ops': [index, ...], 'lane'}, ...], "
                 "'overlap': [ns, ns], 'marks': [{'op': index, 'note': text}], 'count': n}; times as Op.time, "
                 "start..end certain, from..to possible",
    "table": "facts as rows: {'kind': 'table', 'label', 'columns': [...], 'rows': [[...], ...], "
             "'op_columns': [names of columns whose cells are history indices], 'count': n}",
}


# --------------------------------------------------------------------------------------------


class HarnessError(Exception):
    """A problem a person can act on (bad input, a missing privilege or tool). The CLI prints
    the message alone and exits 3."""
