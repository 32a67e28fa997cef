"""A private Docker engine and the node image, for machines where no engine runs.

`faultline docker up` starts Debian's `dockerd` with its own data root and exec root, its own
socket, no default bridge and `--iptables=false`, so the host's firewall and networks are left
as they are; `faultline docker down` stops it. The data root persists, so built images stay
cached between runs.

The node image is built without any registry: `debootstrap` makes a Debian rootfs from the
Debian package mirror apt already uses, and `docker import` turns it into an image tagged
`faultline-node:<hash of its inputs>`; it is rebuilt only when those inputs change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from harness.seams import HarnessError

DATA_ROOT = Path("/var/lib/faultline/docker")
EXEC_DIR = Path("/run/faultline-docker")
SOCKET = EXEC_DIR / "docker.sock"
PID_FILE = EXEC_DIR / "dockerd.pid"
LOG_FILE = DATA_ROOT.parent / "dockerd.log"

SUITE = "bookworm"
# What every node needs: the fault tools (iptables, tc, ss, pgrep) and libfaketime's dependencies.
NODE_PACKAGES = ("python3", "iptables", "iproute2", "procps", "libfaketime", "util-linux")
IMAGE_REPO = "faultline-node"
BUILDER_VERSION = "1"  # bump when the build steps change


def _mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and len(words) > 2 and "security" not in line:
                return words[1] if not words[1].startswith("[") else words[2]
    raise HarnessError("no Debian mirror found in /etc/apt/sources.list*: cannot build the node image")


def client() -> Any:
    """A Docker client for the engine at DOCKER_HOST, else the private engine, else the default
    socket; HarnessError naming the fix when none answers."""
    try:
        import docker
    except ImportError:
        raise HarnessError("the docker runtime needs the Docker SDK: pip install 'faultline[docker]'") from None
    candidates = []
    if os.environ.get("DOCKER_HOST"):
        candidates.append(lambda: docker.from_env(timeout=120))
    candidates.append(lambda: docker.DockerClient(base_url=f"unix://{SOCKET}", timeout=120))
    if not os.environ.get("DOCKER_HOST"):
        candidates.append(lambda: docker.from_env(timeout=120))
    for make in candidates:
        try:
            c = make()
            c.ping()
            return c
        except Exception:
            continue
    raise HarnessError("no Docker engine answers (DOCKER_HOST, the default socket, or faultline's own at "
                       f"{SOCKET}): start one with `faultline docker up`")


def _ping() -> bool:
    try:
        import docker
        docker.DockerClient(base_url=f"unix://{SOCKET}", timeout=5).ping()
        return True
    except Exception:
        return False


def up(timeout: float = 60.0) -> str:
    """Start the private engine unless it already answers; returns its socket address."""
    if _ping():
        return f"unix://{SOCKET}"
    if shutil.which("dockerd") is None:
        raise HarnessError("`dockerd` is not installed: run `bash scripts/setup.sh --test` or `apt-get install docker.io`")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    EXEC_DIR.mkdir(parents=True, exist_ok=True)
    argv = ["dockerd", "--data-root", str(DATA_ROOT), "--exec-root", str(EXEC_DIR / "exec"),
            "--host", f"unix://{SOCKET}", "--pidfile", str(PID_FILE), "--iptables=false",
            "--ip-masq=false", "--bridge=none", "--ip-forward=false"]
    with open(LOG_FILE, "ab") as log:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not _ping():
        if time.monotonic() > deadline:
            raise HarnessError(f"dockerd did not answer within {timeout:.0f} s; see {LOG_FILE}")
        time.sleep(0.2)
    return f"unix://{SOCKET}"


def down(timeout: float = 30.0) -> bool:
    """Stop the private engine (it stops its containerd too); False if none ran."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(EXEC_DIR, ignore_errors=True)
    return True


def image_tag(extra_packages: Sequence[str] = ()) -> str:
    inputs = "\n".join([BUILDER_VERSION, SUITE, *sorted(set(NODE_PACKAGES) | set(extra_packages))])
    return f"{IMAGE_REPO}:{hashlib.sha256(inputs.encode()).hexdigest()[:12]}"


def ensure_image(docker_client: Any, extra_packages: Sequence[str] = (), log: Any = None) -> str:
    """The node image's tag, built first if the engine lacks it."""
    tag = image_tag(extra_packages)
    try:
        docker_client.images.get(tag)
        return tag
    except Exception:
        pass
    if shutil.which("debootstrap") is None:
        raise HarnessError("building the node image needs `debootstrap`: `apt-get install debootstrap`")
    packages = ",".join(sorted(set(NODE_PACKAGES) | set(extra_packages)))
    DATA_ROOT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faultline-rootfs-", dir=DATA_ROOT.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(["debootstrap", "--variant=minbase", f"--include={packages}", SUITE, str(rootfs), _mirror()],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError(f"debootstrap failed ({result.returncode}): {result.stdout[-2000:]}{result.stderr[-2000:]}")
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        repo, _, version = tag.partition(":")
        docker_client.api.import_image_from_file(str(archive), repository=repo, tag=version)
    return tag
