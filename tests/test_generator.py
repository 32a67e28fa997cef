"""The generator library on a logical clock: each combinator's semantics, seeds, routing, phases."""

from __future__ import annotations

import pytest

from harness.generator import (
    EXHAUSTED,
    PENDING,
    Context,
    Generator,
    SimulationError,
    any_of,
    clients,
    cycle,
    delay,
    each_thread,
    flip_flop,
    fn,
    lift,
    limit,
    mix,
    nemesis,
    on_threads,
    once,
    phases,
    repeat,
    sequence,
    simulate,
    sleep,
    stagger,
    then,
    time_limit,
    until_ok,
)
from harness.history import Op, pair_calls

MS = 1_000_000
S = 1_000_000_000


def invokes(history: list[Op]) -> list[Op]:
    return [op for op in history if op.type == "invoke"]


def fs(history: list[Op]) -> list:
    return [op.f for op in invokes(history)]


def as_dicts(history: list[Op]) -> list[dict]:
    return [op.to_dict() for op in history]


def drain(gen: Generator, ctx: Context, n: int = 1000) -> list[Op]:
    """Ops a generator gives when every op is taken at once and no thread ever gets busy."""
    ops = []
    for _ in range(n):
        answer = gen.op(ctx)
        if answer is None:
            return ops
        op, gen = answer
        assert op is not PENDING
        ops.append(op)
        ctx = ctx.with_time(op.time)
    raise AssertionError("generator did not run out")


# -- Context -------------------------------------------------------------------------------


def test_context_tracks_busy_free_and_retired_threads_without_mutating():
    ctx = Context.initial(3)
    assert ctx.free == frozenset({0, 1, 2, "nemesis"}) and ctx.all_free
    busy = ctx.busy(0).busy("nemesis")
    assert busy.free == frozenset({1, 2}) and not busy.all_free
    assert ctx.free == frozenset({0, 1, 2, "nemesis"})  # the original is untouched
    assert busy.busy(2).some_free_thread() == 1
    assert busy.busy(1).some_free_thread() == 2
    retired = busy.free_thread(0).retire(0, 3)
    assert retired.process_of(0) == 3 and retired.thread_of(3) == 0 and retired.thread_of(0) is None
    assert retired.retire(0, 3).process_of(0) == 6
    assert retired.retire("nemesis", 3).process_of("nemesis") == "nemesis"
    with pytest.raises(AttributeError):
        ctx.time = 5  # type: ignore[misc]


def test_context_restrict_and_thread_choice():
    ctx = Context.initial(2)
    only_nemesis = ctx.restrict(frozenset({"nemesis"}))
    assert only_nemesis.free == frozenset({"nemesis"}) and only_nemesis.some_free_thread() == "nemesis"
    assert ctx.busy(0).busy(1).some_free_thread() == "nemesis"
    assert ctx.busy(0).busy(1).busy("nemesis").some_free_thread() is None
    assert Context.initial(2, nemesis=False).threads == frozenset({0, 1})


def test_free_threads_share_the_ops_and_the_choice_is_reproducible():
    ctx = Context.initial(5)
    picks = [ctx.with_time(t * 1_000_000).some_free_thread() for t in range(1000)]
    counts = {thread: picks.count(thread) for thread in range(5)}
    assert all(count > 100 for count in counts.values()), counts  # never the nemesis, all clients
    assert picks == [ctx.with_time(t * 1_000_000).some_free_thread() for t in range(1000)]
    assert Context(5, {1}, {0: 0, 1: 1}) == Context(5, [1], {0: 0, 1: 1}, threads={0, 1})


# -- lifting and leaves --------------------------------------------------------------------


def test_a_dict_is_one_op_on_a_free_thread():
    ctx = Context.initial(3, time=7).busy(0).busy(2)
    op, after = lift({"f": "read", "value": None, "key": "k"}).op(ctx)
    assert (op.type, op.f, op.process, op.time, op.extra) == ("invoke", "read", 1, 7, {"key": "k"})
    assert after.op(ctx) is None


def test_no_free_thread_is_pending():
    ctx = Context.initial(1, nemesis=False).busy(0)
    gen = lift({"f": "read"})
    assert gen.op(ctx) == (PENDING, gen)


def test_lift_rejects_what_is_not_a_generator():
    assert lift(None).op(Context.initial(1)) is None
    with pytest.raises(TypeError, match="cannot make a generator"):
        lift(42)
    with pytest.raises(ValueError, match="needs an 'f'"):
        lift({"value": 1})
    with pytest.raises(ValueError, match="emits invocations"):
        lift({"f": "read", "type": "ok"})


def test_a_function_is_called_for_each_op_with_a_carried_rng():
    def write(ctx, rng):
        return {"f": "write", "value": rng.randrange(1000)}

    ctx = Context.initial(2)
    gen = limit(20, fn(write, seed=5))
    first = gen.op(ctx)[0]
    assert gen.op(ctx)[0].to_dict() == first.to_dict()  # asking twice gives the same op
    values = [op.value for op in drain(gen, ctx)]
    assert len(values) == 20 and len(set(values)) > 10
    assert values == [op.value for op in drain(limit(20, fn(write, seed=5)), ctx)]
    assert values != [op.value for op in drain(limit(20, fn(write, seed=6)), ctx)]


def test_a_function_returning_none_ends_the_generator():
    def three(ctx, rng):
        return {"f": "inc"} if ctx.time < 3 else None

    ops = drain(delay(1e-9, three), Context.initial(1))
    assert [op.time for op in ops] == [0, 1, 2, 3]  # the op asked for at time 2 is delayed to 3


# -- sequencing, repetition ----------------------------------------------------------------


def test_sequence_then_and_lists_run_in_order():
    ctx = Context.initial(1)
    assert [op.f for op in drain(sequence({"f": "a"}, [{"f": "b"}, None], {"f": "c"}), ctx)] == ["a", "b", "c"]
    assert [op.f for op in drain(then({"f": "a"}, {"f": "b"}), ctx)] == ["a", "b"]
    assert drain(sequence(), ctx) == []


def test_repeat_limit_and_once():
    ctx = Context.initial(1)
    assert [op.f for op in drain(repeat({"f": "r"}, 3), ctx)] == ["r"] * 3
    assert len(drain(limit(5, repeat({"f": "r"})), ctx)) == 5
    assert [op.f for op in drain(once(repeat({"f": "r"})), ctx)] == ["r"]
    assert drain(limit(0, repeat({"f": "r"})), ctx) == []


def test_cycle_restarts_a_finite_generator():
    ctx = Context.initial(1)
    assert [op.f for op in drain(cycle([{"f": "a"}, {"f": "b"}], times=3), ctx)] == ["a", "b"] * 3
    assert [op.f for op in drain(limit(5, cycle([{"f": "a"}, {"f": "b"}])), ctx)] == ["a", "b", "a", "b", "a"]
    assert drain(cycle([], times=None), ctx) == []  # an empty cycle ends instead of spinning


def test_flip_flop_alternates():
    ctx = Context.initial(1)
    ops = drain(limit(5, flip_flop(repeat({"f": "start"}), repeat({"f": "stop"}))), ctx)
    assert [op.f for op in ops] == ["start", "stop", "start", "stop", "start"]
    assert [op.f for op in drain(flip_flop(repeat({"f": "a"}), [{"f": "b"}]), ctx)] == ["a", "b", "a"]


# -- mix and seeds -------------------------------------------------------------------------


def test_mix_is_seeded_and_uses_every_generator():
    ctx = Context.initial(1)

    def fs_of(seed):
        return [op.f for op in drain(limit(200, mix([repeat({"f": "r"}), repeat({"f": "w"}), repeat({"f": "c"})], seed)), ctx)]

    a = fs_of(1)
    assert a == fs_of(1)
    assert a != fs_of(2)
    assert {f: a.count(f) for f in "rwc"} == {f: a.count(f) for f in "rwc"} and min(a.count(f) for f in "rwc") > 40


def test_mix_drops_exhausted_generators():
    ctx = Context.initial(1)
    ops = drain(mix([repeat({"f": "r"}, 2), repeat({"f": "w"}, 3)], seed=9), ctx)
    assert sorted(op.f for op in ops) == ["r", "r", "w", "w", "w"]


def test_same_seed_same_schedule_different_seed_different():
    def gen(seed):
        return time_limit(1, stagger(0.01, mix([repeat({"f": "read"}), fn(lambda c, r: {"f": "write", "value": r.randrange(9)}, seed)], seed), seed))

    a = simulate(gen(1), 5, seed=1, p_info=0.1)
    assert as_dicts(a) == as_dicts(simulate(gen(1), 5, seed=1, p_info=0.1))
    assert as_dicts(a) != as_dicts(simulate(gen(2), 5, seed=2, p_info=0.1))
    assert as_dicts(a) != as_dicts(simulate(gen(1), 5, seed=2, p_info=0.1))  # the fake client's seed counts too


# -- time ----------------------------------------------------------------------------------


def test_delay_spaces_ops_exactly():
    ops = drain(limit(4, delay(0.5, repeat({"f": "r"}))), Context.initial(1, time=100))
    assert [op.time for op in ops] == [100, 100 + S // 2, 100 + S, 100 + 3 * S // 2]


def test_stagger_spaces_ops_randomly_around_the_mean():
    ctx = Context.initial(1)
    gen = limit(500, stagger(0.01, repeat({"f": "r"}), seed=3))
    assert gen.op(ctx)[0].time == gen.op(ctx)[0].time == 0
    times = [op.time for op in drain(gen, ctx)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0 <= g < 20 * MS for g in gaps)
    assert 8 * MS < sum(gaps) / len(gaps) < 12 * MS
    assert len(set(gaps)) > 100
    assert times != [op.time for op in drain(limit(500, stagger(0.01, repeat({"f": "r"}), seed=4)), ctx)]


def test_stagger_rate_is_over_all_threads():
    history = simulate(time_limit(1, stagger(0.01, repeat({"f": "r"}), seed=1)), 10, latency_ns=MS)
    assert 70 <= len(invokes(history)) <= 130  # about 100 ops in one second, not 100 per thread


def test_time_limit_counts_from_when_first_asked():
    # a nemesis schedule that starts with a sleep still stops at the limit
    gen = time_limit(1, nemesis(cycle([sleep(0.6), {"f": "start"}, sleep(0.6), {"f": "stop"}])))
    history = simulate(any_of(clients(limit(3, repeat({"f": "r"}))), gen), 1, tick_ns=MS)
    assert [op.f for op in invokes(history) if op.process == "nemesis"] == ["start"]


def test_time_limit_from_the_first_op_when_asked_then():
    gen = sequence(delay(5, [{"f": "wait"}, {"f": "a"}]), time_limit(1, delay(0.3, repeat({"f": "r"}))))
    times = [op.time for op in invokes(simulate(gen, 1, latency_ns=MS, tick_ns=MS)) if op.f == "r"]
    assert times == [5 * S, int(5.3 * S), int(5.6 * S), int(5.9 * S)]


def test_time_limit_waits_out_its_time_for_a_sleeper_alongside():
    # the clients' next op would be too late, but the nemesis wakes before the cut-off
    gen = time_limit(1, any_of(clients(delay(0.6, repeat({"f": "r"}))), nemesis([sleep(0.9), {"f": "start"}])))
    history = simulate(gen, 1, latency_ns=MS, tick_ns=MS)
    assert [op.f for op in invokes(history)] == ["r", "r", "start"]


def test_time_limit_ends_a_waiting_generator():
    ctx = Context.initial(1, nemesis=False)
    gen = time_limit(1, repeat({"f": "r"}))
    op, gen = gen.op(ctx)
    busy = ctx.busy(0)
    assert gen.op(busy.with_time(S - 1))[0] is PENDING
    assert gen.op(busy.with_time(S)) is None


def test_time_limit_on_the_logical_clock():
    history = simulate(time_limit(2, repeat({"f": "r"})), 3, latency_ns=10 * MS)
    times = [op.time for op in invokes(history)]
    assert times[0] == 0 and max(times) < 2 * S
    assert max(times) > 1.9 * S
    assert history[-1].type == "ok"  # ops in flight at the cut-off still complete


def test_sleep_emits_nothing_then_ends():
    ctx = Context.initial(1)
    gen = sleep(2)
    pending, gen = gen.op(ctx)
    assert pending is PENDING
    assert gen.op(ctx.with_time(2 * S - 1))[0] is PENDING
    assert gen.op(ctx.with_time(2 * S)) is None


def test_sleep_in_a_sequence_counts_from_the_op_before():
    history = simulate([{"f": "a"}, sleep(1), {"f": "b"}, sleep(0.5), {"f": "c"}], 1, latency_ns=10 * MS, tick_ns=MS)
    times = {op.f: op.time for op in invokes(history)}
    assert S <= times["b"] <= S + MS
    assert times["b"] + S // 2 <= times["c"] <= times["b"] + S // 2 + MS


def test_sleep_after_a_phase_counts_from_when_all_ops_completed():
    history = simulate(phases({"f": "a"}, sleep(1), {"f": "b"}), 1, latency_ns=400 * MS, tick_ns=MS)
    a_done = next(op.time for op in history if op.f == "a" and op.type == "ok")
    b = next(op.time for op in invokes(history) if op.f == "b")
    assert a_done + S <= b <= a_done + S + MS


def test_sleep_inside_wrappers_still_counts_from_the_op_before():
    gen = nemesis(cycle([{"f": "start"}, sleep(1), {"f": "stop"}, sleep(1)], times=2))
    history = simulate(gen, 1, latency_ns=10 * MS, tick_ns=MS)
    times = [op.time for op in invokes(history)]
    assert [op.f for op in invokes(history)] == ["start", "stop"] * 2
    assert all(S <= b - a <= S + MS for a, b in zip(times, times[1:]))


# -- phases --------------------------------------------------------------------------------


def test_phases_wait_for_every_op_to_complete():
    history = simulate(phases(limit(7, repeat({"f": "a"})), limit(3, repeat({"f": "b"}))), 4, latency_ns=50 * MS)
    last_a = max(op.time for op in history if op.f == "a")  # its last completion
    first_b = min(op.time for op in invokes(history) if op.f == "b")
    assert first_b >= last_a
    assert fs(history) == ["a"] * 7 + ["b"] * 3


def test_sequence_without_phases_does_not_wait():
    history = simulate(sequence(limit(2, repeat({"f": "a"})), limit(2, repeat({"f": "b"}))), 4, latency_ns=50 * MS)
    assert {op.time for op in invokes(history)} == {0}


# -- routing -------------------------------------------------------------------------------


def test_clients_and_nemesis_route_to_their_threads():
    gen = time_limit(
        1,
        any_of(
            clients(stagger(0.01, repeat({"f": "read"}), seed=2)),
            nemesis(cycle([sleep(0.2), {"f": "start"}, sleep(0.2), {"f": "stop"}])),
        ),
    )
    history = simulate(gen, 3, latency_ns=5 * MS)
    nemesis_ops = [op for op in invokes(history) if op.process == "nemesis"]
    assert [op.f for op in nemesis_ops] == ["start", "stop", "start", "stop"]
    assert all(op.f in ("start", "stop") for op in nemesis_ops)
    assert all(isinstance(op.process, int) for op in invokes(history) if op.f == "read")
    # both ran side by side: reads happened while the fault was on
    start, stop = nemesis_ops[0].time, nemesis_ops[1].time
    assert any(start < op.time < stop for op in invokes(history) if op.f == "read")
    # the sleeps count from the previous nemesis op, to within a tick
    assert 0.2 * S <= start <= 0.2 * S + MS and 0.2 * S <= stop - start <= 0.2 * S + MS


def test_nemesis_without_a_nemesis_thread_is_exhausted():
    history = simulate(any_of(clients(repeat({"f": "r"}, 3)), nemesis({"f": "start"})), 2, nemesis=False)
    assert fs(history) == ["r"] * 3


def test_on_threads_restricts_to_matching_threads():
    history = simulate(on_threads(lambda t: t in (1, 2), limit(30, repeat({"f": "r"}))), 4)
    assert {op.process for op in invokes(history)} == {1, 2}


def test_each_thread_gives_every_client_thread_its_own_copy():
    history = simulate(clients(each_thread([{"f": "read"}, {"f": "write"}])), 3, latency_ns=MS)
    by_process: dict = {}
    for op in invokes(history):
        by_process.setdefault(op.process, []).append(op.f)
    assert by_process == {0: ["read", "write"], 1: ["read", "write"], 2: ["read", "write"]}


def test_any_of_is_exhausted_when_all_are():
    ctx = Context.initial(2)
    ops = drain(any_of(repeat({"f": "a"}, 2), [{"f": "b"}]), ctx)
    assert sorted(op.f for op in ops) == ["a", "a", "b"]
    assert any_of().op(ctx) is None


def test_any_of_takes_the_earliest_op():
    ctx = Context.initial(1)
    op, _ = any_of(delay(1, [{"f": "late"}]).op(ctx)[1], {"f": "now"}).op(ctx)
    assert op.f == "now"


def test_any_of_ties_go_round_so_no_generator_starves():
    # Two fault packages that wait 0.1 s between ops, on a nemesis whose ops take ~1 s: both are
    # ready again whenever it is free, so every choice is a tie; the second package gets turns.
    def package(f: str) -> Generator:
        return cycle([sleep(0.1), {"f": f}])

    gen = time_limit(20, nemesis(any_of(package("a"), package("b"))))
    ops = [op.f for op in invokes(simulate(gen, 1, latency_ns=S, tick_ns=MS))]
    assert ops.count("a") >= 5 and ops.count("b") >= 5, ops


# -- outcomes: retirement, until_ok ----------------------------------------------------------


def test_info_retires_the_process_and_a_fresh_one_takes_its_place():
    def outcome(invoke, rng):
        return "info" if invoke.value == 1 else "ok"

    gen = clients(fn(lambda ctx, rng: {"f": "w", "value": ctx.time // MS}))
    history = simulate(delay(0.001, limit(6, gen)), 2, latency_ns=MS // 2, outcome=outcome)
    info = next(op for op in history if op.type == "info")
    assert info.process == 0 and info.value == 1
    later = [op.process for op in invokes(history) if op.time > info.time]
    assert later and 0 not in later and 2 in later  # thread 0 now runs process 0 + concurrency
    assert all(call.completion is not None for call in pair_calls(history))


def test_until_ok_retries_until_an_op_succeeds():
    outcomes = iter(["fail", "fail", "info", "ok", "ok"])
    history = simulate(until_ok(repeat({"f": "read"})), 1, nemesis=False, outcome=lambda op, rng: next(outcomes))
    assert [op.type for op in history if op.type != "invoke"] == ["fail", "fail", "info", "ok"]
    assert [op.process for op in invokes(history)] == [0, 0, 0, 1]


# -- a whole test's schedule ---------------------------------------------------------------


def test_final_phase_after_a_time_limited_main_phase():
    seed = 11
    main = time_limit(
        3,
        any_of(
            clients(stagger(0.01, mix([repeat({"f": "add"}), repeat({"f": "read"})], seed), seed)),
            nemesis(cycle([sleep(0.5), {"f": "start-partition"}, sleep(0.5), {"f": "stop-partition"}])),
        ),
    )
    gen = phases(main, nemesis({"f": "heal"}), sleep(1), clients(each_thread({"f": "read", "final": True})))
    history = simulate(gen, 4, latency_ns=20 * MS, seed=seed, p_info=0.05)
    heal = next(op for op in invokes(history) if op.f == "heal")
    main_ops = [op for op in history if op.time <= heal.time and op is not heal]
    assert all(op.time < 3 * S for op in invokes(history) if op.f in ("add", "read") and not op.extra)
    assert all(call.completion is not None and call.completion.time <= heal.time for call in pair_calls(main_ops))
    finals = [op for op in invokes(history) if op.extra.get("final")]
    heal_done = next(op for op in history if op.f == "heal" and op.type != "invoke")
    assert len(finals) == 4 and all(op.time >= heal_done.time + S for op in finals)
    assert len({op.process for op in finals}) == 4
    assert history == sorted(history, key=lambda op: op.time)


def test_simulate_reports_a_generator_that_never_finishes():
    class Stuck(Generator):
        def op(self, ctx):
            return PENDING, self

    with pytest.raises(SimulationError, match="pending forever"):
        simulate(Stuck(), 1, max_time_ns=S)


def test_exhausted_is_exhausted():
    assert EXHAUSTED.op(Context.initial(1)) is None


_SCHEDULE_SCRIPT = """
import json
from harness.generator import *
seed = 4
gen = phases(
    time_limit(0.5, any_of(
        clients(stagger(0.005, mix([repeat({"f": "r"}), fn(lambda c, r: {"f": "w", "value": r.randrange(99)}, seed)], seed), seed)),
        nemesis(cycle([sleep(0.1), {"f": "start"}, sleep(0.1), {"f": "stop"}])),
    )),
    clients(each_thread({"f": "r"})),
)
print(json.dumps([op.to_dict() for op in simulate(gen, 5, seed=seed, p_info=0.1, p_fail=0.1)]))
"""


def test_schedule_does_not_depend_on_the_hash_seed():
    import os
    import subprocess
    import sys

    outputs = []
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", _SCHEDULE_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) > 1000


def test_rng_draws_are_reproducible_and_in_range():
    from harness.generator import Rng, derive_seed

    a, b = Rng(derive_seed(1, "x")), Rng(derive_seed(1, "x"))
    draws = [a.randint(3, 5) for _ in range(200)]
    assert draws == [b.randint(3, 5) for _ in range(200)] and set(draws) == {3, 4, 5}
    assert derive_seed(1, "x") != derive_seed(1, "y") != derive_seed(2, "x")
    assert all(0 <= a.random() < 1 for _ in range(100))
    assert sorted(a.sample(range(10), 10)) == list(range(10))
    assert a.choice("abc") in "abc"
