"""The interpreter: drives a test's generator in real time, hands each op to the thread that
owns its process (one worker thread per client, one for the nemesis), records every invocation
and completion in the journal, and feeds completions back to the generator.

The generator, the context and the journal are shared by the workers behind one lock (see
`Interpreter`); the journal's order is the order in which the controller saw things happen.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Sequence

from harness.client_gates import AFTER_REPLY, BEFORE_SEND, Gates
from harness.generator.core import PENDING, Context
from harness.history import INFO, NEMESIS, Op
from harness.journal import HistoryWriter
from harness.seams import Cluster, HarnessError, NemesisPackage, System
from harness.spec import RunStatus, TestSpec


class Interpreter:
    """Drives the generator in real time.

    The generator, context and journal are shared state behind one lock. A worker that completes
    an op records the completion and asks the generator for more right away, keeping an op meant
    for itself and posting others to their threads' inboxes, so a busy test needs no hand-over
    between threads per op (in Python each hand-over is a trip through the GIL). The main thread
    only waits: for ops scheduled later (stagger, sleeps), for the end, or for the deadline.
    """

    def __init__(
        self,
        spec: TestSpec,
        cluster: Cluster,
        system: System,
        packages: Sequence[NemesisPackage],
        journal: HistoryWriter,
        status: RunStatus,
        log: logging.Logger,
    ):
        self.spec, self.cluster, self.system = spec, cluster, system
        self.packages, self.journal, self.status, self.log = packages, journal, status, log
        self.inboxes: dict[Any, queue.SimpleQueue] = {}
        self.threads: list[threading.Thread] = []
        self.nemesis_by_f = {f: p for p in packages for f in p.fs}
        self.overran = False
        self.lock = threading.Lock()
        self.wakeup = threading.Condition(self.lock)
        self.gen: Any = None
        self.ctx = Context.initial(spec.concurrency, nemesis=bool(packages))
        self.in_flight = 0
        self.origin = 0
        self.finished = False
        self.failure: BaseException | None = None
        self.origin_wall = time.time()  # wall seconds at `origin`, to place wall-clock records
        # Read without the lock: `ctx` is immutable and replaced whole, so any snapshot will do.
        self.gates = Gates(range(spec.concurrency), lambda thread: self.ctx.workers.get(thread))

    def run(self, generator: Any) -> None:
        spec = self.spec
        self.gen = generator
        self.origin_wall = time.time()
        self.origin = time.monotonic_ns()
        self.status.started = time.monotonic()
        self.status.origin_wall = self.origin_wall
        self.status.time_limit = spec.time_limit
        deadline = time.monotonic() + spec.time_limit + spec.final_timeout
        for thread in self.ctx.workers:
            self._start_worker(thread)
        try:
            with self.lock:
                while True:
                    if self.failure is not None:
                        raise self.failure
                    wait = self._advance(None)
                    if self.finished:
                        break
                    if time.monotonic() > deadline:
                        self.overran = True
                        self.log.error("not finished %ss after the time limit; stopping", spec.final_timeout)
                        break
                    self.journal.flush()
                    # Workers notify when they leave work for this thread; the timeout bounds
                    # how late a scheduled op or the deadline can be noticed.
                    self.wakeup.wait(timeout=min(wait, 0.5) if wait is not None else 0.5)
        finally:
            with self.lock:
                self.finished = True
            self.gates.open()  # a stalled worker must wake to see the run is over
            self._stop_workers()
        # Not in the `finally`: after a failure the journal's error is already on its way up.
        self.journal.flush()

    def _now(self) -> int:
        return time.monotonic_ns() - self.origin

    def _advance(self, me: Any) -> Any:
        """Dispatch every op that is due (caller holds the lock). Returns the op for thread `me`
        if the generator gives one (it is then not posted), else the seconds until the next
        scheduled op (None: wait for a completion). Sets `finished` when the schedule is over."""
        while True:
            now = self._now()
            answer = self.gen.op(self.ctx.with_time(now))
            if answer is None:
                if self.in_flight == 0:
                    self.finished = True
                    self.wakeup.notify_all()
                return None
            op, next_gen = answer
            if op is PENDING:
                self.gen = next_gen
                return 0.01
            if op.time > now:
                # A sleeping generator beside this one cannot say when it will wake, so look
                # again after a tick rather than at this op's time.
                return min((op.time - now) / 1e9, 0.01)
            self.gen = next_gen
            thread = self._dispatch(op, now)
            if thread == me:
                return op
            self.inboxes[thread].put(op)

    def _dispatch(self, op: Op, now: int) -> Any:
        op.time = now
        thread = self.ctx.thread_of(op.process)
        if thread is None:
            raise HarnessError(f"the generator emitted an op for process {op.process!r}, which no thread runs")
        if thread != NEMESIS:
            op.node = self.cluster.nodes[thread % len(self.cluster.nodes)].name
        self.journal.append(op)
        self.ctx = self.ctx.busy(thread)
        self.gen = self.gen.update(self.ctx, op)
        self.in_flight += 1
        self.status.invoked += 1
        return thread

    def _complete(self, thread: Any, completion: Op) -> None:
        completion.time = self._now()
        self.journal.append(completion)
        self.in_flight -= 1
        self.ctx = self.ctx.with_time(completion.time).free_thread(thread)
        self.gen = self.gen.update(self.ctx, completion)
        if thread == NEMESIS:
            self._note_fault(completion)
        elif completion.type == INFO:
            self.ctx = self.ctx.retire(thread, self.spec.concurrency)
        kind = completion.type
        if kind == "ok":
            self.status.ok += 1
        elif kind == "fail":
            self.status.fail += 1
        else:
            self.status.info += 1

    def _finish_and_take_next(self, thread: Any, completion: Op) -> Op | None:
        """Record a completion and take this thread's next op if one is due now."""
        with self.lock:
            if self.finished:
                return None
            self._complete(thread, completion)
            answer = self._advance(thread)
            if not isinstance(answer, Op):
                self.wakeup.notify()  # the main thread handles waiting for time and the end
                answer = None
        self.journal.flush()
        return answer

    def _fail(self, error: BaseException) -> None:
        """A worker hit something that must end the run (a broken generator, a journal that
        cannot be written): hand it to the main thread, which raises it, stops every worker
        and lets the teardown heal. The first failure is the one reported."""
        with self.lock:
            if self.failure is None:
                self.failure = error
            self.wakeup.notify_all()

    def _note_fault(self, completion: Op) -> None:
        package = self.nemesis_by_f.get(completion.f)
        if package is None:
            return
        starts = {d.get("start") for d in package.draw.values()}
        if completion.f in starts:
            self.status.faults[package.name] = f"{completion.f} {brief(completion.value)}"
        else:
            self.status.faults.pop(package.name, None)

    def _start_worker(self, thread: Any) -> None:
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.inboxes[thread] = inbox
        invoke = self._nemesis_invoker() if thread == NEMESIS else self._client_invoker(thread)
        worker = threading.Thread(target=self._work, args=(thread, inbox, invoke), name=f"worker-{thread}", daemon=True)
        worker.start()
        self.threads.append(worker)

    def _work(self, thread: Any, inbox: queue.SimpleQueue, invoke: Callable[[Op | None], Op | None]) -> None:
        try:
            op = inbox.get()
            while op is not None:
                completion = invoke(op)
                op = self._finish_and_take_next(thread, completion)  # type: ignore[arg-type]
                if op is None and not self.finished:
                    op = inbox.get()
        except BaseException as e:  # it must stop the run, not die alone with a traceback
            self._fail(e)
        finally:
            invoke(None)  # let the invoker release what it holds

    def _stop_workers(self) -> None:
        for inbox in self.inboxes.values():
            inbox.put(None)
        deadline = time.monotonic() + 30
        for worker in self.threads:
            worker.join(timeout=max(0.1, deadline - time.monotonic()))

    def _client_invoker(self, thread: int) -> Callable[[Op | None], Op | None]:
        """Runs one client thread's ops; the client is (re)opened lazily and replaced after an
        `info`, when its process is retired. `None` closes it."""
        node = self.cluster.nodes[thread % len(self.cluster.nodes)]
        client: Any = None

        def invoke(op: Op | None) -> Op | None:
            nonlocal client
            if op is None:
                if client is not None:
                    _close_quietly(client)
                return None
            self.gates.wait(thread, op, BEFORE_SEND)  # a paused client does not even connect
            if client is None:
                candidate = self.system.client(self.cluster)
                try:
                    candidate.open(self.cluster, node)
                except Exception as e:
                    # Nothing was sent, so the op certainly did not happen.
                    return op.complete("fail", error=f"connect: {describe_error(e)}")
                client = candidate
            try:
                completion = client.invoke(op)
            except Exception as e:
                completion = op.complete(INFO, error=describe_error(e))
            self.gates.wait(thread, op, AFTER_REPLY)
            if completion.type == INFO:
                _close_quietly(client)
                client = None
            return completion

        return invoke

    def _nemesis_invoker(self) -> Callable[[Op | None], Op | None]:
        def invoke(op: Op | None) -> Op | None:
            if op is None:
                return None
            package = self.nemesis_by_f.get(op.f)
            try:
                if package is None:
                    raise HarnessError(f"no nemesis handles f={op.f!r}")
                completion = package.nemesis.invoke(self.cluster, self.system, op)
            except Exception as e:
                self.log.exception("nemesis op %s failed", op.f)
                completion = op.complete(INFO, error=describe_error(e))
            self.log.info("nemesis %s: %s", op.f, brief(completion.value))
            return completion

        return invoke


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:
        pass


def describe_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def brief(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
