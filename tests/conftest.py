"""Shared test set-up: tests marked `root` need root, ip and iptables (network namespaces).

The suite runs in pytest-xdist workers (scripts/test.sh: `-n 2 --dist loadgroup`): the tests
are made to share the machine with other runs, so they can share it with each other. The
docker tests and the ssh tests each form one group, run by one worker: each group's session
fixture starts one dockerd or one ssh-lab, which two workers would start twice."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Iterator

import pytest

from harness.runtime.faketime_files import SHM_PATTERNS

SHM = Path("/dev/shm")


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a non-interactive shell inherits SIGINT as ignored,
    # and so would every `faultline test` it starts (Python installs no Ctrl-C handler then).
    # The tests of Ctrl-C need it delivered; a Python handler here is reset to the default in
    # every child at exec, unlike SIG_IGN.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        runtime = getattr(item, "callspec", None) and item.callspec.params.get("runtime")
        if runtime in ("docker", "ssh"):
            item.add_marker(pytest.mark.xdist_group(runtime))
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    missing += [tool for tool in ("ip", "iptables") if shutil.which(tool) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs {', '.join(missing)} for network namespaces (run scripts/test.sh as root)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def _faketime_files() -> set[str]:
    try:
        return {n for n in os.listdir(SHM) if n.startswith(SHM_PATTERNS)}
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def _watch_faketime_files(request: pytest.FixtureRequest) -> Iterator[None]:
    """Notes libfaketime files that appeared during a test and whose process is gone when it
    ends: every run's clock teardown and `faultline cleanup` must remove them. A note, not a
    failure: the other worker's test, or another user's run, may have made them."""
    before = _faketime_files()
    yield
    left = sorted(n for n in _faketime_files() - before if not Path(f"/proc/{n.rsplit('_', 1)[-1]}").exists())
    if left:
        request.node.user_properties.append(("faketime_files_left", left))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Only files still there at the end: a run in progress beside the test removes its own later.
    noted = [(r.nodeid, still) for reports in terminalreporter.stats.values() for r in reports
             for key, files in getattr(r, "user_properties", []) if key == "faketime_files_left" and r.when == "teardown"
             for still in [[f for f in files if (SHM / f).exists()]] if still]
    if noted:
        terminalreporter.section("libfaketime files of dead processes left during (or beside) these tests")
        for nodeid, files in noted:
            terminalreporter.write_line(f"{nodeid}: {len(files)} files, e.g. {files[0]}")
