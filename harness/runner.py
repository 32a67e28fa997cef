"""Runs one test: spec -> cluster -> clients and nemesis driven by the generator -> history ->
checkers -> results.json -> exit code.

The interpreter is a single loop on the main thread, in the manner of Jepsen's: it asks the
generator for the next op, hands it to the thread that owns the op's process (one worker thread per
client, one for the nemesis), and feeds every completion back. Only the loop touches the generator,
the context and the journal, so none of them needs a lock, and the journal's order is the order in
which the controller saw things happen.

Whatever ends the run (the schedule, an exception, Ctrl-C, SIGTERM), the `finally` path heals the
nemeses, stops the system and destroys the cluster; the journal on disk already has every op.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness import plugins, store
from harness.client_gates import AFTER_REPLY, BEFORE_SEND, Gates
from harness.generator.combinators import any_of, clients, nemesis, phases, stagger, time_limit
from harness.generator.core import PENDING, Context
from harness.history import INFO, NEMESIS, HistoryWriter, Op, read_history
from harness.seams import (
    Cluster,
    HarnessError,
    NemesisOptions,
    NemesisPackage,
    System,
    Workload,
    WorkloadOptions,
)

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_HARNESS = 0, 1, 2, 3
CLOCK_FILE = "clock.json"  # written into the run directory by the clock nemesis when it heals


@dataclass
class TestSpec:
    """Everything needed to run (and re-run) a test; saved as test.json."""

    system: str
    workload: str
    mode: str | None = None
    nemesis: list[str] = field(default_factory=list)
    nodes: int = 3
    concurrency: int = 5
    time_limit: float = 30.0
    seed: int = 0
    rate: float = 100.0  # client ops/s over all clients; 0 = as fast as they go
    nemesis_interval: float = 5.0
    runtime: str = "local"
    store: str = "store"
    name: str | None = None
    final_timeout: float = 120.0  # for the heal and final-read phases after the time limit
    server_args: list[str] = field(default_factory=list)  # extra flags for every node's server

    def test_name(self) -> str:
        return self.name or f"{self.system}-{self.mode}-{self.workload}"

    def node_names(self) -> list[str]:
        return [f"n{i + 1}" for i in range(self.nodes)]


@dataclass
class RunStatus:
    """Live figures for a progress display; written by the runner's loop, read by anyone."""

    phase: str = "starting"
    started: float = 0.0  # monotonic seconds when clients started
    time_limit: float = 0.0
    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    faults: dict[str, str] = field(default_factory=dict)  # package -> what it is doing now
    run_dir: Path | None = None


@dataclass
class RunOutcome:
    exit_code: int
    run_dir: Path | None
    results: dict[str, Any]


class _Interrupted(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


def run_test(spec: TestSpec, status: RunStatus | None = None) -> RunOutcome:
    """Run one test end to end. Raises HarnessError for bad input found before anything started."""
    status = status or RunStatus()
    system_cls = plugins.load("system", spec.system)
    mode = spec.mode or system_cls.modes[0]
    if mode not in system_cls.modes:
        raise HarnessError(f"--mode {mode!r}: {spec.system} has modes {', '.join(system_cls.modes)}")
    spec.mode = mode
    if spec.workload not in system_cls.workloads:
        raise HarnessError(
            f"--workload {spec.workload!r}: {spec.system} supports {', '.join(system_cls.workloads)}"
        )
    workload: Workload = plugins.load("workload", spec.workload)()
    nemesis_factories = {name: plugins.load("nemesis", name) for name in spec.nemesis}
    runtime = plugins.load("runtime", spec.runtime)()
    if spec.nodes < 1 or spec.concurrency < 1:
        raise HarnessError("--nodes and --concurrency must be at least 1")
    runtime.check_prerequisites()

    system: System = system_cls(mode, tuple(spec.server_args))
    node_names = spec.node_names()
    nemesis_options = NemesisOptions(
        seed=spec.seed,
        nodes=node_names,
        interval=spec.nemesis_interval,
        capabilities=frozenset(system.capabilities),
        concurrency=spec.concurrency,
    )
    packages = [factory(nemesis_options) for factory in nemesis_factories.values()]

    started_at = datetime.now(timezone.utc)
    run_dir = store.new_run_dir(Path(spec.store), spec.test_name(), started_at)
    status.run_dir = run_dir
    prefix = runtime.new_prefix() if hasattr(runtime, "new_prefix") else f"fl-{os.getpid()}"
    test_doc = {
        **asdict(spec),
        "name": spec.test_name(),
        "nodes": node_names,
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
        "prefix": prefix,
        "nemesis_draw": {fault: dict(how) for p in packages for fault, how in p.draw.items()},
        "python": sys.version.split()[0],
    }
    store.write_json(run_dir / store.TEST_FILE, test_doc)
    log = _run_logger(run_dir, prefix)
    log.info("test %s in %s (prefix %s, seed %s)", spec.test_name(), run_dir, prefix, spec.seed)

    journal = HistoryWriter(run_dir / store.HISTORY_FILE, flush_each=False)
    results: dict[str, Any]
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupted)
    cluster: Cluster | None = None
    interpreter: Interpreter | None = None
    try:
        try:
            status.phase = "starting cluster"
            cluster = runtime.create(run_dir, node_names, prefix)
            log.info("cluster up: %s", ", ".join(f"{n.name}={n.address}" for n in cluster.nodes))
            system.setup(cluster)
            # Nemeses first: some shape how nodes start (the clock fault preloads libfaketime).
            for package in packages:
                package.nemesis.setup(cluster, system)
            for node in cluster.nodes:
                system.start(cluster, node)
            workload_options = WorkloadOptions(
                seed=spec.seed, concurrency=spec.concurrency, nodes=node_names, rate=spec.rate,
                params=getattr(system, "workload_params", {}).get(spec.workload, {}),
            )
            generator = _schedule(spec, workload, workload_options, packages)
            interpreter = Interpreter(spec, cluster, system, packages, journal, status, log)
            for package in packages:
                bind_clients = getattr(package.nemesis, "bind_clients", None)
                if bind_clients is not None:
                    bind_clients(interpreter.gates)
            status.phase = "running"
            interpreter.run(generator)
            overran = interpreter.overran
            status.phase = "collecting"
            system_data = _collect(system, cluster, run_dir, log)
        finally:
            status.phase = "tearing down"
            _teardown(runtime, cluster, system, packages, log)
            journal.close()
        status.phase = "checking"
        results = check_history(journal.ops, checker_specs(workload, system), system_data, spec.seed, log)
        if overran:
            # Ops were still in flight when the run was cut off: a pass would claim too much.
            results["reason"] = f"run cut off {spec.final_timeout:g}s after the time limit; " + results["reason"]
            if results["valid"] is True:
                results["valid"] = "unknown"
    except (KeyboardInterrupt, _Interrupted) as e:
        reason = "interrupted by Ctrl-C" if isinstance(e, KeyboardInterrupt) else "interrupted by SIGTERM"
        log.warning("%s; the history recorded so far is kept", reason)
        results = {"valid": "unknown", "reason": reason, "checkers": {}}
    except HarnessError as e:
        log.error("harness error: %s", e)
        results = {"valid": "unknown", "reason": f"harness error: {e}", "checkers": {}, "harness_error": True}
    except Exception as e:
        log.exception("harness failed")
        results = {
            "valid": "unknown",
            "reason": f"harness failed: {type(e).__name__}: {e}",
            "checkers": {},
            "harness_error": True,
        }
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    results["stats"] = history_stats(journal.ops)
    if interpreter is not None:
        # Wall seconds at history time 0: places what nodes log in wall time (leader events).
        results["origin_wall"] = interpreter.origin_wall
    clock = clock_offsets(run_dir / CLOCK_FILE, interpreter.origin_wall if interpreter else started_at.timestamp(), log)
    if clock:
        results["clock"] = clock
    results["exit_code"] = exit_code_for(results)
    store.write_json(run_dir / store.RESULTS_FILE, results)
    _write_report(run_dir, log)
    log.info("verdict: %s (%s)", results["valid"], results.get("reason", ""))
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)
    status.phase = "done"
    return RunOutcome(results["exit_code"], run_dir, results)


def exit_code_for(results: Mapping[str, Any]) -> int:
    if results.get("harness_error"):
        return EXIT_HARNESS
    valid = results.get("valid")
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def _schedule(
    spec: TestSpec, workload: Workload, options: WorkloadOptions, packages: Sequence[NemesisPackage]
) -> Any:
    """Main phase (clients alongside faults, for the time limit), then heal every fault, then the
    workload's final reads."""
    client_ops = workload.generator(options)
    if spec.rate > 0:
        client_ops = stagger(1.0 / spec.rate, client_ops, seed=spec.seed)
    main = [clients(time_limit(spec.time_limit, client_ops))]
    if packages:
        main.append(nemesis(time_limit(spec.time_limit, any_of(*[p.generator for p in packages]))))
    stages = [any_of(*main)]
    heals = [p.final_generator for p in packages if p.final_generator is not None]
    if heals:
        stages.append(nemesis(heals))
    final = workload.final_generator(options)
    if final is not None:
        stages.append(clients(final))
    return phases(*stages)


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
                        return
                    if time.monotonic() > deadline:
                        self.overran = True
                        self.log.error("not finished %ss after the time limit; stopping", spec.final_timeout)
                        return
                    self.journal.flush()
                    # Workers notify when they leave work for this thread; the timeout bounds
                    # how late a scheduled op or the deadline can be noticed.
                    self.wakeup.wait(timeout=min(wait, 0.5) if wait is not None else 0.5)
        finally:
            with self.lock:
                self.finished = True
            self.journal.flush()
            self.gates.open()  # a stalled worker must wake to see the run is over
            self._stop_workers()

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
            try:
                answer = self._advance(thread)
            except BaseException as e:  # a broken generator must stop the run, not one worker
                self.failure = e
                self.wakeup.notify_all()
                return None
            if not isinstance(answer, Op):
                self.wakeup.notify()  # the main thread handles waiting for time and the end
                answer = None
        self.journal.flush()
        return answer

    def _note_fault(self, completion: Op) -> None:
        package = self.nemesis_by_f.get(completion.f)
        if package is None:
            return
        starts = {d.get("start") for d in package.draw.values()}
        if completion.f in starts:
            self.status.faults[package.name] = f"{completion.f} {_brief(completion.value)}"
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
        op = inbox.get()
        while op is not None:
            completion = invoke(op)
            op = self._finish_and_take_next(thread, completion)  # type: ignore[arg-type]
            if op is None and not self.finished:
                op = inbox.get()
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
                    return op.complete("fail", error=f"connect: {_describe(e)}")
                client = candidate
            try:
                completion = client.invoke(op)
            except Exception as e:
                completion = op.complete(INFO, error=_describe(e))
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
                completion = op.complete(INFO, error=_describe(e))
            self.log.info("nemesis %s: %s", op.f, _brief(completion.value))
            return completion

        return invoke


def _teardown(runtime: Any, cluster: Cluster | None, system: System, packages: Sequence[NemesisPackage], log: logging.Logger) -> None:
    """Heal, stop, destroy: each step runs even if an earlier one failed, and Ctrl-C pressed
    again during teardown does not cut it short."""
    if cluster is None:
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for package in packages:
            _attempt(log, f"heal {package.name}", lambda p=package: p.nemesis.teardown(cluster, system))
        _attempt(log, "stop the system", lambda: system.teardown(cluster))
        _attempt(log, "destroy the cluster", lambda: runtime.destroy(cluster))
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


def _attempt(log: logging.Logger, what: str, action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception:
        log.exception("teardown: could not %s", what)


def _collect(system: System, cluster: Cluster, run_dir: Path, log: logging.Logger) -> Any:
    collect = getattr(system, "collect", None)
    if collect is None:
        return None
    try:
        data = collect(cluster)
    except Exception:
        log.exception("collecting the system's final data failed")
        return None
    store.write_json(run_dir / store.SYSTEM_FILE, data)
    return data


def checker_specs(workload: Workload, system: System | None) -> dict[str, Mapping[str, Any]]:
    """The workload's checkers plus any the system adds for it (`System.checkers(workload)`)."""
    specs = dict(workload.checkers())
    extra = getattr(system, "checkers", None)
    if callable(extra):
        specs.update(extra(workload.name))
    return specs


def check_history(
    history: list[Op],
    checkers: Mapping[str, Mapping[str, Any]],
    system_data: Any = None,
    seed: int | None = None,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """Run each named checker on the history and combine: any invalid -> invalid; else any
    unknown -> unknown; else valid."""
    out: dict[str, Any] = {}
    for name, options in checkers.items():
        check = plugins.load("checker", name)
        opts = {**options, "system_data": system_data, "seed": seed}
        try:
            out[name] = check(history, opts)
        except ValueError as e:
            # Checkers raise ValueError for input they cannot take (an unknown model, a value
            # of the wrong shape): bad input, which the user must fix, not a verdict.
            raise HarnessError(f"checker {name}: {e}") from e
        except Exception as e:
            if log:
                log.exception("checker %s failed", name)
            out[name] = {"valid": "unknown", "reason": f"checker crashed: {type(e).__name__}: {e}"}
    verdicts = [r.get("valid") for r in out.values()]
    if not verdicts:
        valid: Any = "unknown"
        reason = "no checker ran"
    elif False in verdicts:
        valid = False
        reason = "; ".join(f"{n}: {r.get('reason', 'invalid')}" for n, r in out.items() if r.get("valid") is False)
    elif all(v is True for v in verdicts):
        valid = True
        reason = "every checker passed"
    else:
        valid = "unknown"
        reason = "; ".join(f"{n}: {r.get('reason', 'unknown')}" for n, r in out.items() if r.get("valid") is not True)
    return {"valid": valid, "reason": reason, "checkers": out}


def history_stats(history: Sequence[Op]) -> dict[str, Any]:
    counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    nemesis_ops = 0
    for op in history:
        if op.is_client:
            counts[op.type] = counts.get(op.type, 0) + 1
        else:
            nemesis_ops += 1
    duration = (history[-1].time or 0) / 1e9 if history else 0.0
    return {"ops": counts["invoke"], **{k: counts[k] for k in ("ok", "fail", "info")},
            "nemesis_events": nemesis_ops, "duration_s": round(duration, 3)}


def analyze(history_path: Path, checkers: Mapping[str, Mapping[str, Any]], system_data: Any = None) -> dict[str, Any]:
    """Re-check a stored or imported history. A run's clock offsets are facts of the run, not of
    the check, so they carry over from the results.json beside the history."""
    history = read_history(history_path)
    results = check_history(history, checkers, system_data)
    results["stats"] = history_stats(history)
    clock = _previous_clock(history_path.parent / store.RESULTS_FILE)
    if clock:
        results["clock"] = clock
    results["exit_code"] = exit_code_for(results)
    return results


def clock_offsets(timeline_path: Path, origin_wall: float, log: logging.Logger | None = None) -> dict[str, list[list[float]]]:
    """Each node's clock offset over the run, `{node: [[t, offset_s], ...]}` with t in seconds
    since the history's time zero, from the clock nemesis's timeline (each entry: from wall time
    `at`, the offset was `offset` and grew by `rate - 1` per second). Every setting also gets a
    point where the next one takes over, so straight lines through the points are the offset at
    every t: flat while it holds, sloped while it drifts, a vertical step at a bump. Settings
    made before the clients started are placed at t = 0. Empty without a timeline."""
    if not timeline_path.is_file():
        return {}
    try:
        timeline = json.loads(timeline_path.read_text(encoding="utf-8"))
        out: dict[str, list[list[float]]] = {}
        for node, entries in timeline.items():
            entries = sorted(entries, key=lambda e: float(e["at"]))
            points: list[list[float]] = []
            for i, entry in enumerate(entries):
                at, offset, rate = float(entry["at"]), float(entry["offset"]), float(entry.get("rate", 1.0))
                ends = [(at, offset)]
                if i + 1 < len(entries):
                    until = float(entries[i + 1]["at"])
                    ends.append((until, offset + (rate - 1.0) * (until - at)))
                for wall, value in ends:
                    point = [_since(wall, origin_wall), round(value, 6)]
                    if not points or points[-1] != point:
                        points.append(point)
            out[str(node)] = points
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        if log:
            log.error("could not read the clock timeline %s: %s", timeline_path, e)
        return {}


def _since(wall: float, origin_wall: float) -> float:
    return round(max(0.0, wall - origin_wall), 6)


def _previous_clock(results_path: Path) -> Any:
    try:
        previous = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous.get("clock") if isinstance(previous, dict) else None


def _write_report(run_dir: Path, log: logging.Logger) -> None:
    try:
        from harness.report import write_report
    except ImportError:
        return
    try:
        write_report(run_dir)
    except Exception:
        log.exception("writing the HTML report failed")


def _run_logger(run_dir: Path, prefix: str) -> logging.Logger:
    log = logging.getLogger(f"faultline.run.{prefix}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(run_dir / store.LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    log.addHandler(handler)
    return log


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise _Interrupted()


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:
        pass


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _brief(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
