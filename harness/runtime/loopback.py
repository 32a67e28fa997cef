"""The `loopback` runtime: every node is a plain process on this machine with a loopback address
of its own. No root, no namespaces: a plug-in author tests a client and a server with it, and
the harness's own tests run the shipped systems on it.

Linux routes all of 127.0.0.0/8 to the loopback interface, so any 127.x.y.z can be bound
without configuring anything. Each run takes a random block 127.A.B.0/24 (A and B in 1..254,
so never 127.0.0.x, where the host's own services listen) and node i gets 127.A.B.(10+i), as on
the local runtime. Every node can then listen on the system's one fixed port, like a real
cluster, and many runs share the machine without a port clash.

What it cannot do: nodes share the controller's network stack, so there is no firewall
(`firewall` raises) and `exec` refuses the network tools (tc, ip, iptables, ss): partitions and
network faults need `--runtime local`. Process faults (kill, pause), client pauses, clock faults
(through `spawn_env`) and disk faults (through `exec` on the node's data directory) work as on
the local runtime.

Finding what a crashed run left: every spawned process carries `FAULTLINE_LOOPBACK_RUN` (the
run id), `FAULTLINE_LOOPBACK_NODE` and `FAULTLINE_LOOPBACK_CONTROLLER` (the pid and start time
of the controller that created the cluster) in its environment. `cleanup` reads
`/proc/*/environ` for them and ends the process groups whose controller is gone. See `cleanup`
for what that cannot find.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from harness.runtime.process import ProcessGroupNode
from harness.runtime.runs import CleanupReport, controller_mark, mark_alive, stat_fields
from harness.seams import HarnessError

PREFIX = "fl-"
RUN_VAR = "FAULTLINE_LOOPBACK_RUN"
NODE_VAR = "FAULTLINE_LOOPBACK_NODE"
CONTROLLER_VAR = "FAULTLINE_LOOPBACK_CONTROLLER"
FIRST_HOST = 10  # node i (from 1) gets .FIRST_HOST+i, as on the local runtime
NO_FIREWALL = "the loopback runtime has no firewall: partitions and network faults need --runtime local"
# Commands that act on a network stack; a loopback node has none of its own (see `exec`).
NETWORK_TOOLS = frozenset({"ip", "tc", "iptables", "ip6tables", "iptables-restore", "nft", "ss", "ethtool"})


@dataclass
class LoopbackNode(ProcessGroupNode):
    """A node handle: one server process on this machine, listening on the node's own address."""

    name: str
    address: str
    data_dir: Path
    log_dir: Path
    spawn_env: dict[str, str] = field(default_factory=dict)
    # Set by the runtime: the run id and controller marker every spawned process carries.
    marker: dict[str, str] = field(default_factory=dict, repr=False)
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None = field(default=None, repr=False)

    def _marker_env(self) -> Mapping[str, str]:
        return self.marker

    def exec(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Runs the command here: the node shares this machine, its files and its network. So
        the network tools are refused: on this runtime they would reshape the host's own
        interfaces and connections, not the node's (a shell running them is not caught)."""
        if argv and Path(argv[0]).name in NETWORK_TOOLS:
            raise HarnessError(f"`{argv[0]}` on node {self.name}: {NO_FIREWALL}")
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def put_file(self, local: Path, remote: str) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, remote)

    def get_file(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)


@dataclass
class LoopbackCluster:
    nodes: list[LoopbackNode]
    run_dir: Path
    run_id: str
    block: str  # the run's 127.A.B.0/24

    def node(self, name: str) -> LoopbackNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise HarnessError(f"no node named {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def connect(self, node: LoopbackNode, port: int, timeout: float) -> socket.socket:
        """A plain TCP connection: loopback addresses are reachable from the controller itself."""
        return socket.create_connection((node.address, port), timeout=timeout)

    def firewall(self, node: LoopbackNode, argv: Sequence[str]) -> None:
        raise HarnessError(NO_FIREWALL)


class LoopbackRuntime:
    name = "loopback"

    def check_prerequisites(self) -> None:
        """Nothing to install and no root: only a kernel that routes all of 127.0.0.0/8 to
        loopback (Linux does; macOS binds only 127.0.0.1 without aliases)."""
        probe_address = "127.254.254.254"
        try:
            with socket.socket() as probe:
                probe.bind((probe_address, 0))
        except OSError as e:
            raise HarnessError(
                f"cannot bind {probe_address} ({e}): the loopback runtime needs every 127.x.y.z address "
                "on the loopback interface, as Linux has by default"
            ) from e
        if not Path("/proc/self/stat").exists():
            raise HarnessError("the loopback runtime needs /proc (Linux) to find the processes it started")

    @staticmethod
    def new_prefix() -> str:
        return f"{PREFIX}{secrets.token_hex(3)[:5]}"

    def create(self, run_dir: Path, node_names: Sequence[str], prefix: str) -> LoopbackCluster:
        if len(node_names) > 255 - FIRST_HOST - 1:
            raise HarnessError(f"the loopback runtime gives a run at most {255 - FIRST_HOST - 1} nodes")
        block = _free_block()
        hosts = list(block.hosts())
        marker = {RUN_VAR: prefix, CONTROLLER_VAR: controller_mark()}
        cluster = LoopbackCluster(nodes=[], run_dir=Path(run_dir), run_id=prefix, block=str(block))
        for i, name in enumerate(node_names, start=1):
            node_dir = cluster.run_dir / "nodes" / name
            # Made now, not at first spawn: faults set up before the first start (the clock
            # fault's control file) write into them.
            (node_dir / "data").mkdir(parents=True, exist_ok=True)
            cluster.nodes.append(LoopbackNode(
                name=name, address=str(hosts[FIRST_HOST + i - 1]), data_dir=node_dir / "data", log_dir=node_dir,
                marker={**marker, NODE_VAR: name},
            ))
        return cluster

    def lost(self, cluster: LoopbackCluster) -> str | None:
        # Nothing outside the nodes' own processes: a node that died is a fault, not a loss.
        return None

    def destroy(self, cluster: LoopbackCluster) -> None:
        """Ends every node's process group by its pid. Nothing else exists: the addresses are
        the kernel's, and the run directory belongs to the store."""
        for node in cluster.nodes:
            try:
                node.kill()
            except OSError:
                pass

    def cleanup(self, prefix: str | None = None, force: bool = False) -> CleanupReport:
        """End the node processes of crashed runs (every run's, or the one with this prefix).

        A node process is found by the marker in its environment (`/proc/PID/environ`) and
        counted as orphaned when the controller that created its cluster (pid and start time,
        so a reused pid does not count) is gone; a live run is skipped, and said so, unless it
        is named by `prefix` with `force`. Its process group is then SIGKILLed. What this cannot
        find: a process that overwrote its environment block (setproctitle does), a process
        that left the group and cleared the variables, and, unless run as root, another user's
        processes. There is nothing else to remove: the runtime makes no interfaces, routes or
        rules, and leaves the run directory to the store.
        """
        if prefix is not None and not prefix.strip():
            raise HarnessError('--prefix "" names no run: leave --prefix out to end every run whose controller is gone')
        if force and prefix is None:
            raise HarnessError("--force ends one named run, live or not: give its --prefix (the `prefix` in its test.json)")
        orphans: dict[int, str] = {}  # process group -> description
        live: dict[str, str] = {}  # run -> why it was skipped
        for pid, env in _marked_processes():
            run = env.get(RUN_VAR, "")
            if prefix is not None and run != prefix:
                continue
            mark = env.get(CONTROLLER_VAR, "")
            if mark_alive(mark) and not force:
                live.setdefault(run, f"run {run}: controller pid {mark.partition(':')[0]} alive")
                continue
            try:
                pgid = os.getpgid(pid)
            except ProcessLookupError:
                continue
            if pgid <= 1 or pgid == os.getpgrp():
                continue  # never the caller's own group, whatever a process claims
            orphans.setdefault(pgid, f"process group {pgid} of node {env.get(NODE_VAR, '?')} of run {run}")
        report = CleanupReport(skipped=[live[run] for run in sorted(live)])
        for pgid, description in sorted(orphans.items()):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
            report.append(description)
        deadline = time.monotonic() + 10
        while orphans and time.monotonic() < deadline:
            orphans = {g: d for g, d in orphans.items() if _group_alive(g)}
            if orphans:
                time.sleep(0.02)
        return report


def _free_block() -> ipaddress.IPv4Network:
    """A random 127.A.B.0/24 that no TCP or UDP socket on this host uses yet. Another run may
    pick the same block between this look and its first bind; with 64516 blocks that is rare."""
    used = _blocks_in_use()
    for _ in range(1000):
        block = ipaddress.ip_network(f"127.{1 + secrets.randbelow(254)}.{1 + secrets.randbelow(254)}.0/24")
        if block not in used:
            return block
    raise HarnessError("no free 127.A.B.0/24 block for a new loopback cluster")


def _blocks_in_use() -> set[ipaddress.IPv4Network]:
    """The /24s of 127.0.0.0/8 named by a local address in /proc/net/{tcp,udp} (best effort)."""
    used = set()
    for table in ("/proc/net/tcp", "/proc/net/udp"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 2:
                continue
            # The local address is little-endian hex: 0100007F:1F90 is 127.0.0.1:8080.
            raw = bytes.fromhex(fields[1].split(":")[0])[::-1]
            address = ipaddress.IPv4Address(raw)
            if address.packed[0] == 127:
                used.add(ipaddress.ip_network(f"{address}/24", strict=False))
    return used


def _marked_processes() -> list[tuple[int, dict[str, str]]]:
    """Every readable process whose environment names a loopback run, with that environment."""
    found = []
    needle = RUN_VAR.encode() + b"="
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle not in raw:
            continue
        env = {}
        for item in raw.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep and key.decode(errors="replace") in (RUN_VAR, NODE_VAR, CONTROLLER_VAR):
                env[key.decode()] = value.decode(errors="replace")
        if RUN_VAR in env:
            found.append((int(entry.name), env))
    return found


def _group_alive(pgid: int) -> bool:
    """Whether any member of the process group is still alive (zombies count as gone)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in Path("/proc").iterdir():
        fields = stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
