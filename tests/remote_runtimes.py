"""The docker and ssh runtimes for tests: a session fixture per runtime that starts what it needs
(faultline's own dockerd and node image; an ssh-lab of 5 hosts) through the same commands a user
runs, and stops it at the end; the `runtime` fixture gives a `RuntimeUnderTest`, whose `flags`
tell a `faultline` command where to run; `leftovers` lists what a run left on that runtime."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

FAULTLINE = str(Path(sys.executable).parent / "faultline")
RUNTIMES = ("local", "docker", "ssh")


def _faultline(*args: str, timeout: float = 600) -> str:
    result = subprocess.run([FAULTLINE, *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.skip(f"`faultline {' '.join(args)}` failed here: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    from harness.runtime import dockerd

    already = dockerd._ping()
    _faultline("docker", "up", "--build")
    yield
    if not already:
        _faultline("docker", "down")


@pytest.fixture(scope="session")
def ssh_hosts() -> Iterator[str]:
    hosts = _faultline("ssh-lab", "up", "5").strip().splitlines()[-1]
    prefix = Path(hosts).parent.name
    yield hosts
    _faultline("ssh-lab", "down", "--prefix", prefix)


@dataclass(frozen=True)
class RuntimeUnderTest:
    name: str
    hosts: str | None = None  # the ssh-lab's hosts file

    @property
    def flags(self) -> list[str]:
        """The options of `faultline test` and `selftest` that pick this runtime."""
        return ["--runtime", self.name] + (["--hosts", self.hosts] if self.hosts else [])

    def __str__(self) -> str:
        return self.name


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> RuntimeUnderTest:
    if request.param == "docker":
        request.getfixturevalue("docker_engine")
    if request.param == "ssh":
        return RuntimeUnderTest("ssh", request.getfixturevalue("ssh_hosts"))
    return RuntimeUnderTest(request.param)


def leftovers(runtime: RuntimeUnderTest, prefix: str) -> list[str]:
    """What of the run `prefix` is still there on the docker or ssh runtime's side."""
    found = []
    if runtime.name == "docker":
        from harness.runtime import dockerd
        from harness.runtime.docker import LABEL

        client = dockerd.client()
        found += [f"container {c.name}" for c in client.containers.list(all=True, filters={"label": f"{LABEL}={prefix}"})]
        found += [f"network {n.name}" for n in client.networks.list(filters={"label": f"{LABEL}={prefix}"})]
        found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": f"{LABEL}={prefix}"})]
    if runtime.name == "ssh":
        from harness.runtime.ssh import DEFAULT_ROOT

        if Path(DEFAULT_ROOT, prefix).exists():
            found.append(f"node directories {DEFAULT_ROOT}/{prefix}")
        lab = Path(str(runtime.hosts)).parent.name
        rules = subprocess.run(["sh", "-c", f"for n in $(ip netns list | cut -d' ' -f1 | grep ^{lab}-h); do ip netns exec $n iptables-save 2>/dev/null; done | grep -c -- '-A .* -j FL-'"],
                               capture_output=True, text=True).stdout.strip()
        if rules not in ("", "0"):
            found.append(f"{rules} jumps to FL- chains left on the lab hosts")
        procs = subprocess.run(["pgrep", "-f", f"/var/tmp/faultline/{prefix}"], capture_output=True, text=True).stdout.split()
        found += [f"process {p}" for p in procs]
    if Path(f"/run/faultline/{prefix}.json").exists():
        found.append(f"run record /run/faultline/{prefix}.json")
    return found
