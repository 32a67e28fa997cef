"""Shared test set-up: tests marked `root` need root, ip and iptables (network namespaces).

The suite runs in pytest-xdist workers (scripts/test.sh: `-n 2 --dist loadgroup`): the tests
are made to share the machine with other runs, so they can share it with each other. The
docker tests and the ssh tests each form one group, run by one worker: each group's session
fixture starts one dockerd or one ssh-lab, which two workers would start twice."""

from __future__ import annotations

import os
import shutil
import signal

import pytest


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
