"""Run a generator on a logical clock against a fake client: the schedule, without a cluster.

The interpreter loop is the one the real-time runner follows (see `harness.generator.core`),
with waiting replaced by jumping the clock. Latencies and outcomes come from the seed, so the
same generator, settings and seed always give the same history.
"""

from __future__ import annotations

import heapq
from typing import Any, Callable

from harness.generator.core import PENDING, Context, Generator
from harness.generator.combinators import lift
from harness.generator.rng import Rng, initial_state
from harness.history import FAIL, INFO, NEMESIS, OK, Op

Outcome = Callable[[Op, Rng], str]


class SimulationError(RuntimeError):
    """The schedule did not finish within the simulation's bounds."""


def simulate(
    gen: Any,
    concurrency: int,
    latency_ns: int = 1_000_000,
    nemesis: bool = True,
    max_ops: int = 100_000,
    seed: int | str = 0,
    p_fail: float = 0.0,
    p_info: float = 0.0,
    outcome: Outcome | None = None,
    tick_ns: int = 1_000_000,
    max_time_ns: int = 3_600 * 1_000_000_000,
) -> list[Op]:
    """The history `gen` produces with `concurrency` client threads (plus the nemesis thread
    if `nemesis`), every op taking a latency drawn from [latency_ns/2, 3*latency_ns/2).

    A client op completes ok, or fail with probability `p_fail`, or info with probability
    `p_info`; `outcome(invocation, rng) -> "ok"|"fail"|"info"` overrides that. Nemesis ops
    complete info, as Jepsen's do. At most `max_ops` invocations are dispatched; ops in flight
    then complete. Waits for a pending generator or an op's start time last at most `tick_ns`
    before the generator is asked again (as the real runner polls: a `sleep` has no other way
    to wake it); past `max_time_ns` a SimulationError is raised.
    """
    gen = lift(gen)
    rng = Rng(initial_state(seed))
    ctx = Context.initial(concurrency, nemesis=nemesis)
    history: list[Op] = []
    in_flight: list[tuple[int, int, Any, Op]] = []  # (completion time, order, thread, invocation)
    dispatched = 0

    def complete_next(ctx: Context, gen: Generator) -> tuple[Context, Generator]:
        done_at, _, thread, invoke = heapq.heappop(in_flight)
        completion = invoke.complete(_outcome(invoke, rng, p_fail, p_info, outcome))
        completion.time = max(done_at, ctx.time)
        completion.index = len(history)
        history.append(completion)
        ctx = ctx.with_time(completion.time).free_thread(thread)
        gen = gen.update(ctx, completion)
        if completion.type == INFO:
            ctx = ctx.retire(thread, concurrency)
        return ctx, gen

    while dispatched < max_ops:
        while in_flight and in_flight[0][0] <= ctx.time:
            ctx, gen = complete_next(ctx, gen)
        if ctx.time > max_time_ns:
            raise SimulationError(
                f"the schedule was still running at {max_time_ns / 1e9:g} s of logical time "
                f"after {dispatched} ops: a generator pending forever, or raise max_time_ns"
            )
        answer = gen.op(ctx)
        if answer is None:
            break
        op, after = answer
        if op is PENDING:
            gen = after
            if in_flight and in_flight[0][0] <= ctx.time + tick_ns:
                ctx, gen = complete_next(ctx, gen)
            else:
                ctx = ctx.with_time(ctx.time + tick_ns)
            continue
        if op.time > ctx.time:
            # Not yet: wait for its time, an earlier completion or a tick (a sleeping generator
            # alongside may wake first), then ask again afresh.
            wake = min(op.time, ctx.time + tick_ns)
            if in_flight and in_flight[0][0] <= wake:
                ctx, gen = complete_next(ctx, gen)
            else:
                ctx = ctx.with_time(wake)
            continue
        gen = after
        op.time = ctx.time
        op.index = len(history)
        history.append(op)
        thread = ctx.thread_of(op.process)
        if thread is None or thread not in ctx.free:
            raise SimulationError(f"generator emitted {op} for process {op.process!r}, which has no free thread")
        ctx = ctx.busy(thread)
        gen = gen.update(ctx, op)
        dispatched += 1
        latency = latency_ns // 2 + (rng.bits() >> 11) * latency_ns // (1 << 53)
        heapq.heappush(in_flight, (ctx.time + latency, dispatched, thread, op))

    while in_flight:
        ctx, gen = complete_next(ctx, gen)
    return history


def _outcome(invoke: Op, rng: Rng, p_fail: float, p_info: float, outcome: Outcome | None) -> str:
    if invoke.process == NEMESIS:
        return INFO
    if outcome is not None:
        return outcome(invoke, rng)
    if p_info <= 0 and p_fail <= 0:
        return OK
    draw = rng.random()
    if draw < p_info:
        return INFO
    if draw < p_info + p_fail:
        return FAIL
    return OK
