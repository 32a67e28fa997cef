"""Plug-ins are checked when they are loaded: a broken outside package is named in one clear
message before any cluster starts, a name registered twice is refused naming both packages,
and nemesis packages that would share fault ops are refused naming the clash."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import plugins
from harness.plan import nemesis_packages
from harness.seams import CAPABILITIES, HarnessError, NemesisOptions

FAULTLINE = str(Path(sys.executable).parent / "faultline")

GOOD_SYSTEM = '''
class Good:
    name = "good"
    modes = ("correct",)
    workloads = ("register",)
    capabilities = frozenset({"kill"})
    description = "a well-formed plug-in"
    def __init__(self, mode, server_args=()): pass
    def setup(self, cluster): pass
    def start(self, cluster, node): pass
    def client(self, cluster): pass
    def teardown(self, cluster): pass
'''


def install_fake_package(root: Path, dist: str, module: str, source: str, entry_points: str) -> None:
    """A distribution as pip leaves it (a .dist-info beside the module), found on sys.path."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    sys.modules.pop(module, None)  # each test's module of this name is a new one
    importlib.invalidate_caches()
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("source, complaint", [
    (GOOD_SYSTEM.replace('    modes = ("correct",)\n', ""), "no attribute `modes`"),
    (GOOD_SYSTEM.replace('modes = ("correct",)', "modes = ()"), "`modes` must be a non-empty sequence"),
    (GOOD_SYSTEM.replace("def __init__(self, mode, server_args=()): pass", "def __init__(self): pass"),
     "the constructor must accept (mode, server_args)"),
    (GOOD_SYSTEM.replace('{"kill"}', '{"kill", "teleport"}'), "unknown capabilities 'teleport'"),
    (GOOD_SYSTEM.replace("    def client(self, cluster): pass\n", ""), "no method `client`"),
    ("raise ImportError('no module named grpc')\n", "failed to load: ImportError: no module named grpc"),
])
def test_a_broken_system_is_named_with_its_package(outside: Path, source: str, complaint: str) -> None:
    install_fake_package(outside, "acme-faultline", "acme_system", source,
                         "[faultline.systems]\nacme = acme_system:Good\n")
    with pytest.raises(HarnessError) as caught:
        plugins.load("system", "acme")
    message = str(caught.value)
    assert "package acme-faultline" in message and "acme_system:Good" in message
    assert complaint in message


def test_a_well_formed_outside_system_loads(outside: Path) -> None:
    install_fake_package(outside, "acme-faultline", "acme_system", GOOD_SYSTEM,
                         "[faultline.systems]\nacme = acme_system:Good\n")
    assert plugins.load("system", "acme").name == "good"


def test_a_name_registered_by_two_packages_names_both(outside: Path) -> None:
    install_fake_package(outside, "acme-faultline", "acme_system", GOOD_SYSTEM,
                         "[faultline.systems]\nseedkv = acme_system:Good\n")
    with pytest.raises(HarnessError) as caught:
        plugins.load("system", "seedkv")
    message = str(caught.value)
    assert "registered twice" in message
    assert "package acme-faultline (acme_system:Good)" in message
    assert "package faultline (systems_under_test.seedkv.system:SeedKV)" in message


@pytest.mark.parametrize("kind, group, source, complaint", [
    ("workload", "faultline.workloads", "class W:\n    name = 'w'\n    description = ''\n    def generator(self, o): pass\n",
     "no method `final_generator`"),
    ("nemesis", "faultline.nemeses", "def make(a, b): pass\n", "a factory `(NemesisOptions) -> NemesisPackage`"),
    ("nemesis", "faultline.nemeses", "def make(options): pass\nmake.variants = 'one'\n", "`variants` must be a sequence"),
    ("checker", "faultline.checkers", "def make(history): pass\n", "a function `(history, options) -> result`"),
    ("runtime", "faultline.runtimes", "class R:\n    name = 'r'\n    def create(self): pass\n", "no method `new_prefix`"),
])
def test_every_kind_is_checked(outside: Path, kind: str, group: str, source: str, complaint: str) -> None:
    obj = "W" if "class W" in source else "R" if "class R" in source else "make"
    install_fake_package(outside, "acme-bits", "acme_bits", source, f"[{group}]\nacme = acme_bits:{obj}\n")
    with pytest.raises(HarnessError, match="package acme-bits") as caught:
        plugins.load(kind, "acme")
    assert complaint in str(caught.value)


def test_the_cli_refuses_a_broken_plugin_in_one_line_before_any_cluster(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "site"
    plugin_dir.mkdir()
    install_fake_package(plugin_dir, "acme-faultline", "acme_system",
                         GOOD_SYSTEM.replace("def __init__(self, mode, server_args=()): pass", "def __init__(self): pass"),
                         "[faultline.systems]\nacme = acme_system:Good\n")
    store = tmp_path / "store"
    result = subprocess.run([FAULTLINE, "test", "--system", "acme", "--workload", "register", "--store", str(store)],
                            capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(plugin_dir), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "package acme-faultline" in lines[0] and "constructor" in lines[0], result.stderr
    assert not store.exists(), "nothing may start for a broken plug-in"


# --- composition ---------------------------------------------------------------------------

OPTIONS = NemesisOptions(seed=1, nodes=["n1", "n2", "n3"], interval=5.0, capabilities=CAPABILITIES, concurrency=3)


@pytest.mark.parametrize("names, clash", [
    (["partition", "partition:ring"], "'heal', 'partition'"),
    (["partition", "partition-ring"], "'heal', 'partition'"),
    (["kill", "kill:minority"], "'kill', 'start'"),
    (["pause:one", "pause-majority"], "'pause', 'resume'"),
])
def test_packages_sharing_fault_ops_are_refused_naming_the_clash(names: list[str], clash: str) -> None:
    with pytest.raises(HarnessError) as caught:
        nemesis_packages(names, OPTIONS)
    message = str(caught.value)
    assert f"{names[0]} and {names[1]} both handle the fault op {clash}" in message


def test_packages_of_different_families_compose() -> None:
    packages = nemesis_packages(["partition:ring", "kill:minority", "pause", "clock"], OPTIONS)
    assert [p.name for p in packages] == ["partition:ring", "kill:minority", "pause", "clock"]
    fs = [f for p in packages for f in p.fs]
    assert len(fs) == len(set(fs))


def test_variants_are_checked_and_old_names_still_read() -> None:
    assert nemesis_packages(["kill-majority"], OPTIONS)[0].name == "kill:majority"
    assert nemesis_packages(["latency"], OPTIONS)[0].name == "network:latency"  # a variant one family offers
    with pytest.raises(HarnessError, match="unknown nemesis 'primary'"):
        nemesis_packages(["primary"], OPTIONS)  # offered by several families: not guessed
    with pytest.raises(HarnessError, match="kill has variants one, minority, majority, all, primary"):
        nemesis_packages(["kill:most"], OPTIONS)
    with pytest.raises(HarnessError, match="unknown nemesis 'teleport'"):
        nemesis_packages(["teleport"], OPTIONS)


def test_the_cli_exits_3_naming_a_clash(tmp_path: Path) -> None:
    result = subprocess.run([FAULTLINE, "test", "--system", "raftkv", "--workload", "register",
                             "--nemesis", "partition,partition-ring", "--store", str(tmp_path / "store")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "partition and partition-ring both handle the fault op" in result.stderr
    assert not (tmp_path / "store").exists()


def test_the_built_in_checkers_are_the_entry_points_and_keep_their_contract() -> None:
    """`load("checker", ...)` takes the shipped checkers from plugins.BUILT_IN_CHECKERS without
    scanning entry points (start-up time), so that list must say what pyproject.toml says, and
    each must pass the check an entry point's checker gets."""
    from importlib.metadata import entry_points
    shipped = {ep.name: ep.value for ep in entry_points(group="faultline.checkers")
               if ep.dist is not None and ep.dist.name == "faultline"}
    assert plugins.BUILT_IN_CHECKERS == shipped
    for name in shipped:
        assert plugins.CHECKS["checker"](plugins.load("checker", name)) == [], name


def test_an_outside_checker_is_still_found_through_its_entry_point(outside: Path) -> None:
    install_fake_package(outside, "acme-bits", "acme_bits", "def check(history, options):\n    return {'valid': True}\n",
                         "[faultline.checkers]\nacme = acme_bits:check\n")
    assert plugins.load("checker", "acme")([], {}) == {"valid": True}


CLAIMING_LINEARIZABLE = "[faultline.checkers]\nlinearizable = acme_lin:check\n"


def test_an_outside_checker_under_a_built_in_name_is_an_error_naming_both(outside: Path) -> None:
    """It used to lose silently to the built-in: a user who installed it would get faultline's
    checker and think they had run their own."""
    install_fake_package(outside, "acme-lin", "acme_lin", "def check(history, options):\n    return {'valid': True}\n",
                         CLAIMING_LINEARIZABLE)
    with pytest.raises(HarnessError) as error:
        plugins.load("checker", "linearizable")
    message = str(error.value)
    assert "'linearizable'" in message and "package acme-lin (acme_lin:check)" in message
    assert "built-in" in message
    plugins.load("checker", "set")  # the other built-in names are untouched


def test_the_cheap_scan_sees_what_importlib_metadata_sees(outside: Path) -> None:
    from importlib.metadata import entry_points

    from harness.builtin_checkers import outside_claims
    install_fake_package(outside, "acme-lin", "acme_lin", "", CLAIMING_LINEARIZABLE)
    for name in plugins.BUILT_IN_CHECKERS:
        seen = [(ep.dist.name, ep.value) for ep in entry_points(group="faultline.checkers")
                if ep.name == name and ep.dist is not None and ep.dist.name != "faultline"]
        assert outside_claims(name) == seen, name
    assert outside_claims("linearizable") == [("acme-lin", "acme_lin:check")]


def test_analyze_refuses_a_built_in_checker_name_an_outside_package_registers(outside: Path) -> None:
    install_fake_package(outside, "acme-lin", "acme_lin", "def check(history, options):\n    return {'valid': True}\n",
                         CLAIMING_LINEARIZABLE)
    history = outside / "h.jsonl"
    history.write_text('{"type": "invoke", "f": "read", "value": [0, null], "process": 0}\n'
                       '{"type": "ok", "f": "read", "value": [0, null], "process": 0}\n')
    result = subprocess.run([FAULTLINE, "analyze", str(history), "--checker", "linearizable", "--model",
                             "cas-register", "--keyed"], capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "PYTHONPATH": str(outside)})
    assert result.returncode == 3, result.stdout
    assert "acme-lin" in result.stdout + result.stderr and "'linearizable'" in result.stdout + result.stderr
