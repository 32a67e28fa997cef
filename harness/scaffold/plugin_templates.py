"""The skeleton's files an author keeps and edits: the package metadata with its entry point,
the README, the System, the Client and the tests. Placeholders: `$name` (the system's name),
`$pkg` (its Python package), `$system_class`, `$client_class`, `$port`."""

PYPROJECT = '''\
# The faultline plug-in for $name. `pip install -e .` registers the system with faultline
# through the entry point below: `faultline systems` then lists it, and
# `faultline test --system $name` runs it.
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "faultline-$name"
version = "0.1.0"
description = "faultline plug-in: the $name system under test"
requires-python = ">=3.11"
dependencies = ["faultline"]

[project.entry-points."faultline.systems"]
$name = "$pkg.system:$system_class"

[tool.setuptools.packages.find]
include = ["$pkg*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
markers = ["slow: runs a whole faultline test (about half a minute)"]
'''

README = '''\
# faultline-$name

A faultline plug-in for the system `$name`, made by `faultline new-system $name`. It works out of the box: a toy key-value server stands in for
your system, so you can see every part run before you change any.

    pip install -e .
    pytest                      # a 3-node cluster on the loopback runtime, no root needed
    faultline test --runtime loopback --system $name --workload register --nemesis kill

## What is here

| file | what it is | what to change |
|------|------------|----------------|
| `$pkg/server.py` | the toy server: JSON lines over TCP, one process per node | delete it once `system.py` starts your own binary |
| `$pkg/system.py` | `$system_class`: how faultline installs, starts, probes and stops a node | `argv` (your server's command line), `ready`, `modes`, `capabilities`, `selftest` |
| `$pkg/client.py` | `$client_class`: the register workload's ops as requests | `_call` and the request mapping, to speak your protocol |
| `tests/test_$pkg.py` | the plug-in's tests on the loopback runtime | keep them passing as you go |

## Steps

1. Make `$system_class.argv` start your server (any binary: `node.spawn` runs it in the node,
   with the node's address, data directory and log file). Keep `start` quick: it must not wait
   for other nodes; `ready` is asked afterwards, until it says yes.
2. Make `$client_class` speak your protocol. Keep the outcome rule: `fail` only when the op
   certainly did not happen, `info` when it may have.
3. Declare what your system survives in `capabilities` (`kill`, `pause`, `clock`, `disk`): the
   faults that need one are refused for a system that lacks it.
4. Add modes (e.g. a buggy configuration) and a `selftest` row for each, so `faultline selftest`
   shows faultline passes the correct one and catches the others.
5. On the local runtime (root, network namespaces), partitions and network faults work too:
   `sudo faultline test --system $name --workload register --nemesis partition`.

Every hook a system may implement is declared, with when it is called, in faultline's
`harness/seams.py`; `docs/plugging-in-a-system.md` there walks through them.
'''

INIT = '''\
"""faultline plug-in for $name: the system class is `$pkg.system.$system_class`."""
'''

CLIENT = '''\
"""The $name client: the register workload's operations as requests to one node.

What faultline's register workload sends (values are `[key, v]`, keys are small integers):

    read   [key, None]         complete ok with [key, observed]; observed is None if never written
    write  [key, v]            ok once the system acknowledged it
    cas    [key, [old, new]]   ok if it swapped; fail if the value was not `old`

The outcome rule every client keeps: `fail` only when the op certainly did not take effect
(nothing was sent, or the system refused it); `info` when it may have (a timeout or a lost
connection after sending, an error that does not say). A read changes nothing, so an unknown
read may fail. Break the rule and the checker reports anomalies that are not there (a `fail`
that did happen) or misses some that are.

Client thread i is bound to node i mod n (`open`). To plug in your system, replace `_call` and
the requests built in `invoke` with your protocol or your client library.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle


class $client_class:
    def __init__(self, port: int, timeout: float = 5.0):
        self.port = port
        self.timeout = timeout
        self.cluster: Cluster | None = None
        self.node: NodeHandle | None = None
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        """Remember the node; connect at the first op, so a node that is down fails that op."""
        self.cluster, self.node = cluster, node

    def invoke(self, op: Op) -> Op:
        key, argument = op.value
        if op.f == "read":
            request = {"op": "read", "key": key}
        elif op.f == "write":
            request = {"op": "write", "key": key, "value": argument}
        elif op.f == "cas":
            old, new = argument
            request = {"op": "cas", "key": key, "old": old, "new": new}
        else:
            return op.complete("fail", error=f"$name cannot perform {op.f!r}")
        unknown = "fail" if op.f == "read" else "info"
        try:
            self._connect()
        except OSError as e:
            return op.complete("fail", error=f"could not connect: {e}")
        try:
            reply = self._call(request)
        except (OSError, ValueError) as e:
            self.close()  # a late reply must not be read as the next op's
            return op.complete(unknown, error=f"sent, but no answer: {e}")
        if reply.get("ok"):
            return op.complete("ok", value=[key, reply["value"]]) if op.f == "read" else op.complete("ok")
        return op.complete(unknown if reply.get("unknown") else "fail", error=reply.get("error"))

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
            self.sock = self.reader = None

    def _connect(self) -> None:
        if self.sock is None:
            assert self.cluster is not None and self.node is not None, "open() the client first"
            # Through the cluster, never straight to the address: on the local runtime nodes are
            # reachable only from the clients' network namespace.
            self.sock = self.cluster.connect(self.node, self.port, self.timeout)
            self.reader = self.sock.makefile("rb")

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.sock is not None
        self.sock.sendall(json.dumps(request).encode() + b"\\n")
        line = self.reader.readline()
        if not line:
            raise ConnectionError("the node closed the connection")
        return json.loads(line)
'''

SYSTEM = '''\
"""How faultline runs $name: install, start, readiness, clients, teardown.

faultline instantiates `$system_class(mode, server_args)` once per test. Every hook a system may
add (`primary`, `collect`, `checkers`, `workload_params`, `durable_files`, `start_timeout`) is
declared in faultline's `harness/seams.py`, with when it is called.

To plug in your system: make `argv` start your own server (any binary), make `ready` ask it
whether it serves, and declare the capabilities and modes it really has.
"""

from __future__ import annotations

import json
import sys

from harness.seams import Cluster, HarnessError, NodeHandle, SelftestRow
from $pkg.client import $client_class

PORT = $port


class $system_class:
    name = "$name"
    modes = ("correct",)  # the first is the default; add buggy configurations for the self-test
    workloads = ("register",)
    # kill: a node survives SIGKILL and a later start; pause: SIGSTOP/SIGCONT mean something.
    # Faults that need none of these (partitions, network faults, client pauses) run anyway.
    capabilities = frozenset({"kill", "pause"})
    description = "$name (the faultline new-system skeleton: a single-primary key-value store)"
    # `faultline selftest` runs each row as a test and expects its verdict.
    selftest = (
        SelftestRow("correct", "register", "kill", 3, True, time_limit=20.0,
                    why="the primary writes each change to disk before it answers"),
    )

    def __init__(self, mode: str = "correct", server_args: tuple[str, ...] = ()):
        if mode not in self.modes:
            raise HarnessError(f"$name has no mode {mode!r}; choose one of {', '.join(self.modes)}")
        self.mode = mode
        self.server_args = tuple(server_args)  # from `faultline test --server-arg`
        self.port = PORT

    def setup(self, cluster: Cluster) -> None:
        """Install and configure every node before the first start. Nothing to do here: the
        server is Python in this package. For a binary, copy it or its config with
        `node.put_file`, or check it is installed with `node.exec`."""

    def argv(self, cluster: Cluster, node: NodeHandle) -> list[str]:
        """The node's server command line: replace it with your system's."""
        argv = [sys.executable, "-u", "-m", "$pkg.server", "--id", node.name,
                "--listen", f"{node.address}:{self.port}", "--data-dir", str(node.data_dir)]
        for peer in cluster.nodes:
            if peer.name != node.name:
                argv += ["--peer", f"{peer.name}={peer.address}:{self.port}"]
        return argv + list(self.server_args)

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        """Launch the node and return at once: faultline starts every node, then asks `ready`."""
        node.spawn(self.argv(cluster, node))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        """Whether the node serves. Asked repeatedly, so it answers within a second or so."""
        try:
            with cluster.connect(node, self.port, 1.0) as sock:
                sock.sendall(b'{"op": "ping"}\\n')
                line = sock.makefile("rb").readline()
            return json.loads(line).get("id") == node.name
        except (OSError, ValueError):
            return False

    def client(self, cluster: Cluster) -> $client_class:
        return $client_class(self.port)

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
'''

TEST = '''\
"""The $name plug-in on faultline's loopback runtime: real server processes, each on an
address of its own in 127.0.0.0/8, with no root and no network namespaces.

Keep these passing as you replace the toy server: they check what faultline relies on (every
node starts and gets ready, the client's outcomes, a killed node comes back with its data, and
a short `faultline test` under kills is valid).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.history import Op
from harness.runtime.loopback import LoopbackCluster, LoopbackRuntime
from harness.startup import start_cluster
from $pkg.system import $system_class


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LoopbackCluster]:
    runtime = LoopbackRuntime()
    runtime.check_prerequisites()
    cluster = runtime.create(tmp_path / "run", ["n1", "n2", "n3"], runtime.new_prefix())
    try:
        yield cluster
    finally:
        runtime.destroy(cluster)  # ends every node's processes


def invoke(system: $system_class, cluster: LoopbackCluster, node: str, f: str, value: Any) -> Op:
    client = system.client(cluster)
    client.open(cluster, cluster.node(node))
    try:
        return client.invoke(Op(type="invoke", f=f, value=value, process=0, node=node))
    finally:
        client.close()


def test_a_cluster_serves_register_ops_and_a_killed_node_comes_back_with_its_data(cluster):
    system = $system_class("correct")
    system.setup(cluster)
    start_cluster(cluster, system)  # starts every node, then waits until each is ready

    assert invoke(system, cluster, "n1", "read", [1, None]).value == [1, None]  # never written
    assert invoke(system, cluster, "n2", "write", [1, 10]).type == "ok"
    assert invoke(system, cluster, "n3", "read", [1, None]).value == [1, 10]
    assert invoke(system, cluster, "n3", "cas", [1, [10, 11]]).type == "ok"
    refused = invoke(system, cluster, "n1", "cas", [1, [10, 12]])
    assert refused.type == "fail" and refused.error == "cas-mismatch"

    # Kill every node; while they are down a client cannot connect, which certainly did nothing.
    for node in cluster.nodes:
        node.kill()
    assert invoke(system, cluster, "n2", "write", [1, 99]).type == "fail"
    start_cluster(cluster, system)
    assert invoke(system, cluster, "n2", "read", [1, None]).value == [1, 11]


@pytest.mark.slow
def test_a_short_faultline_test_under_kills_is_valid(tmp_path: Path):
    installed = Path(sys.executable).with_name("faultline")
    faultline = str(installed) if installed.exists() else shutil.which("faultline") or "faultline"
    argv = [faultline, "test", "--runtime", "loopback", "--system", "$name", "--workload", "register",
            "--nemesis", "kill", "--nemesis-interval", "1", "--time-limit", "5", "--seed", "1",
            "--store", str(tmp_path / "store")]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr  # 0: valid; 1: invalid; 2: unknown; 3: error
'''
