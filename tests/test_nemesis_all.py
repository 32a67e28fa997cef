"""`--nemesis all` and `all:adaptive` (nemeses/all.py, nemeses/feedback.py): reproducible from the
seed, only the families a system and runtime support, every fault healed, adaptive choices in the
history and replayable; and, on a real cluster, a known buggy mode caught under `all`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import plugins
from harness.generator.combinators import nemesis, paced, repeat, time_limit
from harness.generator.rng import Rng
from harness.generator.simulate import simulate
from harness.history import INFO, Op
from harness.plan import nemesis_packages
from harness.seams import HarnessError, NemesisOptions, ReportsPrimary
from nemeses.all import (PASS_LEADERS, STARTS, STOP, AllNemesis, Arm, Chooser, Shape, arms_for, families_for, replay,
                         round_maker, rounds_state)
from nemeses.feedback import Feedback

NODES = ["n1", "n2", "n3", "n4", "n5"]
EVERYTHING = frozenset({"kill", "pause", "clock"})


def options(seed: int, capabilities: frozenset[str] = EVERYTHING, nodes: list[str] = NODES, concurrency: int = 5) -> NemesisOptions:
    return NemesisOptions(seed=seed, nodes=nodes, interval=2.0, capabilities=capabilities, concurrency=concurrency)


def nemesis_ops(name: str, seed: int, seconds: float = 120.0, **kw) -> list[dict]:
    package = nemesis_packages([name], options(seed, **kw))[0]
    history = simulate(nemesis(time_limit(seconds, package.generator)), 5)
    return [{"f": op.f, "value": op.value, **op.extra} for op in history if op.type == "invoke"]


def family_of(f: str) -> str | None:
    return next((family for family, starts in STARTS.items() if f in starts), None)


@pytest.mark.parametrize("name", ["all", "all:adaptive"])
def test_same_seed_same_faults_and_choices(name: str) -> None:
    first, again, other = nemesis_ops(name, 7), nemesis_ops(name, 7), nemesis_ops(name, 8)
    assert first == again
    assert first != other
    chosen = [op["choice"] for op in first if "round" in op.get("choice", {})]
    assert [c["round"] for c in chosen] == list(range(len(chosen))) and len(chosen) >= 10


def test_rotation_brings_every_family_once_per_cycle_partitions_twice_and_kills_three_times() -> None:
    ops = nemesis_ops("all", 3, seconds=600)
    families = families_for(EVERYTHING, 5, 5)
    cycle = sorted(families + ["partition", "kill", "kill"])
    arms = [op["choice"]["arm"] for op in ops if "round" in op.get("choice", {})]
    assert len(arms) >= 2 * len(cycle)
    for number in range(len(arms) // len(cycle)):
        block = arms[number * len(cycle):(number + 1) * len(cycle)]
        assert sorted(a.split(":")[0] for a in block) == cycle
    drawn = set(arms)
    for expected in ("partition:halves", "partition:ring", "partition:one-way", "kill:one", "kill:majority",
                     "kill:all", "pause:one", "clock:bump", "clock:strobe", "clock:drift", "network:latency",
                     "pause-client:several"):
        assert expected in drawn


@pytest.mark.parametrize("name", ["all", "all:adaptive"])
def test_every_fault_is_healed_by_its_round_and_by_the_final_heal(name: str) -> None:
    package = nemesis_packages([name], options(11))[0]
    ops = nemesis_ops(name, 11, seconds=300)
    open_faults: dict[str, int] = {}
    for op in ops:
        family = family_of(op["f"])
        if family is not None:
            open_faults[family] = open_faults.get(family, 0) + 1
        for family, stop in STOP.items():
            if op["f"] == stop:
                open_faults.pop(family, None)
    # At most the round the time limit cut short is still open; the final heal covers every family.
    assert len(open_faults) <= 2
    finals = {op["f"] for op in package.final_generator}
    assert finals == {STOP[f] for f in families_for(EVERYTHING, 5, 5)}


@pytest.mark.parametrize("nodes", [3, 4, 5])
def test_each_family_takes_every_variant_once_quorum_breakers_first(nodes: int) -> None:
    """A 60 s test has three kill and two partition rounds in its first cycle: they are a kill of
    a majority and of all nodes and a flurry, and quorum-splitting partitions (halves, majority,
    ring), for every seed; and a family comes back to a variant only once it has run all of them."""
    assert {a.name for a in arms_for(["partition"], nodes, False)} & PASS_LEADERS >= {"partition:halves", "partition:ring"}
    names = [f"n{i}" for i in range(1, nodes + 1)]
    arms = arms_for(families_for(EVERYTHING, nodes, 5), nodes, has_primary=True)
    for seed in range(1, 40):
        choices = replay(seed, arms, Shape(tuple(names), 5, 5.0), {}, 40, adaptive=False)
        for family in ("kill", "partition", "pause", "pause-client", "clock"):
            drawn = [c["arm"] for c in choices if c["arm"].startswith(family + ":")]
            variants = [a.name for a in arms if a.family == family]
            breakers = {v for v in variants if v in PASS_LEADERS}
            assert breakers and set(drawn[:len(breakers)]) == breakers
            for start in range(0, len(drawn) - len(variants) + 1, len(variants)):
                assert sorted(drawn[start:start + len(variants)]) == sorted(variants)


@pytest.mark.parametrize("nodes", [2, 3, 5])
def test_adaptive_tries_every_family_once_before_choosing_by_reward(nodes: int) -> None:
    """Whatever the rewards, so a family that no reward speaks for yet (the clock faults of a
    lease service, say) still gets its round."""
    names = tuple(f"n{i}" for i in range(1, nodes + 1))
    arms = arms_for(families_for(EVERYTHING, nodes, 5), nodes, has_primary=True)
    families = list(dict.fromkeys(a.family for a in arms))
    for seed in range(1, 30):
        rewards = {n: 50.0 * (n % 2) for n in range(40)}  # rewards that would favour repeating
        choices = replay(seed, arms, Shape(names, 5, 5.0), rewards, 40, adaptive=True)
        rotated = [c["arm"].split(":")[0] for c in choices if c["how"] == "rotate"]
        assert sorted(rotated) == sorted(families)


@pytest.mark.parametrize("adaptive", [False, True])
def test_rounds_pair_two_faults_but_never_a_stall(adaptive: bool) -> None:
    """A stall's bug shows at its waking, which a second fault healed at the same moment would
    disturb; the other families still come in pairs, about one round in four."""
    arms = arms_for(families_for(EVERYTHING, 3, 5), 3, has_primary=True)
    pairs = []
    for seed in range(1, 40):
        for choice in replay(seed, arms, Shape(("n1", "n2", "n3"), 5, 5.0), {}, 20, adaptive=adaptive):
            if "with" in choice:
                pairs.append((choice["arm"].split(":")[0], choice["with"].split(":")[0]))
    assert pairs and not any({"pause", "pause-client"} & set(pair) for pair in pairs)


def test_several_stalls_every_client_but_one() -> None:
    """So a lease holder is among the stalled (4 times in 5 with 5 clients) and one client is left
    to take the lock meanwhile."""
    from nemeses.all import start_op

    for concurrency, stalled in ((5, 4), (2, 1), (1, 1)):
        op = start_op(Arm("pause-client", "several"), Shape(tuple(NODES), concurrency, 5.0), Rng(3), 2.0)
        assert len(op["value"]["threads"]) == stalled and len(set(op["value"]["threads"])) == stalled


def test_only_what_the_system_supports_is_drawn() -> None:
    assert families_for(frozenset(), 1, 3) == ["pause-client"]
    assert families_for(frozenset({"kill"}), 3, 5, firewall=False) == ["kill", "pause-client"]
    arms = [a.name for a in arms_for(["kill", "pause"], 1, has_primary=False)]
    assert arms == ["kill:one", "kill:flurry", "pause:one"]  # one = majority = all on one node
    two = [a.name for a in arms_for(["partition"], 2, has_primary=False)]
    assert "partition:ring" not in two and "partition:bridge" not in two and "partition:one-way" in two
    # Partitions into the same two sides are one arm: 2|3 (halves = majority) on 5 nodes, 3|1
    # (one = majority) on 4, 1|2 (all three) on 3; majority is a split of its own from 6 nodes.
    sides = {n: [a.name.split(":")[1] for a in arms_for(["partition"], n, False)][:4] for n in (3, 4, 5, 6)}
    assert sides == {3: ["halves", "ring", "bridge", "one-way"], 4: ["halves", "one", "ring", "bridge"],
                     5: ["halves", "one", "ring", "bridge"], 6: ["halves", "majority", "one", "ring"]}
    ops = nemesis_ops("all", 5, capabilities=frozenset(), nodes=["n1", "n2", "n3"])
    assert {family_of(op["f"]) for op in ops} - {None} <= {"partition", "network", "pause-client"}


class _NoFirewall:
    """A cluster of a runtime without a firewall (like `loopback`)."""

    def __init__(self, tmp: Path):
        self.run_dir = tmp
        self.nodes = [SimpleNamespace(name=n, log_dir=tmp / n) for n in ("n1", "n2", "n3")]

    def firewall(self, node, argv) -> None:
        raise HarnessError("this runtime has no firewall")


def test_a_runtime_without_a_firewall_gets_no_partitions(tmp_path: Path) -> None:
    package = nemesis_packages(["all:adaptive"], options(1, capabilities=frozenset({"kill"}), nodes=["n1", "n2", "n3"]))[0]
    nemesis: AllNemesis = package.nemesis
    nemesis.setup(_NoFirewall(tmp_path), SimpleNamespace(name="x"))
    assert nemesis.active == ["kill", "pause-client"]
    assert {a.family for a in nemesis.chooser.arms} == {"kill", "pause-client"}
    healed = nemesis.invoke(_NoFirewall(tmp_path), SimpleNamespace(), Op("invoke", "heal", process="nemesis"))
    assert healed.type == INFO and "not in use" in healed.value


def test_all_refuses_to_share_fault_ops_with_another_package() -> None:
    with pytest.raises(HarnessError, match="both handle the fault op"):
        nemesis_packages(["all", "kill"], options(1))


def _drive(seed: int, reward_of, rounds: int, near_of=lambda arm: 0, completions_of=lambda arm: 100) -> Chooser:
    """The adaptive chooser as the nemesis drives it: decide a round, observe, learn, repeat."""
    chooser = Chooser(seed, arms_for(families_for(EVERYTHING, 5, 5), 5, True), adaptive=True)
    make = round_maker(chooser, Shape(tuple(NODES), 5, 2.0))
    state = rounds_state(seed)
    for number in range(rounds):
        rng = Rng(state)
        make(number, rng)
        state = rng.state
        arm = chooser.decisions[number][0]
        chooser.learn(number, reward_of(arm), near_of(arm), completions_of(arm))
    return chooser


def test_a_round_asked_for_twice_draws_the_same_ops_and_leaves_the_same_state() -> None:
    """The generator may ask for a round's ops again: the second ask must leave the random source
    where the first did, or every later round differs from what `replay` recomputes."""
    for seed in range(1, 30):
        chooser = Chooser(seed, arms_for(families_for(EVERYTHING, 5, 5), 5, True), adaptive=True)
        make = round_maker(chooser, Shape(tuple(NODES), 5, 2.0))
        first, second = Rng(rounds_state(seed)), Rng(rounds_state(seed))
        assert repr(make(0, first)) == repr(make(0, second))
        assert first.state == second.state


def test_adaptive_choices_follow_the_rewards_and_replay_from_the_seed() -> None:
    def reward_of(arm: Arm) -> float:
        return 10.0 if arm.name == "kill:all" else 0.0

    chooser = _drive(5, reward_of, 40)
    choices = [chooser.decisions[n][2] for n in range(40)]
    assert [c["how"] for c in choices[:6]] == ["rotate"] * 6  # one of every family first
    later = [c["arm"] for c in choices[6:]]
    assert max(set(later), key=later.count) == "kill:all"
    assert sum(a.startswith("kill:") for a in later) > len(later) / 2  # its siblings inherit its promise
    assert any(c["how"] == "explore" for c in choices)  # it still tries other faults
    again = _drive(5, reward_of, 40)
    assert [again.decisions[n][2] for n in range(40)] == choices
    assert replay(5, chooser.arms, Shape(tuple(NODES), 5, 2.0), chooser.rewards, 40, adaptive=True) == choices


def test_a_round_that_paid_off_is_followed_by_a_harder_fault_of_its_family() -> None:
    chooser = _drive(2, lambda arm: 6.0 if arm.family == "kill" else 0.0, 30)
    moves = [chooser.decisions[n][2] for n in range(30) if chooser.decisions[n][2]["how"] == "intensify"]
    assert moves and chooser.decisions[1][2]["how"] != "intensify"  # the first round's novelty is any fault's
    ladder = ["one", "minority", "majority", "all"]
    for move in moves:
        before, after = move["after"].split(":")[1], move["arm"].split(":")[1]
        assert move["arm"].startswith("kill:") and ladder.index(after) > ladder.index({"primary": "one", "flurry": "majority"}.get(before, before))


def test_a_round_with_near_misses_is_run_again_once() -> None:
    """Near misses (the checkers' edge) after a round bring the same arm back next round, with
    fresh targets; a repeat is not repeated, and a fault whose near misses are no more than the
    run's usual is not repeated either. The choices replay from the seed, rewards and near misses."""
    def near_of(arm: Arm) -> int:
        return 6 if arm.family == "partition" else 0

    for seed in range(1, 20):
        chooser = _drive(seed, lambda arm: 1.0, 30, near_of)
        choices = [chooser.decisions[n][2] for n in range(30)]
        for n in range(29):
            first, after = choices[n], choices[n + 1]
            earlier = [chooser.near[m] for m in range(n)]
            edge = chooser.near[n] >= 3 and (not earlier or chooser.near[n] > 1.25 * sum(earlier) / len(earlier))  # equal completions
            if edge and first["how"] != "repeat":
                assert after["how"] == "repeat" and after["arm"] == first["arm"] and after["near_misses"] == 6
            else:
                assert after["how"] != "repeat"
        assert any(c["how"] == "repeat" for c in choices)
        near = {n: (chooser.near[n], chooser.completions[n]) for n in chooser.near}
        assert replay(seed, chooser.arms, Shape(tuple(NODES), 5, 2.0), chooser.rewards, 30, adaptive=True,
                      near_misses=near) == choices
    # Everything equally near the edge: nothing stands out, so nothing is repeated after the first.
    flat = _drive(4, lambda arm: 1.0, 20, lambda arm: 5)
    assert [flat.decisions[n][2]["how"] for n in range(2, 20)].count("repeat") == 0
    # More near misses only because more ops ran (a burst of load): the same share, no repeat.
    burst = _drive(4, lambda arm: 1.0, 20, lambda arm: 50 if arm.family == "kill" else 5,
                   lambda arm: 1000 if arm.family == "kill" else 100)
    assert [burst.decisions[n][2]["how"] for n in range(2, 20)].count("repeat") == 0


def test_paced_load_has_bursts_and_quiet_spells() -> None:
    ops = simulate(time_limit(30, paced([(10, 10.0), (10, 0.0), (10, 1.0)], repeat({"f": "read"}), seed=1)), 2,
                   nemesis=False)
    starts = [op.time / 1e9 for op in ops if op.type == "invoke"]
    steady = sum(1 for t in starts if t < 10)
    burst = sum(1 for t in starts if 10 <= t < 20)
    quiet = sum(1 for t in starts if t >= 20)
    assert 50 <= steady <= 150 and burst > 10 * steady and quiet <= 25


def test_feedback_counts_new_behaviour_once(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    logs = tmp_path / "n1"
    logs.mkdir()

    def write(ops: list[dict], log_lines: list[str]) -> None:
        with open(history, "a") as f:
            f.writelines(json.dumps(op) + "\n" for op in ops)
        with open(logs / "server.log", "a") as f:
            f.writelines(line + "\n" for line in log_lines)

    feedback = Feedback(history, [logs])
    write([{"type": "invoke", "process": 0, "f": "write", "value": [1, 5], "time": 0},
           {"type": "ok", "process": 0, "f": "write", "value": [1, 5], "time": 1_000_000},
           {"type": "invoke", "process": 0, "f": "write", "value": [1, 6], "time": 2_000_000},
           {"type": "ok", "process": 0, "f": "write", "value": [1, 6], "time": 3_000_000}],
          ["12:00:01 n1 became leader in term 3"])
    first = feedback.observe()
    assert ("log-epochs", 1) in first.new and ("log", "#:#:# n# became leader in term #") in first.new
    write([{"type": "invoke", "process": 1, "f": "read", "value": [1, None], "time": 4_000_000},
           {"type": "ok", "process": 1, "f": "read", "value": [1, 5], "time": 5_000_000},
           {"type": "invoke", "process": 2, "f": "write", "value": [1, 7], "time": 6_000_000}],
          ["12:00:09 n1 became leader in term 4"])
    second = feedback.observe()
    assert second.near_misses == 1  # the read returned the value the latest write replaced
    # A second new term is not new behaviour (terms only grow); the write's new latency is.
    assert second.new and not any(f[0] in ("log", "log-epochs") for f in second.new)
    with open(history, "a") as f:
        f.write('{"type": "info", "process": 2, "f": "write", "value": [1, 7], "time": 9000000, "error": "n3: timed out af')
    third = feedback.observe()  # a half-written line waits for its end
    assert third.completions == 0
    with open(history, "a") as f:
        f.write('ter 2 s"}\n')
    fourth = feedback.observe()
    assert ("outcome", "write", "info", "n#: timed out after # s") in fourth.new


def test_feedback_near_misses_of_the_lock_and_leader_contracts(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    ops = [{"type": "ok", "process": 0, "f": "acquire", "value": {"token": 4}, "time": 1},
           {"type": "ok", "process": 1, "f": "write", "value": {"token": 4, "seq": 1}, "time": 2},
           {"type": "fail", "process": 2, "f": "write", "value": {"token": 3, "seq": 2}, "time": 3},  # refused, stale
           {"type": "ok", "process": 2, "f": "write", "value": {"token": 2, "seq": 3}, "time": 4},  # taken, stale
           {"type": "fail", "process": 3, "f": "write", "value": None, "time": 5},  # held nothing, sent nothing
           {"type": "ok", "process": 0, "f": "status", "value": {"node": "n1", "leader": True, "epoch": 7}, "time": 10**9},
           {"type": "ok", "process": 1, "f": "status", "value": {"node": "n2", "leader": True, "epoch": 8}, "time": 15 * 10**8},
           {"type": "ok", "process": 2, "f": "status", "value": {"node": "n3", "leader": True, "epoch": 9}, "time": 30 * 10**8},
           {"type": "ok", "process": 0, "f": "status", "value": {"node": "n3", "leader": True, "epoch": 9}, "time": 31 * 10**8}]
    history.write_text("".join(json.dumps(op) + "\n" for op in ops))
    # Two stale writes; n2 claiming epoch 8 half a second after n1 claimed 7 (n3's claim 1.5 s
    # later, and n3 again in its own epoch, are ordinary hand-overs).
    assert Feedback(history).observe().near_misses == 3


def test_feedback_near_misses_of_the_counter_contract(tmp_path: Path) -> None:
    """A counter read above every acknowledged and open add is a near miss when it is a new
    high: two acknowledged adds of 1 and one open add of 1 cover a read of 3, not one of 5; the
    same surplus again, later, is not new."""
    history = tmp_path / "history.jsonl"

    def op(kind: str, process: int, f: str, value: object) -> dict:
        return {"type": kind, "process": process, "f": f, "value": value, "time": 1}

    ops = [op("invoke", 0, "add", 1), op("ok", 0, "add", 1), op("invoke", 0, "add", 1), op("ok", 0, "add", 1),
           op("invoke", 1, "add", 1),  # open: it may be counted
           op("invoke", 2, "read", None), op("ok", 2, "read", 3),  # within the adds
           op("invoke", 2, "read", None), op("ok", 2, "read", 5),  # 2 above them: an add applied twice?
           op("invoke", 2, "read", None), op("ok", 2, "read", 5),  # the same surplus
           op("info", 1, "add", 1),
           op("invoke", 3, "add", 1), op("fail", 3, "add", 1),  # a failed add counts for nothing
           op("invoke", 2, "read", None), op("ok", 2, "read", 6)]  # 4 above the acknowledged 2
    history.write_text("".join(json.dumps(o) + "\n" for o in ops))
    assert Feedback(history).observe().near_misses == 2


def test_new_terms_are_counted_not_each_new(tmp_path: Path) -> None:
    """One new term per window is new behaviour once; a storm of elections (3 new terms, then 9)
    is new again; a term already seen counts for nothing."""
    logs = tmp_path / "n1"
    logs.mkdir()
    feedback = Feedback(tmp_path / "history.jsonl", [logs])

    def window(terms: list[int]) -> list[tuple]:
        with open(logs / "server.log", "a") as f:
            f.writelines(f"n1 leader of term {t}\n" for t in terms)
        return [f for f in feedback.observe().new if f[0] == "log-epochs"]

    assert window([1]) == [("log-epochs", 1)]
    assert window([2]) == [] and window([2, 1]) == []
    assert window([3, 4, 5]) == [("log-epochs", 2)]
    assert window(list(range(6, 15))) == [("log-epochs", 3)]


def test_log_templates_mask_hex_ids() -> None:
    """A replication id logged on every resync is the same line each time; words are kept."""
    from nemeses.feedback import log_template

    first = log_template("1:S 02 Dec 2026 17:44:01.123 * Full resync from master: e1ef3b2dd9b4b6f7a8c0:1234")
    again = log_template("1:S 02 Dec 2026 17:45:09.004 * Full resync from master: 3f4b1a2d8e9aaca0dcf1:99")
    assert first == again == "#:S # Dec # #:#:# * Full resync from master: #:#"
    assert log_template("deadbeef faced a decade") == "deadbeef faced a decade"


# -- on a real cluster ---------------------------------------------------------------------------


def _raftkv_seed_killing_all_first() -> int:
    """A seed whose first round under `all` (and `all:adaptive`, whose warm-up rotates the same
    way) kills every node of a 3-node raftkv: computed from the schedule, not guessed."""
    system_cls = plugins.load("system", "raftkv")
    has_primary = isinstance(system_cls("no-persist"), ReportsPrimary)
    arms = arms_for(families_for(frozenset(system_cls.capabilities), 3, 5), 3, has_primary)
    shape = Shape(("n1", "n2", "n3"), 5, 5.0)
    return next(seed for seed in range(1, 500) if replay(seed, arms, shape, {}, 1, adaptive=False)[0]["arm"] == "kill:all")


def _run(store: Path, nemesis_name: str, seed: int) -> tuple[int, Path]:
    argv = [sys.executable, "-c", "from harness.cli import main; main()", "test", "--system", "raftkv", "--mode",
            "no-persist", "--workload", "register", "--nodes", "3", "--nemesis", nemesis_name, "--time-limit", "20",
            "--seed", str(seed), "--store", str(store)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    runs = sorted(p.parent for p in store.glob("*/*/results.json"))
    assert runs, done.stdout + done.stderr
    return done.returncode, runs[-1]


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.parametrize("name", ["all", "all:adaptive"])
def test_raftkv_no_persist_is_caught_under_all_when_every_node_is_killed(tmp_path: Path, name: str) -> None:
    """no-persist forgets term, vote and log on restart: once every node is killed, the writes
    acknowledged before are gone, and a read after the restart cannot see them."""
    seed = _raftkv_seed_killing_all_first()
    code, run = _run(tmp_path, name, seed)
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    kill = next(i for i, op in enumerate(history) if op["f"] == "kill" and op["type"] == "info")
    assert history[kill]["choice"]["arm"] == "kill:all" and sorted(history[kill]["value"]["killed"]) == ["n1", "n2", "n3"]
    # The window that makes the anomaly certain: an acknowledged write before the kill, a read after.
    assert any(op["type"] == "ok" and op["f"] == "write" for op in history[:kill])
    start = next(i for i, op in enumerate(history) if i > kill and op["f"] == "start" and op["type"] == "info")
    assert any(op["type"] == "ok" and op["f"] == "read" for op in history[start:])
    results = json.loads((run / "results.json").read_text())
    named = {a for r in results["checkers"].values() for a in r.get("anomalies") or ()}
    assert code == 1 and named & {"multiple-leaders-in-term", "nonlinearizable", "stale-read", "committed-entry-truncated"}
    # Every fault the run started was healed by the end, and the choices are in the history.
    for i, op in enumerate(history):
        family = family_of(op["f"]) if op["process"] == "nemesis" and op["type"] == "info" else None
        if family is not None:
            assert any(later["f"] == STOP[family] and later["type"] == "info" for later in history[i:])
    rounds = results["all"]["rounds"]
    recorded = [op["choice"] for op in history if op["type"] == "info" and "round" in op.get("choice", {})]
    assert recorded == rounds[:len(recorded)] and recorded
    if name == "all:adaptive":
        rewards = {op["value"]["round"]: op["value"]["reward"] for op in history
                   if op["f"] == "observe" and op["type"] == "info" and isinstance(op["value"].get("round"), int)}
        assert rewards
        arms = [Arm(*a.split(":", 1)) for a in results["all"]["arms"]]
        near = {op["value"]["round"]: (op["value"]["near_misses"], op["value"]["completions"]) for op in history
                if op["f"] == "observe" and op["type"] == "info" and isinstance(op["value"].get("round"), int)}
        assert replay(seed, arms, Shape(("n1", "n2", "n3"), 5, 5.0), rewards, len(rounds), adaptive=True,
                      near_misses=near) == rounds
