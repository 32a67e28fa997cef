"""The register workload's schedule, run on the simulator's logical clock."""

from harness.generator.combinators import clients, limit
from harness.generator.simulate import simulate
from harness.seams import WorkloadOptions
from workloads.register import AFTER_DOUBT, RegisterWorkload


def _generator(keys: int = 2, ops_per_key: int = 5):
    options = WorkloadOptions(seed=3, concurrency=4, nodes=["n1", "n2", "n3"],
                              params={"keys": keys, "ops_per_key": ops_per_key})
    return RegisterWorkload().generator(options)


def _keys(history):
    return {op.value[0] for op in history if op.type == "invoke"}


def test_keys_move_on_after_enough_ok_ops():
    history = simulate(clients(limit(200, _generator())), concurrency=4, nemesis=False)
    # 2 keys x 5 ops each per window: 200 ops that all succeed reach well past the first window.
    assert len(_keys(history)) >= 10


def test_failed_ops_do_not_retire_keys():
    # Nothing succeeds before 100 ms of logical time (an outage); then everything does.
    outage_ns = 100_000_000
    history = simulate(clients(limit(1000, _generator())), concurrency=4, nemesis=False,
                       outcome=lambda op, rng: "fail" if op.time < outage_ns else "ok")
    during = [op for op in history if op.type == "invoke" and op.time < outage_ns]
    assert len(during) > 50
    assert _keys(during) == {0, 1}  # the first window stayed in play through the outage
    after = [op for op in history if op.type == "invoke" and op.time >= outage_ns]
    assert {0, 1} & _keys(after[:4])  # and its keys are still worked right after it


def test_a_key_with_a_write_of_unknown_outcome_is_worked_on_before_it_retires():
    """While key 0's replicas are down its writes end `info` (they may sit on one replica) and
    its reads fail, but key 1 stays available and fills the window's count; key 0 stays in play
    until AFTER_DOUBT ops have succeeded on it since, so the partial write is read."""
    outage_ns = 50_000_000

    def outcome(op, rng):
        if op.value[0] == 0 and op.time < outage_ns:
            return "info" if op.f != "read" else "fail"
        return "ok"

    history = simulate(clients(limit(3000, _generator(ops_per_key=50))), concurrency=4, nemesis=False, outcome=outcome)
    doubtful = [op for op in history if op.type == "info" and op.value[0] == 0]
    assert doubtful
    after = [op for op in history if op.type == "ok" and op.value[0] == 0 and op.time > doubtful[-1].time]
    assert len(after) >= AFTER_DOUBT
    assert len(_keys(history)) >= 6  # and the windows move on afterwards


def test_values_are_unique_and_cas_can_be_turned_off():
    options = WorkloadOptions(seed=1, concurrency=3, nodes=["n1"], params={"cas": False})
    history = simulate(clients(limit(300, RegisterWorkload().generator(options))), concurrency=3, nemesis=False)
    invokes = [op for op in history if op.type == "invoke"]
    assert {op.f for op in invokes} == {"read", "write"}
    written = [op.value[1] for op in invokes if op.f == "write"]
    assert len(written) == len(set(written))
