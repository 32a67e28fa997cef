"""Building blocks for schedules; each returns an immutable generator (see `core` for the protocol).

Times are nanoseconds in contexts and ops; combinators take seconds, like Jepsen's.
Every op a generator returns is a fresh `Op` that the caller may modify (wrappers set its time).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from harness.generator.core import PENDING, Context, Generator, Thread, invocation
from harness.generator.rng import Rng, initial_state, next_random, unit
from harness.history import NEMESIS, Op

_NEMESIS_ONLY = frozenset((NEMESIS,))


def _ns(seconds: float) -> int:
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds} s")
    return int(round(seconds * 1_000_000_000))


# -- leaves ------------------------------------------------------------------------------------


class _Exhausted(Generator):
    __slots__ = ()

    def op(self, ctx: Context) -> None:
        return None

    def __repr__(self) -> str:
        return "EXHAUSTED"


EXHAUSTED = _Exhausted()
"""The generator that never emits (what `lift(None)` gives)."""


def _split_template(template: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any] | None]:
    size = len(template)
    if "f" in template and (size == 1 or (size == 2 and "value" in template)):
        return template["f"], template.get("value"), None  # the common case, made per op
    if "f" not in template:
        raise ValueError(f"an op needs an 'f' (the function to invoke): {dict(template)!r}")
    kind = template.get("type", "invoke")
    if kind != "invoke":
        raise ValueError(f"a generator emits invocations; drop 'type': {kind!r} from {dict(template)!r}")
    extra = {k: v for k, v in template.items() if k not in ("f", "value", "type", "process", "time")}
    return template["f"], template.get("value"), extra


class OpTemplate(Generator):
    """An op given as a dict: emitted once, on a free thread (`Context.some_free_thread`), at the context's time."""

    __slots__ = ("f", "value", "extra")

    def __init__(self, template: Mapping[str, Any]):
        self.f, self.value, self.extra = _split_template(template)

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        return invocation(self.f, self.value, ctx.workers[thread], ctx.time, self.extra), EXHAUSTED

    def __repr__(self) -> str:
        return f"OpTemplate(f={self.f!r}, value={self.value!r})"


class FnGen(Generator):
    """Calls `f(ctx, rng)` for every op until it returns None; the rng state is carried along."""

    __slots__ = ("f", "state")

    def __init__(self, f: Callable[[Context, Rng], Any], state: int = 0):
        self.f = f
        self.state = state

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        rng = Rng(self.state)
        made = self.f(ctx, rng)
        if made is None:
            return None
        if isinstance(made, Op):
            made = made.to_dict()
        f, value, extra = _split_template(made)
        return invocation(f, value, ctx.workers[thread], ctx.time, extra), FnGen(self.f, rng.state)

    def __repr__(self) -> str:
        return f"FnGen({getattr(self.f, '__name__', self.f)!r})"


def fn(f: Callable[[Context, Rng], Any], seed: int | str = 0) -> Generator:
    """An op function with its own seed: `f(ctx, rng)` returns an op dict, or None to stop."""
    return FnGen(f, initial_state(seed))


def lift(x: Any) -> Generator:
    """Make a generator of x: a Generator is itself, None is exhausted, a dict is one op, a
    callable f(ctx, rng) is called for each op (seed 0; use `fn` for another), a list or tuple
    is a sequence."""
    if isinstance(x, Generator):
        return x
    if x is None:
        return EXHAUSTED
    if isinstance(x, Mapping):
        return OpTemplate(x)
    if isinstance(x, (list, tuple)):
        return sequence(*x)
    if callable(x):
        return FnGen(x)
    raise TypeError(
        f"cannot make a generator of {type(x).__name__} {x!r}: give a Generator, an op dict like "
        "{'f': 'read'}, a function f(ctx, rng) -> dict, a list of those, or None"
    )


class Sleep(Generator):
    """Emits nothing for `seconds` from when it is first asked, then is exhausted."""

    __slots__ = ("duration", "until")

    def __init__(self, duration: int, until: int | None = None):
        self.duration = duration
        self.until = until

    def op(self, ctx: Context):
        until = ctx.time + self.duration if self.until is None else self.until
        if ctx.time >= until:
            return None
        return PENDING, (self if until == self.until else Sleep(self.duration, until))

    def anchor(self, time: int) -> Generator:
        return self if self.until is not None else Sleep(self.duration, time + self.duration)

    def __repr__(self) -> str:
        return f"Sleep({self.duration} ns, until={self.until})"


def sleep(seconds: float) -> Generator:
    """Emits nothing for `seconds`, then is exhausted; in a sequence the seconds count from the
    start of the op before it, otherwise from when it is first asked."""
    return Sleep(_ns(seconds))


# -- sequencing --------------------------------------------------------------------------------


class Seq(Generator):
    """Runs `current` to exhaustion, then each of `rest[index:]` in turn; updates go to the
    current one."""

    __slots__ = ("current", "rest", "index")

    def __init__(self, current: Generator, rest: tuple[Generator, ...], index: int):
        self.current = current
        self.rest = rest
        self.index = index

    def op(self, ctx: Context):
        current, index, rest = self.current, self.index, self.rest
        while True:
            answer = current.op(ctx)
            if answer is not None:
                op, after = answer
                if after is EXHAUSTED and op is not PENDING:
                    # Move on now, so a sleep that follows counts from this op.
                    if index >= len(rest):
                        return op, EXHAUSTED
                    return op, Seq(rest[index].anchor(op.time), rest, index + 1)
                if after is current and index == self.index:
                    return op, self
                return op, Seq(after, rest, index)
            if index >= len(rest):
                return None
            current = rest[index]
            index += 1

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.current.update(ctx, event)
        return self if after is self.current else Seq(after, self.rest, self.index)

    def anchor(self, time: int) -> Generator:
        current = self.current.anchor(time)
        return self if current is self.current else Seq(current, self.rest, self.index)

    def __repr__(self) -> str:
        return f"Seq({self.current!r}, then {list(self.rest[self.index:])!r})"


def sequence(*gens: Any) -> Generator:
    """Each generator in turn: the next starts when the one before is exhausted (its ops may
    still be in flight; use `phases` to wait for them)."""
    lifted = tuple(lift(g) for g in gens)
    if not lifted:
        return EXHAUSTED
    return Seq(lifted[0], lifted, 1)


def then(a: Any, b: Any) -> Generator:
    """`a` to exhaustion, then `b`."""
    return sequence(a, b)


class Synchronize(Generator):
    """Pending until every thread it covers is idle, then behaves as `gen` (Jepsen's
    synchronize)."""

    __slots__ = ("gen",)

    def __init__(self, gen: Generator):
        self.gen = gen

    def op(self, ctx: Context):
        if len(ctx.free) != len(ctx.threads):
            return PENDING, self
        return self.gen.op(ctx)

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.gen.update(ctx, event)
        return self if after is self.gen else Synchronize(after)

    # No `anchor`: what follows a synchronisation counts its time from when everything is idle.

    def __repr__(self) -> str:
        return f"Synchronize({self.gen!r})"


def synchronize(gen: Any) -> Generator:
    """Waits until every thread it covers is idle, then runs `gen`."""
    return Synchronize(lift(gen))


def phases(*gens: Any) -> Generator:
    """Each generator runs to exhaustion and all ops in flight complete before the next
    begins."""
    return sequence(*(Synchronize(lift(g)) for g in gens))


class Repeat(Generator):
    """Emits `gen`'s first op again and again (`remaining` times, or forever if None)."""

    __slots__ = ("gen", "remaining")

    def __init__(self, gen: Generator, remaining: int | None):
        self.gen = gen
        self.remaining = remaining

    def op(self, ctx: Context):
        if self.remaining == 0:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        op = answer[0]
        if op is PENDING:
            return PENDING, self
        if self.remaining is None:
            return op, self
        if self.remaining == 1:
            return op, EXHAUSTED
        return op, Repeat(self.gen, self.remaining - 1)

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.gen.update(ctx, event)
        return self if after is self.gen else Repeat(after, self.remaining)

    def __repr__(self) -> str:
        return f"Repeat({self.gen!r}, remaining={self.remaining})"


def repeat(gen: Any, n: int | None = None) -> Generator:
    """The first op of `gen`, emitted n times (forever if n is None): `repeat({"f": "read"})`.
    A function generator is called anew each time, with the same random draws."""
    if n is not None and n < 0:
        raise ValueError(f"repeat count must be 0 or more, got {n}")
    return Repeat(lift(gen), n)


class Cycle(Generator):
    """Runs `original` to exhaustion, then starts it over, `remaining` more times (or forever)."""

    __slots__ = ("original", "current", "remaining")

    def __init__(self, original: Generator, current: Generator, remaining: int | None):
        self.original = original
        self.current = current
        self.remaining = remaining

    def op(self, ctx: Context):
        current, remaining = self.current, self.remaining
        restarted = False
        while True:
            answer = current.op(ctx)
            if answer is not None:
                op, after = answer
                if after is EXHAUSTED and op is not PENDING:
                    # Start over now, so a leading sleep counts from this op.
                    if remaining == 1:
                        return op, EXHAUSTED
                    left = None if remaining is None else remaining - 1
                    return op, Cycle(self.original, self.original.anchor(op.time), left)
                return op, Cycle(self.original, after, remaining)
            # A generator exhausted right after a restart would loop forever: stop instead.
            if restarted or remaining == 1:
                return None
            current = self.original
            remaining = None if remaining is None else remaining - 1
            restarted = True

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.current.update(ctx, event)
        return self if after is self.current else Cycle(self.original, after, self.remaining)

    def anchor(self, time: int) -> Generator:
        current = self.current.anchor(time)
        return self if current is self.current else Cycle(self.original, current, self.remaining)

    def __repr__(self) -> str:
        return f"Cycle({self.original!r}, remaining={self.remaining})"


def cycle(gen: Any, times: int | None = None) -> Generator:
    """`gen` run to exhaustion, then restarted from the beginning; `times` runs in all (forever
    if None)."""
    if times is not None and times < 1:
        return EXHAUSTED
    g = lift(gen)
    return Cycle(g, g, times)


# -- choosing and limiting ---------------------------------------------------------------------


class Mix(Generator):
    """Each op comes from a randomly chosen generator; an exhausted one drops out."""

    __slots__ = ("gens", "chosen", "state")

    def __init__(self, gens: tuple[Generator, ...], chosen: int, state: int):
        self.gens = gens
        self.chosen = chosen
        self.state = state

    def op(self, ctx: Context):
        gens, chosen, state = self.gens, self.chosen, self.state
        while gens:
            answer = gens[chosen].op(ctx)
            if answer is None:
                gens = gens[:chosen] + gens[chosen + 1 :]
                if not gens:
                    return None
                z, state = next_random(state)
                chosen = z % len(gens)
                continue
            op, after = answer
            if op is PENDING:
                if gens is self.gens and after is gens[chosen]:
                    return PENDING, self
                return PENDING, Mix(gens[:chosen] + (after,) + gens[chosen + 1 :], chosen, state)
            if after is not gens[chosen]:
                gens = gens[:chosen] + (after,) + gens[chosen + 1 :]
            z, state = next_random(state)
            return op, Mix(gens, z % len(gens), state)
        return None

    # Like Jepsen's mix, the mixed generators see no updates: mix leaves of a workload, not
    # generators that wait on completions.

    def __repr__(self) -> str:
        return f"Mix({list(self.gens)!r})"


def mix(gens: Iterable[Any], seed: int | str = 0) -> Generator:
    """Each op from a generator chosen at random (uniformly, seeded) among those not exhausted."""
    lifted = tuple(lift(g) for g in gens)
    if not lifted:
        return EXHAUSTED
    z, state = next_random(initial_state(seed))
    return Mix(lifted, z % len(lifted), state)


class Limit(Generator):
    """At most `remaining` more ops from `gen`."""

    __slots__ = ("remaining", "gen")

    def __init__(self, remaining: int, gen: Generator):
        self.remaining = remaining
        self.gen = gen

    def op(self, ctx: Context):
        if self.remaining <= 0:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        op, after = answer
        if op is PENDING:
            return PENDING, (self if after is self.gen else Limit(self.remaining, after))
        if self.remaining == 1 or after is EXHAUSTED:
            return op, EXHAUSTED
        return op, Limit(self.remaining - 1, after)

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.gen.update(ctx, event)
        return self if after is self.gen else Limit(self.remaining, after)

    def __repr__(self) -> str:
        return f"Limit({self.remaining}, {self.gen!r})"


def limit(n: int, gen: Any) -> Generator:
    """At most n ops from `gen`."""
    return Limit(n, lift(gen))


def once(gen: Any) -> Generator:
    """Only the first op of `gen`."""
    return Limit(1, lift(gen))


class TimeLimit(Generator):
    """Ops from `gen` until `duration` ns after it was first asked; `cutoff` is set then."""

    __slots__ = ("duration", "cutoff", "gen")

    def __init__(self, duration: int, cutoff: int | None, gen: Generator):
        self.duration = duration
        self.cutoff = cutoff
        self.gen = gen

    def op(self, ctx: Context):
        cutoff = self.cutoff
        if cutoff is None:
            cutoff = ctx.time + self.duration
        elif ctx.time >= cutoff:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        op, after = answer
        if op is PENDING:
            if after is self.gen and cutoff == self.cutoff:
                return PENDING, self
            return PENDING, TimeLimit(self.duration, cutoff, after)
        if op.time >= cutoff:
            # Too late for this op, but a sleeping generator alongside may still wake before
            # the cut-off: wait for it rather than end early.
            return PENDING, (self if cutoff == self.cutoff else TimeLimit(self.duration, cutoff, self.gen))
        if after is EXHAUSTED:
            return answer
        return op, TimeLimit(self.duration, cutoff, after)

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.gen.update(ctx, event)
        return self if after is self.gen else TimeLimit(self.duration, self.cutoff, after)

    def anchor(self, time: int) -> Generator:
        if self.cutoff is not None:
            return self
        return TimeLimit(self.duration, time + self.duration, self.gen.anchor(time))

    def __repr__(self) -> str:
        return f"TimeLimit({self.duration} ns, cutoff={self.cutoff}, {self.gen!r})"


def time_limit(seconds: float, gen: Any) -> Generator:
    """Ops from `gen` that start within `seconds` of when it is first asked (in a sequence,
    of the op before it; in `phases`, of when the phase begins); exhausted after that, even if
    `gen` is waiting. Alongside others in `any_of`, that is from the start of the any_of."""
    return TimeLimit(_ns(seconds), None, lift(gen))


class Spaced(Generator):
    """Delays ops so that each starts at least a gap after the one before. The mean gap follows
    `phases`, (ns, mean gap ns) pairs cycled from time 0 (a mean of 0 is no gap at all); the gap
    is the mean exactly, or uniform in [0, 2*mean) when `state` (an rng state) is given."""

    __slots__ = ("phases", "period", "state", "next_time", "gen")

    def __init__(self, phases: tuple[tuple[int, int], ...], state: int | None, next_time: int | None, gen: Generator):
        self.phases = phases
        self.period = sum(length for length, _ in phases)
        self.state = state
        self.next_time = next_time
        self.gen = gen

    def mean_at(self, time: int) -> int:
        at = time % self.period
        for length, mean in self.phases:
            if at < length:
                return mean
            at -= length
        return self.phases[-1][1]

    def _with(self, state: int | None, next_time: int | None, gen: Generator) -> Spaced:
        return Spaced(self.phases, state, next_time, gen)

    def op(self, ctx: Context):
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        op, after = answer
        if op is PENDING:
            return PENDING, (self if after is self.gen else self._with(self.state, self.next_time, after))
        if self.next_time is not None and op.time < self.next_time:
            op.time = self.next_time
        if after is EXHAUSTED:
            return op, after
        mean, state = self.mean_at(op.time), self.state
        if state is None:
            gap = mean
        else:
            z, state = next_random(state)
            gap = int(unit(z) * 2 * mean)
        return op, self._with(state, op.time + gap, after)

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.gen.update(ctx, event)
        return self if after is self.gen else self._with(self.state, self.next_time, after)

    def __repr__(self) -> str:
        kind = "exact" if self.state is None else "random"
        return f"Spaced({len(self.phases)} phases, {kind}, next={self.next_time}, {self.gen!r})"


def stagger(seconds: float, gen: Any, seed: int | str = 0) -> Generator:
    """Ops spaced by a random interval in [0, 2*seconds), mean `seconds`, counted over all
    threads: 1/seconds ops per second (Jepsen's stagger)."""
    return Spaced(((1, _ns(seconds)),), initial_state(seed), None, lift(gen))


def delay(seconds: float, gen: Any) -> Generator:
    """Ops spaced by exactly `seconds` (the first at once)."""
    return Spaced(((1, _ns(seconds)),), None, None, lift(gen))


# -- threads and routing -----------------------------------------------------------------------


class OnThreads(Generator):
    """`gen` sees only the threads `select(ctx.threads)` returns, and only their events.

    `chosen` remembers select's answer per set of threads (shared by the generators that follow
    this one): the set rarely changes, and this runs for every op and every event.
    """

    __slots__ = ("select", "gen", "chosen")

    def __init__(self, select: Callable[[frozenset], frozenset], gen: Generator, chosen: dict | None = None):
        self.select = select
        self.gen = gen
        self.chosen = {} if chosen is None else chosen

    def _threads(self, ctx: Context) -> frozenset:
        threads = self.chosen.get(ctx.threads)
        if threads is None:
            threads = frozenset(self.select(ctx.threads)) & ctx.threads
            if len(self.chosen) > 64:
                self.chosen.clear()
            self.chosen[ctx.threads] = threads
        return threads

    def op(self, ctx: Context):
        threads = self._threads(ctx)
        if not threads:
            return None  # no thread to run on (e.g. nemesis(...) in a test without a nemesis)
        answer = self.gen.op(ctx.restrict(threads))
        if answer is None:
            return None
        op, after = answer
        if after is EXHAUSTED:
            return answer  # let an enclosing sequence move on at once (see `anchor`)
        return op, (self if after is self.gen else OnThreads(self.select, after, self.chosen))

    def update(self, ctx: Context, event: Op) -> Generator:
        threads = self._threads(ctx)
        if ctx.by_process.get(event.process) not in threads:
            return self
        after = self.gen.update(ctx.restrict(threads), event)
        return self if after is self.gen else OnThreads(self.select, after, self.chosen)

    def anchor(self, time: int) -> Generator:
        gen = self.gen.anchor(time)
        return self if gen is self.gen else OnThreads(self.select, gen, self.chosen)

    def __repr__(self) -> str:
        return f"OnThreads({getattr(self.select, '__name__', self.select)}, {self.gen!r})"


def _client_threads(threads: frozenset) -> frozenset:
    return threads - _NEMESIS_ONLY


def _nemesis_thread(threads: frozenset) -> frozenset:
    return threads & _NEMESIS_ONLY


def clients(gen: Any) -> Generator:
    """`gen` runs on the client threads only."""
    return OnThreads(_client_threads, lift(gen))


def nemesis(gen: Any) -> Generator:
    """`gen` runs on the nemesis thread only."""
    return OnThreads(_nemesis_thread, lift(gen))


def on_threads(pred: Callable[[Thread], bool], gen: Any) -> Generator:
    """`gen` runs on the threads for which `pred(thread)` is true."""

    def select(threads: frozenset) -> frozenset:
        return frozenset(t for t in threads if pred(t))

    select.__name__ = getattr(pred, "__name__", "pred")
    return OnThreads(select, lift(gen))


class EachThread(Generator):
    """Every client thread runs its own copy of `fresh`; `gens` holds the copies started so far."""

    __slots__ = ("fresh", "gens")

    def __init__(self, fresh: Generator, gens: Mapping[Thread, Generator]):
        self.fresh = fresh
        self.gens = gens

    def op(self, ctx: Context):
        best = None
        pending = False
        waiting: dict[Thread, Generator] = {}
        for thread in ctx.free:
            if thread.__class__ is not int:
                continue
            gen = self.gens.get(thread, self.fresh)
            answer = gen.op(ctx.restrict(frozenset((thread,))))
            if answer is None:
                continue
            op, after = answer
            if op is PENDING:
                pending = True
                if after is not gen:
                    waiting[thread] = after  # keep what it learnt (when a sleep began, say)
            elif best is None or op.time < best[0].time or (op.time == best[0].time and thread < best[2]):
                best = (op, after, thread)
        if best is None:
            busy = any(t.__class__ is int and t not in ctx.free for t in ctx.threads)
            if not busy and not pending:
                return None  # every copy is exhausted and none has an op in flight
            if not waiting:
                return PENDING, self
            return PENDING, EachThread(self.fresh, {**self.gens, **waiting})
        op, after, thread = best
        gens = {**self.gens, **waiting}
        gens[thread] = after
        return op, EachThread(self.fresh, gens)

    def update(self, ctx: Context, event: Op) -> Generator:
        thread = ctx.thread_of(event.process)
        if thread.__class__ is not int:
            return self
        gen = self.gens.get(thread, self.fresh)
        after = gen.update(ctx.restrict(frozenset((thread,))), event)
        if after is gen:
            return self
        gens = dict(self.gens)
        gens[thread] = after
        return EachThread(self.fresh, gens)

    def __repr__(self) -> str:
        return f"EachThread({self.fresh!r})"


def each_thread(gen: Any) -> Generator:
    """Every client thread runs its own copy of `gen` (Jepsen's each-thread): e.g. one final
    read per thread with `each_thread({"f": "read"})`."""
    return EachThread(lift(gen), {})


class AnyOf(Generator):
    """All of `gens` run side by side; each op comes from whichever offers the earliest. Ties go
    round: the generator after the last one that emitted is asked first. Otherwise, where ops
    take longer than the generators' waits (nemesis ops on a slow runtime: every package is
    ready again by the time the nemesis is free), the first generator would win every tie and
    the others would never run."""

    __slots__ = ("gens", "first")

    def __init__(self, gens: tuple[Generator, ...], first: int = 0):
        self.gens = gens
        self.first = first

    def op(self, ctx: Context):
        gens = self.gens
        best = None
        best_index = -1
        changed = None
        pending = False
        count = len(gens)
        for k in range(count):
            i = (self.first + k) % count
            gen = gens[i]
            answer = gen.op(ctx)
            if answer is None:
                continue
            op, after = answer
            if op is PENDING:
                pending = True
                if after is not gen:
                    # Keep what a waiting generator learnt (when a sleep began, say), even if
                    # another one emits now.
                    if changed is None:
                        changed = list(gens)
                    changed[i] = after
            elif best is None or op.time < best[0].time:
                best = answer
                best_index = i
        if best is None:
            if not pending:
                return None
            return PENDING, (self if changed is None else AnyOf(tuple(changed), self.first))
        if changed is None:
            changed = list(gens)
        changed[best_index] = best[1]
        return best[0], AnyOf(tuple(changed), (best_index + 1) % count)

    def update(self, ctx: Context, event: Op) -> Generator:
        changed = None
        for i, gen in enumerate(self.gens):
            after = gen.update(ctx, event)
            if after is not gen:
                if changed is None:
                    changed = list(self.gens)
                changed[i] = after
        return self if changed is None else AnyOf(tuple(changed), self.first)

    def __repr__(self) -> str:
        return f"AnyOf({list(self.gens)!r})"


def any_of(*gens: Any) -> Generator:
    """All of `gens` run concurrently, each op from whichever is ready first (Jepsen's any):
    `any_of(clients(workload), nemesis(faults))`. Exhausted when all of them are."""
    return AnyOf(tuple(lift(g) for g in gens))


class FlipFlop(Generator):
    """Alternates between two generators, starting with `gens[turn]`; stops when the one whose
    turn it is is exhausted."""

    __slots__ = ("gens", "turn")

    def __init__(self, gens: tuple[Generator, Generator], turn: int):
        self.gens = gens
        self.turn = turn

    def op(self, ctx: Context):
        gens, turn = self.gens, self.turn
        answer = gens[turn].op(ctx)
        if answer is None:
            return None
        op, after = answer
        replaced = (after, gens[1]) if turn == 0 else (gens[0], after)
        if op is PENDING:
            return PENDING, (self if after is gens[turn] else FlipFlop(replaced, turn))
        return op, FlipFlop(replaced, 1 - turn)

    def update(self, ctx: Context, event: Op) -> Generator:
        a, b = self.gens
        a2, b2 = a.update(ctx, event), b.update(ctx, event)
        return self if (a2 is a and b2 is b) else FlipFlop((a2, b2), self.turn)

    def __repr__(self) -> str:
        return f"FlipFlop({self.gens[0]!r}, {self.gens[1]!r})"


def flip_flop(a: Any, b: Any) -> Generator:
    """An op from `a`, then one from `b`, then `a` again...: start/stop pairs of a fault."""
    return FlipFlop((lift(a), lift(b)), 0)


class UntilOk(Generator):
    """Ops from `gen` until one of them completes ok; `emitted` holds the processes of its ops
    in flight (recorded when it emits, since updates also bring other generators' events)."""

    __slots__ = ("gen", "emitted", "done")

    def __init__(self, gen: Generator, emitted: frozenset, done: bool):
        self.gen = gen
        self.emitted = emitted
        self.done = done

    def op(self, ctx: Context):
        if self.done:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        op, after = answer
        if op is PENDING:
            return PENDING, (self if after is self.gen else UntilOk(after, self.emitted, False))
        return op, UntilOk(after, self.emitted | {op.process}, False)

    def update(self, ctx: Context, event: Op) -> Generator:
        after = self.gen.update(ctx, event)
        emitted, done = self.emitted, self.done
        if event.type != "invoke" and event.process in emitted:
            emitted = emitted - {event.process}
            done = done or event.type == "ok"
        if after is self.gen and emitted is self.emitted:
            return self
        return UntilOk(after, emitted, done)

    def __repr__(self) -> str:
        return f"UntilOk({self.gen!r}, done={self.done})"


def until_ok(gen: Any) -> Generator:
    """Ops from `gen` until one completes ok (e.g. retry a final read): repeat inside it."""
    return UntilOk(lift(gen), frozenset(), False)


def paced(phases: Iterable[tuple[float, float]], gen: Any, seed: int | str = 0) -> Generator:
    """Ops at a rate that changes over time: `phases` are (seconds, ops/s) pairs, repeated from
    the start when they run out; 0 ops/s means as fast as the clients go."""
    phases = list(phases)
    if not phases or any(seconds <= 0 or rate < 0 for seconds, rate in phases):
        raise ValueError(f"paced needs phases of positive length and a rate of 0 or more, got {phases!r}")
    steps = tuple((_ns(seconds), int(1_000_000_000 / rate) if rate > 0 else 0) for seconds, rate in phases)
    return Spaced(steps, initial_state(seed), None, lift(gen))
