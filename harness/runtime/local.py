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
the slow-node fault's cgroups, `faultline-<run_id>-<node>`, which `cleanup` empties and removes.

Live runs are never touched by a plain `cleanup`. `create` first writes the run's record
(`harness.runtime.runs`: the controller's pid and start time, the namespaces and subnet it is
about to make) and `destroy` removes it last; `cleanup` removes a run only when its controller is
gone, or when asked by name with `force`. Creation holds Ctrl-C and SIGTERM off between steps
(`harness.runtime.interrupts`), and every namespace is noted in the cluster before it is made, so
an interrupt at any moment of `create` leaves nothing.
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

from harness.runtime import runs
from harness.runtime.interrupts import HeldSignals
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
    # What exists of it, noted before each piece is made, so `destroy` removes exactly that.
    namespaces: list[str] = field(default_factory=list)
    guard_added: bool = False
    record: runs.RunRecord | None = None

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
        """Make the cluster step by step. The run's record comes first; every namespace is noted
        in the cluster (and was listed in the record) before it is made; signals are held, and
        looked at between steps, so whatever stops creation, `destroy` sees all there is."""
        self.check_prerequisites()
        cluster = LocalCluster(prefix=prefix, run_dir=run_dir, subnet="", nodes=[], hub_netns=f"{prefix}-hub",
                               client_netns=f"{prefix}-cli", client_address="")
        held = HeldSignals()
        held.hold()
        try:
            planned = [cluster.hub_netns, cluster.client_netns] + [f"{prefix}-{name}" for name in node_names]
            cluster.record = runs.claim(prefix, self.name, {"run_dir": str(run_dir), "namespaces": planned})
            held.checkpoint()
            # The guard goes in before any node or client address exists, so the root namespace
            # can never route to one. Under the host lock: no other run takes the same subnet,
            # and no cleanup takes this route for an orphan.
            with runs.host_lock():
                subnet = _free_subnet()
                cluster.subnet = str(subnet)
                runs.update(cluster.record, subnet=cluster.subnet)
                _ip("route", "add", "blackhole", cluster.subnet, "proto", GUARD_PROTO)
                cluster.guard_added = True
            held.checkpoint()
            hosts = list(subnet.hosts())
            cluster.client_address = str(hosts[1])
            # The hub's bridge holds the subnet's first address (how older cleanups told a live
            # run's guard route from an orphan).
            self._add_netns(cluster, cluster.hub_netns, held)
            for step in (("link", "add", "br0", "type", "bridge"),
                         ("addr", "add", f"{hosts[0]}/{subnet.prefixlen}", "dev", "br0"),
                         ("link", "set", "br0", "up"),
                         ("link", "set", "lo", "up")):
                _ip("-n", cluster.hub_netns, *step)
                held.checkpoint()
            self._attach(cluster, cluster.client_netns, "cli", cluster.client_address, subnet, held)
            for i, name in enumerate(node_names):
                address = str(hosts[10 + i])
                netns = f"{prefix}-{name}"
                self._attach(cluster, netns, name, address, subnet, held)
                node_dir = run_dir / "nodes" / name
                # Made now, not at first spawn: faults set up before the first start (the clock
                # fault's control file) write into them.
                (node_dir / "data").mkdir(parents=True, exist_ok=True)
                cluster.nodes.append(
                    LocalNode(name=name, address=address, netns=netns, data_dir=node_dir / "data", log_dir=node_dir)
                )
            cluster.connector = NamespaceConnector(cluster.client_netns)
            # A signal noted since the last checkpoint is delivered here, still inside `try`.
            held.release()
        except BaseException:
            held.hold()  # again, if the release above raised: a second Ctrl-C cannot cut this short
            try:
                self.destroy(cluster)
            finally:
                held.release()  # the run's own reaction to a noted signal replaces the exception
            raise
        return cluster

    def _add_netns(self, cluster: LocalCluster, netns: str, held: HeldSignals) -> None:
        cluster.namespaces.append(netns)  # before: an `ip netns add` cut short may leave it half made
        _ip("netns", "add", netns)
        held.checkpoint()

    def _attach(self, cluster: LocalCluster, netns: str, short: str, address: str, subnet: ipaddress.IPv4Network,
                held: HeldSignals) -> None:
        """A namespace with eth0 on the hub's bridge. The veth pair lives in the hub and in
        `netns`, so removing the namespaces removes it."""
        self._add_netns(cluster, netns, held)
        hub_side = f"v-{short}"
        for step in (("-n", cluster.hub_netns, "link", "add", hub_side, "type", "veth", "peer", "name", "eth0", "netns", netns),
                     ("-n", cluster.hub_netns, "link", "set", hub_side, "master", "br0", "up"),
                     ("-n", netns, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0"),
                     ("-n", netns, "link", "set", "eth0", "up"),
                     ("-n", netns, "link", "set", "lo", "up")):
            _ip(*step)
            held.checkpoint()

    def lost(self, cluster: LocalCluster) -> str | None:
        existing = set(list_namespaces())
        missing = [netns for netns in cluster.namespaces if netns not in existing]
        gone = []
        if missing:
            gone.append(f"network namespaces {', '.join(missing)} are gone")
        if cluster.record is not None and not cluster.record.ours():
            gone.append(f"its run record {cluster.record.path} was removed")
        return "; ".join(gone) or None

    def destroy(self, cluster: LocalCluster) -> None:
        """Remove what the cluster notes as made, tolerating pieces that are already gone. The
        guard route is removed only while the run's record is still ours: if someone removed
        the run (`cleanup --force`), its subnet may belong to a new run by now."""
        with HeldSignals():
            for node in cluster.nodes:
                try:
                    node.kill()
                except OSError:
                    pass
            if cluster.connector is not None:
                cluster.connector.close()
                cluster.connector = None
            for netns in reversed(cluster.namespaces):
                _remove_netns(netns)
            still_ours = cluster.record is not None and cluster.record.ours()
            if cluster.guard_added and still_ours:
                _ip("route", "del", "blackhole", cluster.subnet, "proto", GUARD_PROTO, check=False)
            cluster.guard_added = False
            if cluster.record is not None:
                existing = set(list_namespaces())
                if not any(netns in existing for netns in cluster.namespaces):
                    if still_ours:
                        runs.release(cluster.record)
                    cluster.record = None
                # else: kept, so a cleanup once this controller is gone finds what is left

    def cleanup(self, prefix: str | None = None, force: bool = False) -> runs.CleanupReport:
        """Remove the runs whose controller is gone (or the one with this prefix), each with its
        namespaces and the processes in them, the cgroups faults made for it, its guard route
        and its record; then guard routes that no run claims.

        A run whose controller still runs is skipped, and said so, unless it is named by
        `prefix` with `force` (it then ends as a harness error saying its cluster vanished).
        Namespaces of a run with no record (left by an older faultline) are skipped too: whether
        their controller lives cannot be told; `force` removes them by name."""
        if prefix is not None and not prefix.strip():
            raise HarnessError('--prefix "" names no run: leave --prefix out to remove every run whose controller is gone')
        if force and prefix is None:
            raise HarnessError("--force removes one named run, live or not: give its --prefix (the `prefix` in its test.json)")
        report = runs.CleanupReport()
        # Look first, read the records after: a run writes its record before it makes anything,
        # so every namespace or cgroup seen here has its record on disk by the time it is read.
        namespaces = list_namespaces()
        groups = _cgroup_names()
        records = {r.run_id: r for r in runs.all_records() if r.runtime == self.name}
        seen = set(records) | {_run_of(ns) for ns in namespaces if ns.startswith(PREFIX)}
        seen |= {_run_of(g[len(CGROUP_START):]) for g in groups}
        seen.discard("")
        # Namespaces of runs another runtime recorded (docker's client namespace, an ssh-lab's
        # hosts) are that runtime's to remove.
        seen -= {r.run_id for r in runs.all_records() if r.runtime != self.name}
        if prefix is not None:
            seen &= {prefix}
        for run_id in sorted(seen):
            record = records.get(run_id)
            own = [ns for ns in namespaces if ns.startswith(f"{run_id}-")]
            if record is not None and record.alive() and not force:
                report.skipped.append(f"run {run_id}: controller pid {record.pid} alive")
                continue
            if record is None and own and not force:
                report.skipped.append(
                    f"run {run_id}: no run record in {runs.RUNS_DIR} (made by an older faultline?), so whether its "
                    f"controller lives cannot be told; `faultline cleanup --prefix {run_id} --force` removes it")
                continue
            report += self._remove_run(run_id, own, record, records)
            leftover = [g for g in _cgroup_names() if g.startswith(f"{CGROUP_START}{run_id}-")]
            report.skipped += [f"cgroup {g} of run {run_id}: still holds processes" for g in leftover]
        if prefix is None:
            report += self._remove_unclaimed_routes()
        return report

    def _remove_run(self, run_id: str, own: list[str], record: runs.RunRecord | None,
                    records: dict[str, runs.RunRecord]) -> list[str]:
        removed = []
        listed = record.parts.get("namespaces", []) if record is not None else []
        subnet = record.parts.get("subnet") if record is not None else None
        if not isinstance(subnet, str):  # crashed before it noted one, or a run with no record
            subnet = next(iter(_hub_subnets(f"{run_id}-hub")), None)
        existing = set(list_namespaces())
        for netns in dict.fromkeys([*own, *(n for n in listed if isinstance(n, str) and n in existing)]):
            killed = _remove_netns(netns)
            removed.append(f"network namespace {netns}" + (f" (ended pids {', '.join(map(str, killed))})" if killed else ""))
        removed += remove_run_cgroups(f"{CGROUP_START}{run_id}-")
        with runs.host_lock():
            others = [r for r in runs.all_records() if r.run_id != run_id and r.parts.get("subnet") == subnet]
            if subnet is not None and subnet in guard_routes() and not others and subnet not in live_subnets():
                _ip("route", "del", "blackhole", subnet, "proto", GUARD_PROTO, check=False)
                removed.append(f"guard route blackhole {subnet} of run {run_id}")
            if record is not None:
                runs.release(record)
                removed.append(f"run record {record.path} (controller pid {record.pid})")
        return removed

    def _remove_unclaimed_routes(self) -> list[str]:
        """Guard routes that no recorded run claims and no hub namespace holds (a run of an
        older faultline, or a record removed by hand). Under the host lock, so a run adding its
        route now is either seen with its record or not yet there."""
        removed = []
        with runs.host_lock():
            claimed = {r.parts.get("subnet") for r in runs.all_records()} | live_subnets()
            for subnet in guard_routes():
                if subnet not in claimed:
                    _ip("route", "del", "blackhole", subnet, "proto", GUARD_PROTO, check=False)
                    removed.append(f"guard route blackhole {subnet}")
        return removed


CGROUP_START = "faultline-"  # the slow fault's cgroups: faultline-<run_id>-<node>


def _run_of(name: str) -> str:
    """The run id a namespace or cgroup name starts with: `fl-ab12c` of `fl-ab12c-n1`."""
    if not name.startswith(PREFIX):
        return ""
    head, _, _ = name[len(PREFIX):].partition("-")
    return f"{PREFIX}{head}" if head else ""


def _cgroup_names() -> list[str]:
    names = []
    for root in CGROUP_ROOTS:
        if os.path.isdir(root):
            names += [n for n in os.listdir(root) if n.startswith(CGROUP_START + PREFIX)]
    return sorted(set(names))


def remove_run_cgroups(start: str, wait: float = 10.0) -> list[str]:
    """Remove the cgroups whose names begin with `start` (one run's: `faultline-<run_id>-`).
    Whatever process is still in such a group is that run's server, so it is ended first. rmdir
    refuses a group whose last process is still exiting (EBUSY), so each removal is retried
    until `wait` seconds have passed; a group that outlives that is left and reported by the
    caller as still holding processes."""
    removed = []
    deadline = time.monotonic() + wait
    for root in CGROUP_ROOTS:
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if name.startswith(start) and os.path.isdir(path) and _rmdir_group(path, deadline):
                removed.append(f"cgroup {path}")
    return removed


def _rmdir_group(path: str, deadline: float) -> bool:
    while True:
        for pid in _group_pids(path):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return False
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _group_pids(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def list_namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def live_subnets() -> set[str]:
    """Subnets of the runs whose hub namespace still exists (read off each hub's bridge)."""
    subnets = set()
    for netns in list_namespaces():
        if netns.startswith(PREFIX) and netns.endswith("-hub"):
            subnets |= _hub_subnets(netns)
    return subnets


def _hub_subnets(netns: str) -> set[str]:
    out = _ip("-n", netns, "-o", "-4", "addr", "show", "dev", "br0", check=False).stdout
    return {str(ipaddress.ip_interface(m.group(1)).network) for m in re.finditer(r"inet (\S+)", out)}


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
        pids = [p for p in pids if runs.start_time(p) is not None]
        if pids:
            time.sleep(0.02)
    _ip("netns", "del", netns, check=False)
    return killed


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 that no route in the root namespace mentions yet and no run
    record claims (taken under the host lock)."""
    taken = _ip("route", "show", "table", "all", check=False).stdout
    claimed = {r.parts.get("subnet") for r in runs.all_records()}
    candidates = list(SUPERNET.subnets(new_prefix=24))
    start = secrets.randbelow(len(candidates))
    for i in range(len(candidates)):
        subnet = candidates[(start + i) % len(candidates)]
        if str(subnet.network_address)[:-1] not in taken and str(subnet) not in claimed:
            return subnet
    raise HarnessError("no free /24 left in 198.18.0.0/15 for a new cluster; run `faultline cleanup`")
