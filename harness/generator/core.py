"""The generator protocol and the context it reads: the contract between schedules and interpreters.

A generator is an immutable value. Asking it for an operation never changes it; it answers with
the operation and the generator that comes after:

    gen.op(ctx)            -> None             exhausted: it will never emit again
                           -> (PENDING, gen2)  nothing can be emitted now; ask again after the
                                               next completion, or a little later in time
                           -> (op, gen2)       `op` is a fresh invocation (type "invoke") whose
                                               process belongs to a thread in `ctx.free` and whose
                                               time is the earliest ns it may start (>= ctx.time)
    gen.update(ctx, event) -> gen              every invocation and completion is fed back

The interpreter (the real-time runner, or `simulate` on a logical clock) drives it like this:

    1. Process every completion that has arrived (see "completions" below).
    2. r = gen.op(ctx.with_time(now)).
       None            -> the schedule is over: wait for the ops in flight, then stop.
       (PENDING, g2)   -> keep g2 (it may hold state such as when a sleep began); wait for a
                          completion or one tick, then ask again.
       (op, g2) with op.time > now
                       -> do NOT keep g2; wait until op.time, a completion or one tick, whichever
                          comes first, then ask again (the answer may differ: another thread may
                          be free by then, or a sleeping generator alongside may have woken).
       A tick is a short poll interval (simulate: 1 ms of logical time; the runner: ~1 ms). A
       `sleep` cannot announce when it ends, so the tick bounds how late it wakes.
       (op, g2)        -> dispatch: keep g2, stamp op.time = now,
                          thread = ctx.thread_of(op.process); ctx = ctx.busy(thread);
                          gen = gen.update(ctx, op); hand op to the thread's client (or nemesis).
    3. Completions (op.time = the completion's time, same process as its invocation):
                          ctx = ctx.with_time(t).free_thread(thread)
                          gen = gen.update(ctx, completion)
                          if completion.type == "info": ctx = ctx.retire(thread, concurrency)
       Updating before retiring lets generators map the completion's (old) process to its thread.

`Context` below is the one place that knows how threads become busy, free and retired; both
interpreters use only its methods for that.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

from harness.history import NEMESIS, Op

Thread = Any  # an int 0..concurrency-1, or "nemesis"
Process = Any  # an int, or "nemesis"


class _Pending:
    """The marker a generator answers when it has nothing to emit yet."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PENDING"

    def __reduce__(self) -> str:
        return "PENDING"


PENDING = _Pending()


_NEMESIS_ONLY = frozenset((NEMESIS,))
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads nearby times over the threads
_MASK = (1 << 64) - 1


class _ContextFields(NamedTuple):
    time: int
    free: frozenset
    workers: Mapping[Thread, Process]
    threads: frozenset
    by_process: Mapping[Process, Thread]


class Context(_ContextFields):
    """What a generator may know when asked for an op: the time, and which threads are free.

    Immutable (a named tuple: contexts are made several times per op, and a tuple is the
    cheapest immutable record); every helper returns a new context. `threads` is the set of
    threads the generator asking is allowed to use (all of them at the top; fewer under
    `clients`, `nemesis`, `on_threads`), and `free` is always a subset of it. `workers` maps
    every thread of the test to its current process, whatever the restriction; `by_process` is
    its inverse. Treat both mappings as read-only.
    """

    __slots__ = ()

    def __new__(
        cls,
        time: int,
        free: Iterable[Thread],
        workers: Mapping[Thread, Process],
        threads: Iterable[Thread] | None = None,
    ) -> "Context":
        workers = dict(workers)
        return _new_tuple(
            cls,
            (
                time,
                frozenset(free),
                workers,
                frozenset(workers) if threads is None else frozenset(threads),
                {process: thread for thread, process in workers.items()},
            ),
        )

    @classmethod
    def initial(cls, concurrency: int, nemesis: bool = True, time: int = 0) -> "Context":
        """All threads free at `time`: client threads 0..concurrency-1 running processes of the
        same numbers, plus the "nemesis" thread when `nemesis` is true."""
        if concurrency < 0:
            raise ValueError(f"concurrency must be 0 or more, got {concurrency}")
        workers: dict[Thread, Process] = {thread: thread for thread in range(concurrency)}
        if nemesis:
            workers[NEMESIS] = NEMESIS
        return cls(time, workers, workers)

    def __repr__(self) -> str:
        return (
            f"Context(time={self.time}, free={_sorted_threads(self.free)}, "
            f"threads={_sorted_threads(self.threads)}, workers={self.workers})"
        )

    # -- reading ----------------------------------------------------------------------------

    def process_of(self, thread: Thread) -> Process:
        """The process a thread is running now."""
        return self.workers[thread]

    def thread_of(self, process: Process) -> Thread | None:
        """The thread running `process`, or None if no thread runs it (it was retired)."""
        return self.by_process.get(process)

    @property
    def all_free(self) -> bool:
        """True when every thread this context covers is idle (nothing of theirs in flight)."""
        return len(self.free) == len(self.threads)

    def some_free_thread(self) -> Thread | None:
        """The free thread an op should go to: a free client thread, else the nemesis thread if
        it is free, else None.

        Among several free client threads the choice is spread by the context's time rather than
        always the lowest: clients are bound to nodes by thread, so under a rate limit (when many
        threads sit idle) "lowest" would send nearly every op to the first node and leave the
        others untested. The choice depends only on the context, so a schedule stays reproducible.
        """
        free = self.free
        if NEMESIS in free:
            if len(free) == 1:
                return NEMESIS
            free = free - _NEMESIS_ONLY
        if len(free) < 2:
            return next(iter(free), None)
        ordered = sorted(free)
        return ordered[(((self.time * _GOLDEN) & _MASK) >> 32) % len(ordered)]

    def free_processes(self) -> list[Process]:
        """The processes of the free threads, client threads in order, then the nemesis."""
        return [self.workers[t] for t in _sorted_threads(self.free)]

    # -- deriving ---------------------------------------------------------------------------

    def with_time(self, time: int) -> "Context":
        """The same context at another time (ns since the test began)."""
        if time == self.time:
            return self
        return _new_tuple(Context, (time, self.free, self.workers, self.threads, self.by_process))

    def busy(self, thread: Thread) -> "Context":
        """`thread` has just been handed an op and is no longer free."""
        return _new_tuple(Context, (self.time, self.free - {thread}, self.workers, self.threads, self.by_process))

    def free_thread(self, thread: Thread) -> "Context":
        """`thread` has completed its op and is idle again."""
        return _new_tuple(Context, (self.time, self.free | {thread}, self.workers, self.threads, self.by_process))

    def retire(self, thread: Thread, concurrency: int) -> "Context":
        """After an `info` completion the client thread's process can no longer be trusted to be
        sequential (its op may still take effect), so the thread takes a fresh process number:
        old + concurrency. The nemesis thread is never retired."""
        if thread == NEMESIS:
            return self
        old = self.workers[thread]
        new = old + concurrency
        workers = dict(self.workers)
        workers[thread] = new
        by_process = dict(self.by_process)
        del by_process[old]
        by_process[new] = thread
        return _new_tuple(Context, (self.time, self.free, workers, self.threads, by_process))

    def restrict(self, threads: frozenset) -> "Context":
        """The view of a generator allowed only `threads` (intersected with what this one
        covers): used by `clients`, `nemesis`, `on_threads` and `each_thread`."""
        threads = self.threads & threads
        return _new_tuple(Context, (self.time, self.free & threads, self.workers, threads, self.by_process))


# Built with tuple.__new__ directly in the helpers: they run several times per op.
_new_tuple = tuple.__new__


def _sorted_threads(threads: Iterable[Thread]) -> list[Thread]:
    """Client threads in numeric order, then the nemesis: a stable order for iteration."""
    return sorted(threads, key=lambda t: (1, 0) if t == NEMESIS else (0, t))


class Generator:
    """Base class of generators: immutable; `op` and `update` return new generators.

    Subclasses override `op`; `update` by default ignores events. Write your own by subclassing
    this and following the protocol in this module's docstring.
    """

    __slots__ = ()

    def op(self, ctx: Context) -> tuple[Any, "Generator"] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement op(ctx)")

    def update(self, ctx: Context, event: Op) -> "Generator":
        return self

    def anchor(self, time: int) -> "Generator":
        """This generator becomes current in a sequence right after an op planned at `time`.
        Time-relative generators (`sleep`) start counting from then, rather than from when they
        are first asked, which could be later: an interpreter discards what it learns from an
        answer it does not dispatch. Others ignore it."""
        return self


def invocation(f: Any, value: Any, process: Process, time: int, extra: Mapping[str, Any] | None = None) -> Op:
    """A fresh invocation op; generators build every op they emit through this."""
    return Op("invoke", f, value, process, time, None, None, None, dict(extra) if extra else {})
