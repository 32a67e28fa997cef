"""Bad numbers in a spec are refused before anything starts, and what teardown starts (a heal
restarting a killed node) gets default signal handling, so it can be stopped politely."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lifecycle import _teardown
from harness.runtime.loopback import LoopbackRuntime
from harness.seams import NemesisPackage

FAULTLINE = str(Path(sys.executable).parent / "faultline")


@pytest.mark.parametrize("option, value", [
    ("--time-limit", "nan"), ("--time-limit", "inf"), ("--rate", "nan"), ("--rate", "inf"),
    ("--nemesis-interval", "nan"), ("--nemesis-interval", "inf"),
])
def test_non_finite_numbers_are_refused_naming_the_option_before_any_cluster(tmp_path: Path, option: str, value: str) -> None:
    store = tmp_path / "store"
    result = subprocess.run([FAULTLINE, "test", "--system", "seedkv", "--workload", "set", "--runtime", "loopback",
                             option, value, "--store", str(store)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert option in result.stderr and "finite" in result.stderr
    assert not store.exists(), "nothing may be created for a spec that cannot run"


def ignored_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigIgn line")


class RestartingHeal:
    """A nemesis whose teardown starts a node process, as the kill fault's heal does."""

    def __init__(self) -> None:
        self.ignored: int | None = None

    def setup(self, cluster, system) -> None:
        pass

    def invoke(self, cluster, system, op):
        return op

    def teardown(self, cluster, system) -> None:
        node = cluster.nodes[0]
        node.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
        self.ignored = ignored_signals(node.pid)


class StopsNodes:
    name = "stops"

    def teardown(self, cluster) -> None:
        for node in cluster.nodes:
            node.stop(timeout=30)


def test_a_node_started_during_teardown_does_not_inherit_ignored_signals(tmp_path: Path) -> None:
    runtime = LoopbackRuntime()
    cluster = runtime.create(tmp_path, ["n1"], runtime.new_prefix())
    heal = RestartingHeal()
    package = NemesisPackage(name="heal", nemesis=heal, fs=frozenset(), generator=None, final_generator=None)
    try:
        _teardown(runtime, cluster, StopsNodes(), [package], logging.getLogger("test-teardown"))
    finally:
        runtime.destroy(cluster)
    assert heal.ignored is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        assert not heal.ignored & (1 << (sig - 1)), f"the restarted node ignores {signal.Signals(sig).name}"


def test_runtime_options_reach_the_runtime_that_takes_them_and_no_other(tmp_path: Path) -> None:
    from harness.plan import make_runtime
    from harness.runtime.ssh import SshRuntime
    from harness.seams import HarnessError
    from harness.spec import TestSpec

    ssh = make_runtime(TestSpec("seedkv", "set", runtime="ssh", hosts="/x/hosts.toml", insecure_host_keys=True))
    assert isinstance(ssh, SshRuntime) and ssh.hosts_path == Path("/x/hosts.toml") and ssh.insecure
    assert not make_runtime(TestSpec("seedkv", "set", runtime="ssh")).insecure
    with pytest.raises(HarnessError, match="--hosts: the loopback runtime takes no such option"):
        make_runtime(TestSpec("seedkv", "set", runtime="loopback", hosts="/x/hosts.toml"))
    result = subprocess.run([FAULTLINE, "test", "--system", "seedkv", "--workload", "set", "--runtime", "local",
                             "--insecure-host-keys", "--store", str(tmp_path / "store")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3 and "--insecure-host-keys: the local runtime takes no such option" in result.stderr
    assert not (tmp_path / "store").exists()


def test_a_campaign_passes_a_flag_option_as_a_bare_flag() -> None:
    from harness.campaign.plan import CampaignTest, Expectation

    test = CampaignTest({"system": "seedkv", "workload": "set", "runtime": "ssh", "hosts": "/x/h.toml",
                         "insecure_host_keys": True, "seed": 1}, Expectation("valid"), "row")
    argv = test.argv(Path("/s"))
    assert argv[argv.index("--hosts") + 1] == "/x/h.toml"
    assert argv[argv.index("--insecure-host-keys") + 1] == "--seed"
    unchecked = CampaignTest({"system": "seedkv", "workload": "set", "insecure_host_keys": False, "hosts": None,
                              "seed": 1}, Expectation("valid"), "row")
    assert "--insecure-host-keys" not in unchecked.argv(Path("/s")) and "--hosts" not in unchecked.argv(Path("/s"))
