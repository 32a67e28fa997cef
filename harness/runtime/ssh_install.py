"""What an SSH host needs to run faultline's servers and fault helpers, uploaded by the ssh
runtime: wheels of faultline and its dependencies, built here once per source (cached under
/var/lib/faultline/wheels by a hash of the source and the Python version), copied to the host
and installed there into a virtual environment (cached on the host by the same hash, so a
second run on that host uploads nothing).

Both caches are pruned: an entry that no run has used for `UNUSED_DAYS` days (a run marks the
one it uses) is removed when a run next builds or installs, so editing faultline's source does
not fill a disk with one environment per edit. An environment being installed holds its lock
and is never pruned.

Commands the harness writes for the controller's interpreter (`sys.executable -m ...`, and
paths into its site-packages such as libfaketime's library) are rewritten to the host's
environment by `HostEnv.translate`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import harness
from harness.seams import HarnessError

WHEEL_CACHE = Path("/var/lib/faultline/wheels")
UNUSED_DAYS = 7
PACKAGES = ("harness", "systems_under_test", "workloads", "nemeses", "checkers")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info", "build")

# On the host: $1 = environment dir, $2 = dir of uploaded wheels. Under a lock, since hosts may
# share a file system (ssh-lab) and runs may start at once.
_INSTALL = r"""
set -e
mkdir -p "$(dirname "$1")"
exec 9>"$1.lock"
flock 9
if [ ! -f "$1/installed" ]; then
  rm -rf "$1"
  python3 -m venv "$1"
  "$1/bin/pip" install --quiet --no-compile --disable-pip-version-check --no-index --find-links "$2" faultline
  touch "$1/installed"
fi
"""

# On the host: $1 = directory of environments, $2 = the one this run uses, $3 = days. Marks $2
# used, then removes every other one unused that long whose install lock is free.
_PRUNE = r"""
cd "$1" || exit 0
touch "$2/installed"
for d in */; do
  d=${d%/}
  [ -d "$d" ] && [ "$d" != "$2" ] || continue
  [ -n "$(find "$d" -maxdepth 1 \( -name installed -o -name bin \) -mtime -"$3" 2>/dev/null)" ] && continue
  ( flock -n 9 || exit 0; rm -rf "$d" ) 9>"$d.lock"
done
true
"""


def source_root() -> Path:
    root = Path(harness.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise HarnessError(f"the ssh runtime builds faultline's wheel from its source, but {root} has no pyproject.toml")
    return root


def source_digest(root: Path) -> str:
    digest = hashlib.sha256(f"python{sys.version_info.major}.{sys.version_info.minor}".encode())
    files = [root / "pyproject.toml", root / "README.md"]
    for package in PACKAGES:
        files += sorted(p for p in (root / package).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so"))
    for f in files:
        digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_wheels() -> tuple[str, Path]:
    """(digest, dir of wheels): faultline's and every dependency's, built at most once per source."""
    root = source_root()
    digest = source_digest(root)
    dest = WHEEL_CACHE / digest
    if dest.is_dir():
        os.utime(dest)  # used: kept by prune_wheels
        prune_wheels(digest)
        return digest, dest
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=WHEEL_CACHE))
    try:
        # From a copy, so the build leaves nothing in the user's tree.
        src = work / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        for package in PACKAGES:
            shutil.copytree(root / package, src / package, ignore=_IGNORED)
        wheels = work / "wheels"
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                                 "--wheel-dir", str(wheels), str(src)], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise HarnessError(f"building faultline's wheels for the ssh hosts failed: {result.stderr.strip()[-2000:]}")
        try:
            os.rename(wheels, dest)
        except OSError:
            if not dest.is_dir():  # another run's build got there first: it is the same
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    prune_wheels(digest)
    return digest, dest


def prune_wheels(keep: str, cache: Path = WHEEL_CACHE, days: float = UNUSED_DAYS) -> list[Path]:
    """Remove the cache's wheel sets (and abandoned build directories) unused for `days`."""
    removed = []
    cutoff = time.time() - days * 86400
    for entry in cache.iterdir() if cache.is_dir() else []:
        try:
            if entry.name != keep and entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed.append(entry)
        except OSError:
            pass  # another run removed or is using it
    return removed


@dataclass(frozen=True)
class HostEnv:
    """faultline's environment on a host."""

    prefix: str

    def translate(self, argv: Sequence[str]) -> list[str]:
        """The command with the controller's interpreter and site-packages replaced by the host's."""
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        pairs = [(sys.executable, f"{self.prefix}/bin/python"),
                 (sysconfig.get_paths()["purelib"], f"{self.prefix}/lib/{version}/site-packages")]
        out = []
        for arg in argv:
            for here, there in pairs:
                arg = arg.replace(here, there)
            out.append(arg)
        return out


def install(conn: Any, root: str, digest: str, wheels: Path, upload_name: str) -> HostEnv:
    """faultline's environment on the host of `conn` (a ssh.Connection), installed if missing."""
    env = HostEnv(f"{root}/env/{digest}")
    if conn.run(["test", "-f", f"{env.prefix}/installed"], 30).returncode != 0:
        _install(conn, root, env, wheels, upload_name)
    conn.run(["sh", "-c", _PRUNE, "sh", f"{root}/env", digest, str(UNUSED_DAYS)], 120)
    return env


def _install(conn: Any, root: str, env: HostEnv, wheels: Path, upload_name: str) -> None:
    upload = f"{root}/upload/{upload_name}"
    if (r := conn.run(["mkdir", "-p", upload], 30)).returncode != 0:
        raise HarnessError(f"mkdir {upload} on {conn.host.address} failed: {r.stderr.strip()}")
    try:
        for wheel in sorted(wheels.iterdir()):
            conn.sftp.put(str(wheel), f"{upload}/{wheel.name}")
        result = conn.run(["timeout", "-s", "KILL", "600", "sh", "-c", _INSTALL, "sh", env.prefix, upload], 620)
        if result.returncode != 0:
            raise HarnessError(f"installing faultline on {conn.host.address} failed: {result.stderr.strip()[-2000:]}")
    finally:
        conn.run(["rm", "-rf", upload], 60)
