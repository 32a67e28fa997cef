"""The ssh runtime's caches are pruned: wheel sets on the controller and environments on the
hosts that no run used for a week go, the one in use and one being installed stay."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

from harness.runtime import ssh_install

WEEK_AGO = time.time() - 8 * 86400


def age(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        os.utime(p, (WEEK_AGO, WEEK_AGO))


def test_unused_wheel_sets_go_and_the_used_one_stays(tmp_path: Path) -> None:
    for name in ("current", "stale", "recent"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "faultline-0.1-py3-none-any.whl").write_bytes(b"wheel")
    age(tmp_path / "current")
    age(tmp_path / "stale")
    removed = ssh_install.prune_wheels("current", tmp_path)
    assert removed == [tmp_path / "stale"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "recent"]


def test_host_environments_unused_for_a_week_go_unless_being_installed(tmp_path: Path) -> None:
    envs = tmp_path / "env"
    for name in ("inuse", "stale", "recent", "installing"):
        (envs / name / "bin").mkdir(parents=True)
        if name != "installing":
            (envs / name / "installed").touch()
    for name in ("inuse", "stale", "installing"):
        age(envs / name)
    with open(envs / "installing.lock", "w") as lock:  # another run is installing it right now
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["sh", "-c", ssh_install._PRUNE, "sh", str(envs), "inuse", "7"], check=True, timeout=60)
    assert sorted(p.name for p in envs.iterdir() if p.is_dir()) == ["installing", "inuse", "recent"]
    assert (envs / "inuse" / "installed").stat().st_mtime > WEEK_AGO + 86400, "the run's own is marked used"
    subprocess.run(["sh", "-c", ssh_install._PRUNE, "sh", str(tmp_path / "none"), "x", "7"], check=True, timeout=60)
    assert not (tmp_path / "none").exists()
