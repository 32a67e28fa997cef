"""`faultline new-system`: the skeleton it writes installs and passes its own tests as written.

The slow test does what a plug-in author does: `faultline new-system demo`, `pip install -e` it
into this venv, run its tests (which start a loopback cluster and run a short `faultline test`), and
uninstall it again, so the venv is left as it was.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import setuptools
from click.testing import CliRunner

from harness.scaffold import new_system_command, write_skeleton
from harness.seams import HarnessError

PIP = [sys.executable, "-m", "pip"]


def test_a_bad_name_an_installed_name_and_a_used_folder_are_refused(tmp_path: Path) -> None:
    for bad in ("Demo", "9lives", "my db", "my--db", "-x", "", "a/b"):
        with pytest.raises(HarnessError, match="invalid system name"):
            write_skeleton(bad, tmp_path)
    with pytest.raises(HarnessError, match="already installed"):
        write_skeleton("seedkv", tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match="not empty"):
        write_skeleton("taken", tmp_path)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


def test_the_command_writes_the_package_and_says_what_next(tmp_path: Path) -> None:
    result = CliRunner().invoke(new_system_command, ["my-db", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "my-db"
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == ["README.md", "faultline_my_db/__init__.py", "faultline_my_db/client.py",
                       "faultline_my_db/server.py", "faultline_my_db/system.py", "pyproject.toml",
                       "tests/test_faultline_my_db.py"]
    assert 'my-db = "faultline_my_db.system:MyDbSystem"' in (root / "pyproject.toml").read_text()
    assert f"pip install -e {root}" in result.output and f"pytest {root}" in result.output
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


def _builds_without_isolation() -> bool:
    """Whether this venv's setuptools can build an editable wheel by itself (from 70.1 it has
    bdist_wheel; before, it needs the `wheel` package)."""
    version = tuple(int(p) for p in setuptools.__version__.split(".")[:2])
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.mark.slow
def test_the_skeleton_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    made = CliRunner().invoke(new_system_command, ["demo", "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    root = tmp_path / "demo"
    install = [*PIP, "install", "--no-deps", "-e", str(root)]
    if _builds_without_isolation():
        install.insert(-2, "--no-build-isolation")
    try:
        installed = subprocess.run(install, capture_output=True, text=True, timeout=600)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "2 passed" in tests.stdout, tests.stdout
    finally:
        removed = subprocess.run([*PIP, "uninstall", "-y", "faultline-demo"], capture_output=True, text=True, timeout=300)
        assert removed.returncode == 0, removed.stdout + removed.stderr
