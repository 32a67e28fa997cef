"""The `local` runtime: every node in a Linux network namespace of its own on this machine.

Layout of one run with prefix `fl-ab12c`:

    fl-ab12c-hub   holds the bridge `br0`; one veth per node and one for the clients plug into it
    fl-ab12c-n1    a node: `eth0` with 198.18.X.11/24, its own loopback and its own iptables
    fl-ab12c-cli   the clients: `eth0` with 198.18.X.2/24

Addresses come from 198.18.0.0/15, the range set aside for network benchmarking (RFC 2544), one
/24 per run. Nothing in the root namespace has a route into it except a blackhole route that the
runtime adds as a guard while the cluster exists (protocol number `GUARD_PROTO`, so `cleanup`
can find it): a packet sent to a node from the root namespace is dropped here, never sent to the
default route. Clients reach nodes only through sockets created in the client namespace
(`NamespaceConnector`).

Every interface lives inside the run's namespaces, so deleting them removes the interfaces and
every iptables rule a fault added; processes inside are ended by PID first. What a fault makes
on this machine outside the namespaces carries the run's id (`Cluster.run_id`, the prefix):
the slow-node fault's cgroups, `faultline-<run_id>-<node>`, which `cleanup` removes once empty.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.runtime.netns import NamespaceConnector
from harness.runtime.process import ProcessGroupNode
from harness.seams import HarnessError

PREFIX = "fl-"
CGROUP_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/cpu")  # cgroup v2, and v1's cpu controller
GUARD_PROTO = "213"  # marks our blackhole guard routes in the root namespace
SUPERNET = ipaddress.ip_network("198.18.0.0/15")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise HarnessError(f"`ip {' '.join(args)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


@dataclass
class LocalNode(ProcessGroupNode):
    """A node handle: a network namespace plus the one server process the system runs in it."""

    name: str
    address: str
    netns: str
    data_dir: Path
    log_dir: Path
    # Extra environment for every spawn, under the system's own `env`: how a nemesis preloads
    # something into the node's process (the clock nemesis's libfaketime). Set before a start.
    spawn_env: dict[str, str] = field(default_factory=dict)
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None = field(default=None, repr=False)

    def exec(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._on_node(argv), capture_output=True, text=True, timeout=timeout)

    def _on_node(self, argv: Sequence[str]) -> list[str]:
        # `ip netns exec` execs the command, so a spawned pid is the server's own.
        return ["ip", "netns", "exec", self.netns, *argv]

    def put_file(self, local: Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def get_file(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)


@dataclass
class LocalCluster:
    prefix: str
    run_dir: Path
    subnet: str
    nodes: list[LocalNode]
    hub_netns: str
    client_netns: str
    client_address: str
    connector: NamespaceConnector | None = None

    @property
    def run_id(self) -> str:
        """The run's prefix: unique among the runs on this machine."""
        return self.prefix

    def node(self, name: str) -> LocalNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise HarnessError(f"no node named {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def connect(self, node: LocalNode, port: int, timeout: float) -> socket.socket:
        if self.connector is None:
            raise HarnessError("the cluster is not up")
        return self.connector.connect(node.address, port, timeout)

    def firewall(self, node: LocalNode, argv: Sequence[str]) -> None:
        result = node.exec(["iptables", "-w", *argv])
        if result.returncode != 0:
            raise HarnessError(f"iptables {' '.join(argv)} on {node.name} failed: {result.stderr.strip()}")


class LocalRuntime:
    name = "local"

    def check_prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise HarnessError(
                "the local runtime needs root (network namespaces and iptables): run faultline as root, e.g. with sudo"
            )
        for tool, package in (("ip", "iproute2"), ("iptables", "iptables")):
            if shutil.which(tool) is None:
                raise HarnessError(
                    f"`{tool}` is not installed: run `bash scripts/setup.sh` or `apt-get install {package}`"
                )

    @staticmethod
    def new_prefix() -> str:
        return f"{PREFIX}{secrets.token_hex(3)[:5]}"

    def create(self, run_dir: Path, node_names: Sequence[str], prefix: str) -> LocalCluster:
        self.check_prerequisites()
        subnet = _free_subnet()
        hosts = list(subnet.hosts())
        cluster = LocalCluster(
            prefix=prefix,
            run_dir=run_dir,
            subnet=str(subnet),
            nodes=[],
            hub_netns=f"{prefix}-hub",
            client_netns=f"{prefix}-cli",
            client_address=str(hosts[1]),
        )
        try:
            # The hub's bridge holds the subnet's first address: that is how `cleanup` tells a
            # live run's guard route from an orphan. The guard goes in before any node or client
            # address exists, so the root namespace can never route to one.
            _ip("netns", "add", cluster.hub_netns)
            _ip("-n", cluster.hub_netns, "link", "add", "br0", "type", "bridge")
            _ip("-n", cluster.hub_netns, "addr", "add", f"{hosts[0]}/{subnet.prefixlen}", "dev", "br0")
            _ip("-n", cluster.hub_netns, "link", "set", "br0", "up")
            _ip("-n", cluster.hub_netns, "link", "set", "lo", "up")
            _ip("route", "add", "blackhole", str(subnet), "proto", GUARD_PROTO)
            self._attach(cluster, cluster.client_netns, "cli", cluster.client_address, subnet)
            for i, name in enumerate(node_names):
                address = str(hosts[10 + i])
                netns = f"{prefix}-{name}"
                self._attach(cluster, netns, name, address, subnet)
                node_dir = run_dir / "nodes" / name
                # Made now, not at first spawn: faults set up before the first start (the clock
                # fault's control file) write into them.
                (node_dir / "data").mkdir(parents=True, exist_ok=True)
                cluster.nodes.append(
                    LocalNode(name=name, address=address, netns=netns, data_dir=node_dir / "data", log_dir=node_dir)
                )
            cluster.connector = NamespaceConnector(cluster.client_netns)
        except BaseException:
            self.destroy(cluster)
            raise
        return cluster

    def _attach(self, cluster: LocalCluster, netns: str, short: str, address: str, subnet: ipaddress.IPv4Network) -> None:
        """A namespace with eth0 on the hub's bridge."""
        _ip("netns", "add", netns)
        hub_side = f"v-{short}"
        _ip("-n", cluster.hub_netns, "link", "add", hub_side, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("-n", cluster.hub_netns, "link", "set", hub_side, "master", "br0", "up")
        _ip("-n", netns, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")

    def lost(self, cluster: LocalCluster) -> str | None:
        existing = set(list_namespaces())
        wanted = [cluster.hub_netns, cluster.client_netns] + [n.netns for n in cluster.nodes]
        missing = [netns for netns in wanted if netns not in existing]
        return f"network namespaces {', '.join(missing)} are gone" if missing else None

    def destroy(self, cluster: LocalCluster) -> None:
        for node in cluster.nodes:
            try:
                node.kill()
            except OSError:
                pass
        if cluster.connector is not None:
            cluster.connector.close()
            cluster.connector = None
        namespaces = [n.netns for n in cluster.nodes] + [cluster.client_netns, cluster.hub_netns]
        for netns in namespaces:
            _remove_netns(netns)
        _ip("route", "del", "blackhole", cluster.subnet, "proto", GUARD_PROTO, check=False)

    def cleanup(self, prefix: str | None = None) -> list[str]:
        """Remove every faultline namespace (or one run's, by its prefix) with the processes in
        it, then the cgroups faults made for those runs (empty now that their processes are
        gone), then every guard route whose run has no hub namespace left."""
        wanted = f"{prefix}-" if prefix else PREFIX
        removed = []
        for netns in list_namespaces():
            if netns.startswith(wanted):
                killed = _remove_netns(netns)
                removed.append(f"network namespace {netns}" + (f" (ended pids {', '.join(map(str, killed))})" if killed else ""))
        removed += remove_empty_cgroups(f"faultline-{wanted}")
        in_use = live_subnets()
        for subnet in guard_routes():
            if subnet not in in_use:
                _ip("route", "del", "blackhole", subnet, "proto", GUARD_PROTO, check=False)
                removed.append(f"guard route blackhole {subnet}")
        return removed


def remove_empty_cgroups(start: str) -> list[str]:
    """Remove the cgroups whose names begin with `start` and that hold no process. One that still
    holds processes belongs to a live run (or to processes this cleanup could not end): it is
    left alone, since rmdir refuses a populated group anyway."""
    removed = []
    for root in CGROUP_ROOTS:
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if name.startswith(start) and os.path.isdir(path):
                try:
                    os.rmdir(path)
                    removed.append(f"cgroup {path}")
                except OSError:
                    pass  # still has processes
    return removed


def list_namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def live_subnets() -> set[str]:
    """Subnets of the runs whose hub namespace still exists (read off each hub's bridge)."""
    subnets = set()
    for netns in list_namespaces():
        if netns.startswith(PREFIX) and netns.endswith("-hub"):
            out = _ip("-n", netns, "-o", "-4", "addr", "show", "dev", "br0", check=False).stdout
            for m in re.finditer(r"inet (\S+)", out):
                subnets.add(str(ipaddress.ip_interface(m.group(1)).network))
    return subnets


def guard_routes() -> list[str]:
    out = _ip("route", "show", "type", "blackhole", "proto", GUARD_PROTO, check=False).stdout
    return [m.group(1) for m in re.finditer(r"blackhole (\S+)", out)]


def _remove_netns(netns: str) -> list[int]:
    """End every process in the namespace (they are ours: we made the namespace), then delete it."""
    pids = [int(p) for p in _ip("netns", "pids", netns, check=False).stdout.split()]
    killed = list(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if pids:
            time.sleep(0.02)
    _ip("netns", "del", netns, check=False)
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of ours stays a zombie until reaped; zombies count as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 that no route in the root namespace mentions yet."""
    taken = _ip("route", "show", "table", "all", check=False).stdout
    candidates = list(SUPERNET.subnets(new_prefix=24))
    start = secrets.randbelow(len(candidates))
    for i in range(len(candidates)):
        subnet = candidates[(start + i) % len(candidates)]
        if str(subnet.network_address)[:-1] not in taken:
            return subnet
    raise HarnessError("no free /24 left in 198.18.0.0/15 for a new cluster; run `faultline cleanup`")
