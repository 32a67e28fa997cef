"""Shared test set-up: tests marked `root` need root, ip and iptables (network namespaces)."""

from __future__ import annotations

import os
import shutil

import pytest


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
