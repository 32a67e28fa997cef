"""The `docker` runtime: every node a container on a network the run creates.

Layout of one run with prefix `fl-ab12c`:

    network  fl-ab12c-net   internal (no route out), a /24 of 198.18.0.0/15, bridge fl-ab12c-br
                            with no address in the root namespace (inhibit_ipv4)
    fl-ab12c-n1 ...         a container per node at .11, .12, ...; NET_ADMIN for the fault tools
    fl-ab12c-cli            a network namespace with eth0 at .2 plugged into the bridge: the
                            clients' side, as on the local runtime

The root namespace gets the local runtime's blackhole guard route for the subnet, so nothing it
sends to a node leaves the machine. Nodes run the controller's own Python and faultline code,
bind-mounted read-only at the same paths (so `sys.executable -m ...` works unchanged inside),
and the node's directory of the run, bind-mounted read-write, holds its data and logs: they
survive restarts and land in the store. The host's cgroup tree is mounted too, so the slow fault's
cgroups are the host's and cleanup finds them as for the local runtime.

Everything carries the run's prefix and the label `faultline.run`; a run record (as for the
local runtime) tells cleanup whether the controller still runs.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.runtime import dockerd, runs
from harness.runtime.interrupts import HeldSignals
from harness.runtime.local import GUARD_PROTO, LocalRuntime, _free_subnet, _ip, _remove_netns, remove_run_cgroups
from harness.runtime.netns import NamespaceConnector
from harness.runtime.shellnode import ShellCluster, ShellNode
from harness.seams import HarnessError

LABEL = "faultline.run"


def _mounts() -> list[str]:
    """What a node needs of this machine, read-only at the same paths: the interpreter, the
    virtual environment and the project (its source, for an editable install)."""
    project = Path(__file__).resolve().parents[2]
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), project}
    return [f"{p}:{p}:ro" for p in sorted(paths)]


@dataclass
class DockerNode(ShellNode):
    name: str
    address: str
    container: Any
    data_dir: Path
    log_dir: Path
    spawn_env: dict[str, str] = field(default_factory=dict)
    _pid: int | None = field(default=None, repr=False)
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None = field(default=None, repr=False)

    def _run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        # Into the container's namespaces from here (it shares this kernel) rather than by
        # `docker exec`: no round trip through dockerd, containerd and runc, which cost 0.4-1 s
        # a command under load. The command sees the container's file system, network and
        # processes (its pid namespace: a server it starts dies with the container).
        init = self.container.attrs["State"]["Pid"]
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "HOSTNAME": self.name}
        try:
            return subprocess.run(["nsenter", "-t", str(init), "-m", "-u", "-i", "-n", "-p", "--", *argv], env=env,
                                  capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{shlex.join(argv)} on {self.name} did not end within {timeout:.0f} s") from None

    # Signals and liveness go through the server's pid as this machine sees it (the container
    # shares the kernel), so kill, pause and their waits cost no `docker exec` round trip.
    _host_pid: int | None = field(default=None, repr=False)
    _host_start: str | None = field(default=None, repr=False)

    def spawn(self, argv: Sequence[str], env: Any = None, log_name: str = "server.log") -> int:
        self._host_pid = None
        pid = super().spawn(argv, env, log_name)
        self._host_pid = _host_pid(self.container.attrs["State"]["Pid"], pid)
        self._host_start = runs.start_time(self._host_pid) if self._host_pid else None
        return pid

    def is_running(self) -> bool:
        if self._host_pid is None:
            return super().is_running()
        # start_time is None for a zombie or a vanished pid, and differs for a reused one
        return self._host_start is not None and runs.start_time(self._host_pid) == self._host_start

    def signal(self, sig: int) -> None:
        if self._host_pid is None:
            return super().signal(sig)
        if self.is_running():
            try:
                os.killpg(self._host_pid, sig)
            except ProcessLookupError:
                pass

    def put_file(self, local: Path, remote: str) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(local, arcname=Path(remote).name)
        self.exec(["mkdir", "-p", str(Path(remote).parent)])
        self.container.put_archive(str(Path(remote).parent), buf.getvalue())

    def get_file(self, remote: str, local: Path) -> None:
        stream, _ = self.container.get_archive(remote)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmembers()[0]
            data = tar.extractfile(member)
            if data is None:
                raise HarnessError(f"{remote} on {self.name} is not a file")
            Path(local).write_bytes(data.read())


def _host_pid(init_host_pid: int, container_pid: int) -> int | None:
    """This machine's pid of the process that is `container_pid` inside the container whose
    init is `init_host_pid`: same pid namespace, and that pid last in its NSpid line."""
    try:
        namespace = os.readlink(f"/proc/{init_host_pid}/ns/pid")
    except OSError:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("NSpid:"):
                        if int(line.split()[-1]) == container_pid:
                            return int(entry)
                        break
        except (OSError, ValueError):
            continue
    return None


@dataclass
class DockerCluster(ShellCluster):
    prefix: str
    run_dir: Path
    subnet: str = ""
    nodes: list[DockerNode] = field(default_factory=list)
    client_netns: str = ""
    connector: NamespaceConnector | None = None
    network: Any = None
    guard_added: bool = False
    record: runs.RunRecord | None = None

    def connect(self, node: DockerNode, port: int, timeout: float) -> Any:
        if self.connector is None:
            raise HarnessError("the cluster is not up")
        return self.connector.connect(node.address, port, timeout)


class DockerRuntime:
    """`node_packages`: Debian packages the system needs on its nodes, built into the image."""

    name = "docker"

    def __init__(self, node_packages: Sequence[str] = ()) -> None:
        self.node_packages = tuple(node_packages)

    def check_prerequisites(self) -> None:
        LocalRuntime().check_prerequisites()  # root and iproute2: the client namespace
        dockerd.client()

    new_prefix = staticmethod(LocalRuntime.new_prefix)

    def create(self, run_dir: Path, node_names: Sequence[str], prefix: str) -> DockerCluster:
        docker_client = dockerd.client()
        image = dockerd.ensure_image(docker_client, self.node_packages)
        cluster = DockerCluster(prefix=prefix, run_dir=run_dir, client_netns=f"{prefix}-cli")
        held = HeldSignals()
        held.hold()
        try:
            cluster.record = runs.claim(prefix, self.name, {"run_dir": str(run_dir), "namespaces": [cluster.client_netns]})
            held.checkpoint()
            import docker.types
            with runs.host_lock():
                subnet = _free_subnet()
                cluster.subnet = str(subnet)
                runs.update(cluster.record, subnet=cluster.subnet)
                hosts = list(subnet.hosts())
                ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=str(hosts[0]))])
                cluster.network = docker_client.networks.create(
                    f"{prefix}-net", driver="bridge", internal=True, ipam=ipam, labels={LABEL: prefix},
                    options={"com.docker.network.bridge.name": f"{prefix}-br",
                             "com.docker.network.bridge.inhibit_ipv4": "true"})
                _ip("route", "add", "blackhole", cluster.subnet, "proto", GUARD_PROTO)
                cluster.guard_added = True
            held.checkpoint()
            nodes = []
            for i, name in enumerate(node_names):
                node_dir = run_dir / "nodes" / name
                (node_dir / "data").mkdir(parents=True, exist_ok=True)
                nodes.append((name, str(hosts[10 + i]), node_dir))
            errors: list[BaseException] = []

            def start(name: str, address: str, node_dir: Path) -> None:
                try:
                    api = docker_client.api
                    host_config = api.create_host_config(
                        init=True, cap_add=["NET_ADMIN", "SYS_ADMIN"], network_mode=f"{prefix}-net",
                        binds=[*_mounts(), f"{node_dir}:{node_dir}:rw", "/sys/fs/cgroup:/sys/fs/cgroup:rw"])
                    net_config = api.create_networking_config({f"{prefix}-net": api.create_endpoint_config(ipv4_address=address)})
                    made = api.create_container(image, ["sleep", "infinity"], name=f"{prefix}-{name}", hostname=name,
                                                labels={LABEL: prefix}, host_config=host_config, networking_config=net_config)
                    api.start(made["Id"])
                    cluster.nodes.append(DockerNode(name=name, address=address, container=docker_client.containers.get(made["Id"]),
                                                    data_dir=node_dir / "data", log_dir=node_dir))
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    errors.append(e)

            threads = [threading.Thread(target=start, args=n) for n in nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise HarnessError(f"starting a node container failed: {errors[0]}")
            cluster.nodes.sort(key=lambda n: list(node_names).index(n.name))
            held.checkpoint()
            ns = cluster.client_netns
            _ip("netns", "add", ns)
            for step in (("link", "add", f"{prefix}-c", "type", "veth", "peer", "name", "eth0", "netns", ns),
                         ("link", "set", f"{prefix}-c", "master", f"{prefix}-br", "up"),
                         ("-n", ns, "addr", "add", f"{hosts[1]}/{subnet.prefixlen}", "dev", "eth0"),
                         ("-n", ns, "link", "set", "eth0", "up"), ("-n", ns, "link", "set", "lo", "up")):
                _ip(*step)
            cluster.connector = NamespaceConnector(ns)
            held.release()
        except BaseException:
            held.hold()
            try:
                self.destroy(cluster)
            finally:
                held.release()
            raise
        return cluster

    def lost(self, cluster: DockerCluster) -> str | None:
        gone = []
        for node in cluster.nodes:
            try:
                node.container.reload()
                if node.container.status != "running":
                    gone.append(f"container {node.container.name} is {node.container.status}")
            except Exception:
                gone.append(f"container {cluster.prefix}-{node.name} is gone")
        if cluster.record is not None and not cluster.record.ours():
            gone.append(f"its run record {cluster.record.path} was removed")
        return "; ".join(gone) or None

    def destroy(self, cluster: DockerCluster) -> None:
        with HeldSignals():
            if cluster.connector is not None:
                cluster.connector.close()
                cluster.connector = None
            still_ours = cluster.record is not None and cluster.record.ours()
            _remove_run(dockerd.client(), cluster.prefix, cluster.subnet if cluster.guard_added and still_ours else None)
            cluster.guard_added = False
            if cluster.record is not None and still_ours:
                runs.release(cluster.record)
            cluster.record = None

    def cleanup(self, prefix: str | None = None, force: bool = False) -> runs.CleanupReport:
        if force and prefix is None:
            raise HarnessError("--force removes one named run, live or not: give its --prefix")
        report = runs.CleanupReport()
        docker_client = dockerd.client()
        seen = {c.labels.get(LABEL) for c in docker_client.containers.list(all=True, filters={"label": LABEL})}
        seen |= {n.attrs.get("Labels", {}).get(LABEL) for n in docker_client.networks.list(filters={"label": LABEL})}
        records = {r.run_id: r for r in runs.all_records() if r.runtime == self.name}
        seen |= set(records)
        seen.discard(None)
        if prefix is not None:
            seen &= {prefix}
        for run_id in sorted(seen):
            record = records.get(run_id)
            if record is not None and record.alive() and not force:
                report.skipped.append(f"run {run_id}: controller pid {record.pid} alive")
                continue
            subnet = record.parts.get("subnet") if record is not None else None
            report += _remove_run(docker_client, run_id, subnet if isinstance(subnet, str) else None)
            if record is not None:
                runs.release(record)
                report.append(f"run record {record.path} (controller pid {record.pid})")
        return report


def _remove_run(docker_client: Any, prefix: str, subnet: str | None) -> list[str]:
    """Containers, networks and volumes labelled with the run, its client namespace, its slow-fault
    cgroups and its guard route."""
    removed = []
    for container in docker_client.containers.list(all=True, filters={"label": f"{LABEL}={prefix}"}):
        container.remove(force=True)
        removed.append(f"container {container.name}")
    for network in docker_client.networks.list(filters={"label": f"{LABEL}={prefix}"}):
        network.remove()
        removed.append(f"network {network.name}")
    for volume in docker_client.volumes.list(filters={"label": f"{LABEL}={prefix}"}):
        volume.remove(force=True)
        removed.append(f"volume {volume.name}")
    netns = f"{prefix}-cli"
    if Path(f"/run/netns/{netns}").exists():
        _remove_netns(netns)
        removed.append(f"network namespace {netns}")
    removed += remove_run_cgroups(f"faultline-{prefix}-")
    if subnet is not None:
        if _ip("route", "del", "blackhole", subnet, "proto", GUARD_PROTO, check=False).returncode == 0:
            removed.append(f"guard route blackhole {subnet}")
    return removed
