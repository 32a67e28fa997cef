"""The `ssh` runtime: nodes are existing hosts reached over SSH (paramiko).

Hosts come from a TOML file (`faultline test --hosts FILE`, the spec's `hosts`; default
`hosts.toml`):

    known_hosts = "/path/known_hosts"   # checked by default; --insecure-host-keys skips it
    netns = "fl-ab12c-cli"               # optional: open every connection from this namespace
    root = "/var/tmp/faultline"          # optional: where node directories go on each host
    [[host]]
    address = "198.18.7.11"
    port = 22
    user = "root"
    key = "/path/id_ed25519"

Node i is the i-th host. A node's data and logs live on its host under `root/<run id>/<node>`;
at teardown its logs are copied into the store and the directory removed. Servers start under
a shell on the host in a session of their own (their pid kept on the host in `server.pid`); the
faults use the host's iptables, signals, libfaketime and cgroups, as on the local runtime. Each
host gets faultline from the controller: its wheels and its dependencies', installed into a
virtual environment under `root/env/<source hash>` (see `ssh_install`); the host needs python3
of the controller's version with `venv`, and iptables, tc, ss, flock. A host runs one test at a
time.
"""

from __future__ import annotations

import json
import shlex
import socket
import stat
import subprocess
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.runtime import runs, ssh_install
from harness.runtime.faketime_files import REMOVE_DEAD
from harness.runtime.ssh_install import HostEnv
from harness.runtime.local import LocalRuntime
from harness.runtime.netns import NamespaceConnector
from harness.runtime.shellnode import ShellCluster, ShellNode
from harness.seams import HarnessError

DEFAULT_ROOT = "/var/tmp/faultline"

# Removes what faults left on a host: the harness's iptables chains (FL-*, the jumps to them
# first; a host runs one test at a time, so they are this run's), cgroups named with the run's
# id, the run's processes (by the pid files), libfaketime's files of processes gone since the
# run began (the clock fault's teardown did not run if the controller died); then the run's
# node directories.
# $1 = run id, $2 = root, $3 = faketime_files.REMOVE_DEAD.
_SCRUB = r"""
for t in filter mangle; do
  iptables -w -t $t -S 2>/dev/null | grep -- "-j FL-" | sed 's/^-A /-D /' | while read -r r; do eval iptables -w -t $t $r; done
  iptables -w -t $t -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^FL-/ {print $2}' | while read -r c; do
    iptables -w -t $t -F "$c"; iptables -w -t $t -X "$c"; done
done
for g in /sys/fs/cgroup/faultline-$1-* /sys/fs/cgroup/cpu/faultline-$1-*; do [ -d "$g" ] && rmdir "$g"; done
for f in "$2/$1"/*/server.pid "$2/$1"/*/delay-shim.pid; do [ -f "$f" ] && kill -9 -"$(cat "$f")" "$(cat "$f")" 2>/dev/null; done
[ -d "$2/$1" ] && sleep 1 && sh -c "$3" sh $(( $(stat -c %Y "$2/$1") - 1 ))  # killed processes gone; node dirs made at the run's start
rm -rf "$2/$1"
true
"""


@dataclass(frozen=True)
class Host:
    address: str
    port: int
    user: str
    key: str


@dataclass(frozen=True)
class HostsFile:
    path: Path
    hosts: list[Host]
    known_hosts: str | None
    netns: str | None
    root: str


def read_hosts(path: Path) -> HostsFile:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"hosts file {path} not found: give one with --hosts (or `faultline ssh-lab up N` makes one)") from None
    except tomllib.TOMLDecodeError as e:
        raise HarnessError(f"hosts file {path}: {e}") from None
    hosts = []
    for i, h in enumerate(data.get("host", []), start=1):
        if "address" not in h:
            raise HarnessError(f"hosts file {path}: host {i} has no address")
        hosts.append(Host(str(h["address"]), int(h.get("port", 22)), str(h.get("user", "root")), str(h.get("key", ""))))
    if not hosts:
        raise HarnessError(f"hosts file {path} lists no [[host]]")
    return HostsFile(path, hosts, data.get("known_hosts"), data.get("netns"), str(data.get("root", DEFAULT_ROOT)))


# The command helper: one long-lived process per host, on one channel of the connection, that
# runs the harness's commands and answers each on its own line. An exec channel per command
# makes sshd start a session and a shell every time (about 1.4 s each on a loaded machine); the
# helper costs one fork. Requests `[id, argv]`, answers `[id, returncode, stdout, stderr]`, as
# JSON lines; commands run in threads, so a slow one never holds up the others.
_HELPER = r"""
import json, subprocess, sys, threading
lock = threading.Lock()
def serve(rid, argv):
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        answer = [rid, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")]
    except OSError as e:
        answer = [rid, 127, "", str(e)]
    with lock:
        sys.stdout.write(json.dumps(answer) + "\n"); sys.stdout.flush()
sys.stdout.write("ready\n"); sys.stdout.flush()
for line in sys.stdin:
    rid, argv = json.loads(line)
    threading.Thread(target=serve, args=(rid, argv), daemon=True).start()
"""


class Connection:
    """One SSH connection to a host, kept for the whole run: every command of the node goes to
    the host's command helper on it (or, where the host has no python3, an exec channel each);
    files go over one SFTP channel on it."""

    def __init__(self, host: Host, hosts: HostsFile, connector: NamespaceConnector | None, insecure: bool):
        try:
            import paramiko
        except ImportError:
            raise HarnessError("the ssh runtime needs paramiko: pip install 'faultline[ssh]'") from None
        self.host = host
        self.client = paramiko.SSHClient()
        if insecure:
            self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
            if hosts.known_hosts:
                self.client.load_host_keys(hosts.known_hosts)
            else:
                self.client.load_system_host_keys()
        sock = connector.connect(host.address, host.port, 10) if connector is not None else None
        try:
            self.client.connect(host.address, port=host.port, username=host.user, key_filename=host.key or None,
                                sock=sock, timeout=10, allow_agent=False, look_for_keys=not host.key)
        except paramiko.SSHException as e:
            raise HarnessError(f"ssh to {host.user}@{host.address}:{host.port} failed: {e}") from None
        self._sftp: Any = None
        self._lock = threading.Lock()
        self._waiting: dict[int, list[Any]] = {}
        self._next_id = 0
        self._helper = self._start_helper()

    @property
    def sftp(self) -> Any:
        """The SFTP channel, opened on first use (most runs move files only at teardown)."""
        with self._lock:
            if self._sftp is None:
                self._sftp = self.client.open_sftp()
            return self._sftp

    def _start_helper(self) -> Any:
        channel = self.client.get_transport().open_session()
        channel.exec_command(shlex.join(["python3", "-I", "-S", "-u", "-c", _HELPER]))  # -S: the standard library only, a quicker start
        reader = channel.makefile("r")
        channel.settimeout(30)
        try:
            first = reader.readline()
        except OSError:
            first = ""
        channel.settimeout(None)
        if first.strip() != "ready":
            channel.close()
            return None
        threading.Thread(target=self._read_answers, args=(reader,), daemon=True).start()
        return channel

    def _read_answers(self, reader: Any) -> None:
        try:
            for line in reader:
                rid, code, out, err = json.loads(line)
                with self._lock:
                    slot = self._waiting.pop(rid, None)
                if slot is not None:
                    slot[1] = (code, out, err)
                    slot[0].set()
        except Exception:
            pass
        with self._lock:  # the helper is gone: nobody waits for an answer that cannot come
            self._helper = None
            for slot in self._waiting.values():
                slot[0].set()
            self._waiting.clear()

    def run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        with self._lock:
            helper = self._helper
            if helper is not None:
                self._next_id += 1
                rid = self._next_id
                slot: list[Any] = [threading.Event(), None]
                self._waiting[rid] = slot
                helper.sendall((json.dumps([rid, list(argv)]) + "\n").encode())
        if helper is None:
            return self._run_on_channel(argv, timeout)
        if not slot[0].wait(timeout) or slot[1] is None:
            with self._lock:
                self._waiting.pop(rid, None)
            raise HarnessError(f"no answer from {self.host.address} to {shlex.join(argv)} within {timeout:.0f} s")
        code, out, err = slot[1]
        return subprocess.CompletedProcess(list(argv), code, out, err)

    def _run_on_channel(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        _, stdout, stderr = self.client.exec_command(shlex.join(argv), timeout=timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return subprocess.CompletedProcess(list(argv), stdout.channel.recv_exit_status(), out, err)

    def close(self) -> None:
        self.client.close()


@dataclass
class SshNode(ShellNode):
    name: str
    address: str
    conn: Connection
    data_dir: Path
    log_dir: Path
    env: HostEnv
    spawn_env: dict[str, str] = field(default_factory=dict)
    _pid: int | None = field(default=None, repr=False)
    _last_spawn: tuple[list[str], dict[str, str] | None, str] | None = field(default=None, repr=False)
    passed_env = ()  # the host has its own faultline: the controller's PYTHONPATH and PATH mean nothing there

    def _run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return self.conn.run(self.env.translate(argv), timeout)

    def spawn(self, argv: Sequence[str], env: Any = None, log_name: str = "server.log") -> int:
        pid = super().spawn(argv, env, log_name)
        self.exec(["sh", "-c", 'echo "$1" > "$2"', "sh", str(pid), f"{self.log_dir}/server.pid"])
        return pid

    def put_file(self, local: Path, remote: str) -> None:
        self.conn.sftp.put(str(local), remote)

    def get_file(self, remote: str, local: Path) -> None:
        self.conn.sftp.get(remote, str(local))


@dataclass
class SshCluster(ShellCluster):
    prefix: str
    run_dir: Path
    hosts: HostsFile
    nodes: list[SshNode] = field(default_factory=list)
    connector: NamespaceConnector | None = None
    record: runs.RunRecord | None = None

    def connect(self, node: SshNode, port: int, timeout: float) -> socket.socket:
        if self.connector is not None:
            return self.connector.connect(node.address, port, timeout)
        return socket.create_connection((node.address, port), timeout)


class SshRuntime:
    """`hosts` and `insecure_host_keys` are the test spec's fields of those names (the plan
    passes a runtime the spec fields its constructor names)."""

    name = "ssh"

    def __init__(self, hosts: str | None = None, insecure_host_keys: bool = False) -> None:
        self.hosts_path = Path(hosts or "hosts.toml")
        self.insecure = insecure_host_keys

    def check_prerequisites(self) -> None:
        try:
            import paramiko  # noqa: F401
        except ImportError:
            raise HarnessError("the ssh runtime needs paramiko: pip install 'faultline[ssh]'") from None
        read_hosts(self.hosts_path)

    new_prefix = staticmethod(LocalRuntime.new_prefix)

    def create(self, run_dir: Path, node_names: Sequence[str], prefix: str) -> SshCluster:
        hosts = read_hosts(self.hosts_path)
        if len(node_names) > len(hosts.hosts):
            raise HarnessError(f"{len(node_names)} nodes asked for, but {hosts.path} lists {len(hosts.hosts)} hosts")
        cluster = SshCluster(prefix=prefix, run_dir=run_dir, hosts=hosts)
        insecure = self.insecure
        digest, wheels = ssh_install.build_wheels()
        try:
            used = hosts.hosts[: len(node_names)]
            cluster.record = runs.claim(prefix, self.name, {"run_dir": str(run_dir), "hosts_file": str(hosts.path.resolve()),
                                                            "hosts": [h.address for h in used],
                                                            "insecure_host_keys": insecure})
            if hosts.netns:
                cluster.connector = NamespaceConnector(hosts.netns)

            def open_node(name: str, host: Host) -> SshNode:
                conn = Connection(host, hosts, cluster.connector, insecure)
                try:
                    env = ssh_install.install(conn, hosts.root, digest, wheels, f"{prefix}-{name}")
                except BaseException:
                    conn.close()
                    raise
                node_dir = Path(hosts.root) / prefix / name
                node = SshNode(name=name, address=host.address, conn=conn, data_dir=node_dir / "data", log_dir=node_dir, env=env)
                cluster.nodes.append(node)  # before any step that can fail, so destroy closes it
                node.exec(["mkdir", "-p", str(node.data_dir)])
                return node

            _on_each(list(zip(node_names, used)), lambda pair: open_node(*pair))
            cluster.nodes.sort(key=lambda n: list(node_names).index(n.name))
        except BaseException:
            self.destroy(cluster)
            raise
        return cluster

    def lost(self, cluster: SshCluster) -> str | None:
        gone = []
        for node in cluster.nodes:
            try:
                node.exec(["true"], timeout=10)
            except Exception as e:
                gone.append(f"host {node.address} of {node.name} does not answer: {e}")
        if cluster.record is not None and not cluster.record.ours():
            gone.append(f"its run record {cluster.record.path} was removed")
        return "; ".join(gone) or None

    def destroy(self, cluster: SshCluster) -> None:
        scrubbed = True
        # Every node's logs first: hosts may share a file system (ssh-lab), and the scrub removes
        # the run's whole directory on its host.
        for step in (lambda n: (n.kill(), _copy_logs(n, cluster.run_dir / "nodes" / n.name)),
                     lambda n: n.exec(["sh", "-c", _SCRUB, "sh", cluster.prefix, cluster.hosts.root, REMOVE_DEAD], timeout=60)):
            try:
                _on_each(cluster.nodes, step)
            except Exception:
                scrubbed = False  # the record stays, so `faultline cleanup --runtime ssh` tries again
        for node in cluster.nodes:
            node.conn.close()
        cluster.nodes = []
        if cluster.connector is not None:
            cluster.connector.close()
            cluster.connector = None
        if scrubbed and cluster.record is not None and cluster.record.ours():
            runs.release(cluster.record)
        cluster.record = None

    def cleanup(self, prefix: str | None = None, force: bool = False) -> runs.CleanupReport:
        if force and prefix is None:
            raise HarnessError("--force removes one named run, live or not: give its --prefix")
        report = runs.CleanupReport()
        for record in runs.all_records():
            if record.runtime != self.name or (prefix is not None and record.run_id != prefix):
                continue
            if record.alive() and not force:
                report.skipped.append(f"run {record.run_id}: controller pid {record.pid} alive")
                continue
            try:
                hosts = read_hosts(Path(record.parts["hosts_file"]))
            except (HarnessError, KeyError) as e:
                report.skipped.append(f"run {record.run_id}: its hosts file cannot be read ({e})")
                continue
            connector = NamespaceConnector(hosts.netns) if hosts.netns else None
            try:
                for host in hosts.hosts:
                    if host.address not in record.parts.get("hosts", []):
                        continue
                    # As the run itself connected: the user who skipped the check for the run
                    # need not repeat it for its cleanup, and a checked run stays checked.
                    insecure = self.insecure or bool(record.parts.get("insecure_host_keys"))
                    conn = Connection(host, hosts, connector, insecure)
                    try:
                        conn.run(["sh", "-c", _SCRUB, "sh", record.run_id, hosts.root, REMOVE_DEAD], 60)
                    finally:
                        conn.close()
                    report.append(f"run {record.run_id}'s processes, chains, cgroups and files on {host.address}")
            finally:
                if connector is not None:
                    connector.close()
            runs.release(record)
            report.append(f"run record {record.path} (controller pid {record.pid})")
        return report


def _on_each(items: Sequence[Any], step: Any) -> list[Any]:
    """`step` on every item at once (hosts answer in parallel); every step runs to its end, then
    the first error is raised."""
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        futures = [pool.submit(step, item) for item in items]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def _copy_logs(node: SshNode, local_dir: Path) -> None:
    """The node's log files (not its data directory) into the store."""
    local_dir.mkdir(parents=True, exist_ok=True)
    for entry in node.conn.sftp.listdir_attr(str(node.log_dir)):
        if entry.st_mode is not None and stat.S_ISREG(entry.st_mode) and entry.filename != "server.pid":
            node.conn.sftp.get(f"{node.log_dir}/{entry.filename}", str(local_dir / entry.filename))
