"""Shared test set-up: tests marked `root` need root, ip and iptables (network namespaces)."""

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
