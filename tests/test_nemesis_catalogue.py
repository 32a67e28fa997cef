"""The nemesis catalogue without a cluster: partition shapes, target choice, every package's
seeded schedule, the faults' error messages, and `faultline systems --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from harness import plugins
from harness.generator import nemesis, simulate, time_limit
from harness.generator.rng import Rng
from harness.seams import HarnessError, NemesisOptions
from nemeses import partition
from nemeses.clock import NodeClock, clock_fault
from nemeses.targets import PRIMARY, choose

NODES = ["n1", "n2", "n3", "n4", "n5"]
SEEDS = range(20)
EXPECTED = {
    "partition", "partition-one", "partition-majority", "partition-ring", "partition-bridge",
    "partition-primary", "partition-one-way", "partition-mixed",
    "kill", "kill-minority", "kill-majority", "kill-all", "kill-primary",
    "pause", "pause-minority", "pause-majority", "pause-all", "pause-primary",
    "clock", "network", "loss", "duplicate", "bandwidth", "latency", "reset",
    "disk", "disk-lose-unsynced", "disk-corrupt", "slow",
}


def hears(grudge: dict[str, list[str]], node: str) -> set[str]:
    return set(NODES) - set(grudge.get(node, []))


@pytest.mark.parametrize("seed", SEEDS)
def test_halves_and_majority_split_into_two_complete_sides(seed):
    for shape in (partition.random_halves, partition.minority_majority):
        grudge = shape(NODES, Rng(seed))
        sides = {frozenset(hears(grudge, n)) for n in NODES}
        assert sorted(len(s) for s in sides) == [2, 3]
        assert frozenset().union(*sides) == frozenset(NODES)


@pytest.mark.parametrize("seed", SEEDS)
def test_isolate_one_cuts_exactly_one_node(seed):
    grudge = partition.isolate_one(NODES, Rng(seed))
    alone = [n for n in NODES if len(grudge[n]) == 4]
    assert len(alone) == 1
    assert all(grudge[n] == alone for n in NODES if n != alone[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_majorities_ring_gives_each_node_its_own_majority(seed):
    grudge = partition.majorities_ring(NODES, Rng(seed))
    views = [frozenset(hears(grudge, n)) for n in NODES]
    assert all(len(v) == 3 and n in v for n, v in zip(NODES, views))
    assert len(set(views)) == 5


@pytest.mark.parametrize("seed", SEEDS)
def test_bridge_has_one_node_that_hears_and_is_heard_by_all(seed):
    grudge = partition.bridge(NODES, Rng(seed))
    centre = [n for n in NODES if not grudge[n]]
    assert len(centre) == 1
    assert all(centre[0] not in enemies for enemies in grudge.values())
    assert sum(1 for n in NODES if len(grudge[n]) == 2) == 4


@pytest.mark.parametrize("seed", SEEDS)
def test_one_way_leaves_the_minority_hearing_everyone(seed):
    grudge = partition.one_way(NODES, Rng(seed))
    cut_off = set(next(iter(grudge.values())))
    assert len(cut_off) == 2 and set(grudge) == set(NODES) - cut_off
    assert all(set(v) == cut_off for v in grudge.values())


def test_explicit_groups_and_their_errors():
    assert partition.grudge_from_groups("n1,n2|n3") == {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}
    assert partition.grudge_from_groups([["n1"], ["n2"], ["n3"]])["n1"] == ["n2", "n3"]
    for bad in ("n1,n2", "n1|n1", "n1||n2"):
        with pytest.raises(HarnessError, match="disjoint"):
            partition.grudge_from_groups(bad)


def test_targets():
    counts = {t: Counter(len(choose(t, NODES, Rng(s))) for s in SEEDS) for t in ("one", "minority", "majority", "all")}
    assert counts == {"one": {1: 20}, "minority": {2: 20}, "majority": {3: 20}, "all": {5: 20}}
    assert choose("primary", NODES, Rng(0)) == [PRIMARY]
    with pytest.raises(HarnessError, match="unknown target"):
        choose("most", NODES, Rng(0))


def test_node_clock_offsets_drift_from_where_they_were_set():
    clock = NodeClock(offset=5.0, rate=1.5, since=100.0)
    assert clock.offset_at(100.0) == 5.0 and clock.offset_at(110.0) == 10.0
    faults = Counter(clock_fault(NODES, Rng(s))["f"] for s in range(200))
    assert set(faults) == {"bump", "strobe", "drift"}


def options(seed: int = 7, capabilities=frozenset({"kill", "pause", "clock", "disk"})) -> NemesisOptions:
    return NemesisOptions(seed=seed, nodes=["n1", "n2", "n3"], interval=1.0, capabilities=capabilities)


def schedule(generator) -> list:
    """The nemesis invocations of 30 logical seconds, as the runner would drive them."""
    history = simulate(nemesis(time_limit(30, generator)), concurrency=1, tick_ns=10**8)
    return [op for op in history if op.process == "nemesis" and op.type == "invoke"]


def test_every_package_is_registered_seeded_and_self_consistent():
    assert EXPECTED <= set(plugins.names("nemesis"))
    for name in sorted(EXPECTED):
        package = plugins.load("nemesis", name)(options())
        ops = schedule(package.generator)
        assert ops, name
        assert {op.f for op in ops} <= package.fs, name
        again = plugins.load("nemesis", name)(options())
        same = schedule(again.generator)
        assert [(o.f, o.value, o.time) for o in ops] == [(o.f, o.value, o.time) for o in same], name
        for fault, how in package.draw.items():
            assert {fault, how["start"], how["stop"]} <= package.fs, name
        if package.final_generator is not None:
            assert package.final_generator["f"] in package.fs, name


@pytest.mark.parametrize("name,needs", [("kill", "kill"), ("pause", "pause"), ("clock", "clock"), ("disk", "disk")])
def test_a_fault_the_system_cannot_take_is_refused_by_name(name, needs):
    with pytest.raises(HarnessError, match=f"--nemesis {name}"):
        plugins.load("nemesis", name)(options(capabilities=frozenset({"kill", "pause", "clock", "disk"}) - {needs}))


def test_systems_json_lists_every_nemesis_with_its_options():
    out = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "systems", "--json"], capture_output=True, text=True, check=True)
    rows = {row["name"]: row for row in json.loads(out.stdout)["nemeses"]}
    assert EXPECTED <= set(rows)
    for name in EXPECTED:
        assert "error" not in rows[name], rows[name]
        assert rows[name]["options"]["interval"] == 5.0 and rows[name]["fs"]
