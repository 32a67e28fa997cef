"""The nemesis catalogue without a cluster: partition shapes, target choice, every family's
variants and every package's seeded schedule, the faults' error messages, which files the disk
damage touches, and `faultline systems --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness import plugins
from harness.generator import nemesis, simulate, time_limit
from harness.generator.rng import Rng
from harness.seams import HarnessError, NemesisFactory, NemesisOptions
from nemeses import partition
from nemeses.clock import NodeClock, clock_fault
from nemeses import disk_damage
from nemeses.targets import PRIMARY, choose, spread

NODES = ["n1", "n2", "n3", "n4", "n5"]
SEEDS = range(20)
TARGETS = ("one", "minority", "majority", "all", "primary")
# family -> its variants, the default first
FAMILIES = {
    "kill": TARGETS,
    "pause": TARGETS,
    "partition": ("halves", "one", "majority", "ring", "bridge", "primary", "one-way", "mixed"),
    "network": ("mixed", "loss", "duplicate", "bandwidth", "latency", "reset"),
    "disk": ("all", "lose-unsynced", "corrupt"),
    "clock": ("mixed", "forward"),
    "slow": (),
    "pause-client": (),
}
# Every package by its user-facing name: the family alone for its default variant.
EXPECTED = {family if not variants or v == variants[0] else f"{family}:{v}"
            for family, variants in FAMILIES.items() for v in (variants or ("",))}


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


@pytest.mark.parametrize("count, sizes", [(1, {1}), (2, {1, 2}), (3, {1, 3}), (5, {1, 2, 5})])
def test_spread_draws_each_distinct_size_alike(count: int, sizes: set[int]) -> None:
    """On 2-3 nodes one and a minority are the same node, so the whole cluster is taken half the
    time, not a third."""
    nodes = [f"n{i}" for i in range(1, count + 1)]
    rng = Rng(7)
    drawn = Counter(len(spread(nodes, rng)) for _ in range(600))
    assert set(drawn) == sizes
    assert all(abs(n - 600 / len(sizes)) < 80 for n in drawn.values())


def test_node_clock_offsets_drift_from_where_they_were_set():
    clock = NodeClock(offset=5.0, rate=1.5, since=100.0)
    assert clock.offset_at(100.0) == 5.0 and clock.offset_at(110.0) == 10.0
    faults = Counter(clock_fault(NODES, Rng(s))["f"] for s in range(200))
    assert set(faults) == {"bump", "strobe", "drift"}


def options(seed: int = 7, capabilities=frozenset({"kill", "pause", "clock", "disk"}), variant: str = "") -> NemesisOptions:
    return NemesisOptions(seed=seed, nodes=["n1", "n2", "n3"], interval=1.0, capabilities=capabilities,
                          concurrency=3, variant=variant)


def build(name: str, **kw) -> object:
    family, _, variant = name.partition(":")
    return plugins.load("nemesis", family)(options(variant=variant, **kw))


def schedule(generator) -> list:
    """The nemesis invocations of 30 logical seconds, as the runner would drive them."""
    history = simulate(nemesis(time_limit(30, generator)), concurrency=1, tick_ns=10**8)
    return [op for op in history if op.process == "nemesis" and op.type == "invoke"]


def test_one_factory_per_family_with_its_variants():
    assert set(plugins.names("nemesis")) >= set(FAMILIES)
    for family, variants in FAMILIES.items():
        factory = plugins.load("nemesis", family)
        assert isinstance(factory, NemesisFactory), family
        assert tuple(factory.variants) == variants, family
        # The default variant is the first, whether named or left out.
        if variants:
            assert factory(options()).name == factory(options(variant=variants[0])).name == family


def test_an_unknown_variant_names_the_valid_ones():
    with pytest.raises(HarnessError, match="kill:most.*kill:minority.*kill:primary"):
        build("kill:most")
    with pytest.raises(HarnessError, match="slow has no variants"):
        build("slow:fast")


def test_the_loader_reads_family_variant_and_the_old_hyphen_names():
    for name in sorted(EXPECTED):
        factory, variant = plugins.load_nemesis(name)
        assert factory(options(variant=variant)).name == name
    for old, new in (("kill-minority", "kill:minority"), ("partition-one-way", "partition:one-way"),
                     ("disk-lose-unsynced", "disk:lose-unsynced"), ("pause-primary", "pause:primary"),
                     ("pause-client", "pause-client")):
        factory, variant = plugins.load_nemesis(old)
        assert factory(options(variant=variant)).name == new, old


def test_every_package_is_seeded_and_self_consistent():
    for name in sorted(EXPECTED):
        package = build(name)
        assert package.name == name
        ops = schedule(package.generator)
        assert ops, name
        assert {op.f for op in ops} <= package.fs, name
        same = schedule(build(name).generator)
        assert [(o.f, o.value, o.time) for o in ops] == [(o.f, o.value, o.time) for o in same], name
        for fault, how in package.draw.items():
            assert {fault, how["start"], how["stop"]} <= package.fs, name
        if package.final_generator is not None:
            assert package.final_generator["f"] in package.fs, name


def test_variants_of_one_family_combine_only_when_their_ops_differ():
    """Network variants heal with ops of their own, so `network:latency,network:loss` can run
    together; every network package cuts in a chain of its own."""
    latency, loss = build("network:latency"), build("network:loss")
    assert not latency.fs & loss.fs
    assert latency.nemesis.chain != loss.nemesis.chain != build("network").nemesis.chain


@pytest.mark.parametrize("name,needs", [("kill", "kill"), ("pause:all", "pause"), ("clock", "clock"), ("disk:corrupt", "disk")])
def test_a_fault_the_system_cannot_take_is_refused_by_name(name, needs):
    with pytest.raises(HarnessError, match=f"--nemesis {name}"):
        build(name, capabilities=frozenset({"kill", "pause", "clock", "disk"}) - {needs})


def test_truncate_and_corrupt_touch_only_the_durable_files_and_lose_unsynced_every_file(tmp_path: Path, monkeypatch):
    damage = disk_damage.damage
    (tmp_path / "sub").mkdir()
    for name in ("raft-log", "raft-state", "sub/events.log", "scratch.tmp"):
        (tmp_path / name).write_bytes(b"x" * 2000)
    patterns = ["raft-*", "**/*.log"]
    assert set(damage("truncate", tmp_path, 1, patterns)) == {"raft-log", "raft-state", "sub/events.log"}
    assert set(damage("corrupt", tmp_path, 1, patterns)) == {"raft-log", "raft-state", "sub/events.log"}
    assert (tmp_path / "scratch.tmp").read_bytes() == b"x" * 2000
    assert set(damage("truncate", tmp_path, 1)) == {"raft-log", "raft-state", "sub/events.log", "scratch.tmp"}
    # lose-unsynced looks at every file's page cache, whatever the patterns say (which pages are
    # dirty is up to the kernel's writeback, so only the files it looks at are checked here).
    seen: list[str] = []
    monkeypatch.setattr(disk_damage, "lose_unsynced", lambda path: seen.append(str(path.relative_to(tmp_path))))
    assert damage("lose-unsynced", tmp_path, 1, ["no-such-file"]) == {}
    assert sorted(seen) == ["raft-log", "raft-state", "scratch.tmp", "sub/events.log"]


def test_systems_json_lists_every_family_with_its_variants_and_options():
    out = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "systems", "--json"], capture_output=True, text=True, check=True)
    rows = {row["name"]: row for row in json.loads(out.stdout)["nemeses"]}
    assert set(FAMILIES) <= set(rows)
    for name, variants in FAMILIES.items():
        assert "error" not in rows[name], rows[name]
        assert rows[name]["options"]["interval"] == 5.0 and rows[name]["fs"]
        assert tuple(rows[name]["variants"]) == variants


def test_clock_forward_jumps_every_node_ahead_by_more_than_a_second():
    import random

    from nemeses.clock import forward_fault

    rng = random.Random(3)
    for _ in range(100):
        fault = forward_fault(NODES, rng)
        assert fault["f"] == "bump" and fault["value"]["nodes"] == list(NODES) and 2 <= fault["value"]["delta"] <= 16
