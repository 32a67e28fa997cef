"""`faultline ssh-lab`: SSH "hosts" on this machine, one sshd per network namespace, for trying
the ssh runtime (and testing it) without real machines.

The namespaces are the local runtime's layout (a hub bridge, a namespace per host at .11, .12,
..., and a client namespace that the hosts file names, so the controller's SSH connections and
the clients' connections leave from there, never from the root namespace), recorded under the
runtime name `ssh-lab`. Each sshd has its own host key; the throwaway client key, the
known_hosts with every host key, the sshd configs and the hosts file live in the lab's
directory. `down` ends the sshds (and whatever runs in the namespaces) and removes it all.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.runtime import runs
from harness.runtime.local import LocalRuntime
from harness.seams import HarnessError

LAB_ROOT = Path("/var/lib/faultline/ssh-lab")
SSHD = "/usr/sbin/sshd"


class LabRuntime(LocalRuntime):
    name = "ssh-lab"


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, capture_output=True)
    return (path.with_suffix(".pub") if path.suffix else Path(f"{path}.pub")).read_text().strip()


def up(count: int) -> Path:
    """Start `count` sshd hosts; returns the hosts file."""
    if shutil.which(SSHD) is None and not Path(SSHD).exists():
        raise HarnessError("sshd is not installed: run `bash scripts/setup.sh --test` or `apt-get install openssh-server`")
    runtime = LabRuntime()
    prefix = runtime.new_prefix()
    lab = LAB_ROOT / prefix
    lab.mkdir(parents=True)
    cluster = runtime.create(lab, [f"h{i}" for i in range(1, count + 1)], prefix)
    try:
        client_pub = _keygen(lab / "id_ed25519")
        (lab / "authorized_keys").write_text(client_pub + "\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        known = []
        for node in cluster.nodes:
            host_key = lab / f"host_{node.name}"
            known.append(f"{node.address} {' '.join(_keygen(host_key).split()[:2])}")
            config = lab / f"sshd_{node.name}.conf"
            config.write_text(
                f"ListenAddress {node.address}\nPort 22\nHostKey {host_key}\nAuthorizedKeysFile {lab}/authorized_keys\n"
                f"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                f"UsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\nPidFile {lab}/sshd_{node.name}.pid\nMaxSessions 100\nMaxStartups 100\n")
            node.spawn([SSHD, "-D", "-e", "-f", str(config)], log_name="sshd.log")
        (lab / "known_hosts").write_text("\n".join(known) + "\n")
        lines = [f'known_hosts = "{lab}/known_hosts"', f'netns = "{cluster.client_netns}"', ""]
        for node in cluster.nodes:
            lines += ["[[host]]", f'address = "{node.address}"', "port = 22", 'user = "root"', f'key = "{lab}/id_ed25519"', ""]
        hosts = lab / "hosts.toml"
        hosts.write_text("\n".join(lines))
        _wait_listening(cluster)
    except BaseException:
        runtime.destroy(cluster)
        shutil.rmtree(lab, ignore_errors=True)
        raise
    # The sshds outlive this command; the lab's record names it as controller, and only `down`
    # (never a plain `faultline cleanup`, which looks at local runs only) removes the lab.
    if cluster.connector is not None:
        cluster.connector.close()
    return hosts


def _wait_listening(cluster: object) -> None:
    import time

    for node in cluster.nodes:  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while True:
            try:
                cluster.connect(node, 22, 2).close()  # type: ignore[attr-defined]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"sshd on {node.address} did not listen within 20 s; see {node.log_dir}/sshd.log")
                time.sleep(0.1)


def down(prefix: str | None = None) -> list[str]:
    """Remove every lab (or the one with this prefix)."""
    removed: list[str] = []
    runtime = LabRuntime()
    for record in runs.all_records():
        if record.runtime == LabRuntime.name and prefix in (None, record.run_id):
            removed += runtime.cleanup(record.run_id, force=True)
            shutil.rmtree(LAB_ROOT / record.run_id, ignore_errors=True)
    return removed
