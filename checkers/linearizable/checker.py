"""The checker entry point: options in, verdict with evidence out."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from harness.history import BadOp, Op, with_indices

from . import lean, models, readsfrom
from .models import MODELS, Model, multi_register
from .prepare import Partition, partitions
from .wgl import (CANCELLED, accelerated, INVALID, OUT_OF_MEMORY, OUT_OF_STEPS, OUT_OF_TIME, VALID, Budget, Search,
                  SearchResult, resident_bytes, search)

# How long the search for a minimal failing window may take, at most; and the search for the
# rest of the evidence when the reads-from fast path found the violation.
WINDOW_SECONDS = 10.0
EVIDENCE_SECONDS = 60.0
WINDOW_MAX_CHECKS = 3_000
WINDOW_START_STATES = 8
# The evidence item carries the end of the longest linearizable prefix only; the result keeps it whole.
PREFIX_OPS_IN_EVIDENCE = 500
# Partitions are searched in rounds with a growing step allowance, so that an easy invalid
# partition is found before a hard valid one has been searched to the end (the first invalid
# partition decides). Each round allows this many times the steps of the one before; a search
# that ran out of steps goes on where it stopped.
FIRST_ROUND_STEPS = 20_000
ROUND_GROWTH = 2
# Past this allowance a partition has cost a good fraction of a second (more in pure Python):
# then, and only then, worker processes pay for themselves.
PARALLEL_AFTER_STEPS = 600_000


WORKER_DIED = "worker-died"


def default_memory_limit() -> int:
    """A safe share of the machine: a quarter of its RAM, and at most half of what is free now."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, amount = line.split(":", 1)
            info[name] = int(amount.split()[0]) * 1024
    total = info.get("MemTotal", 4 << 30)
    available = info.get("MemAvailable", total)
    return min(total // 4, available // 2)


@dataclass
class PartitionVerdict:
    status: str  # VALID / INVALID / OUT_OF_TIME / OUT_OF_MEMORY / CANCELLED
    algorithm: str
    result: SearchResult | None = None
    fast_reason: str = ""
    fast_culprit: int | None = None


def resolve_model(model: str | Model, initial: Any = None) -> Model:
    """The named model (or the model itself), starting from `initial` when one is given: a
    value for a register, a {register: value} map for multi-register."""
    if not isinstance(model, Model):
        try:
            model = MODELS[model]
        except KeyError:
            known = ", ".join(sorted(MODELS))
            raise ValueError(f"unknown linearizability model {model!r}; known models: {known}") from None
    if initial is None:
        return model
    if model.name == "multi-register":
        if not isinstance(initial, dict):
            raise ValueError(f"the multi-register model starts from a map of registers, not {initial!r}")
        return multi_register(initial)
    return replace(model, init=lambda: initial)


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict:
    """Is `history` linearizable with respect to `options["model"]`? See the package docstring."""
    options = dict(options or {})
    started = time.monotonic()
    model = resolve_model(options.get("model") or "cas-register", options.get("initial"))
    failed_cas = options.get("failed_cas") or "absent"
    if failed_cas not in ("absent", "observed"):
        raise ValueError(f"failed_cas must be 'absent' or 'observed', not {failed_cas!r}")
    time_limit = options.get("time_limit")
    memory_limit = options.get("memory_limit") or default_memory_limit()
    engine = options.get("engine") or "auto"
    if engine not in ("auto", "c", "python"):
        raise ValueError(f"engine must be 'c' or 'python', not {engine!r}")
    if engine == "c" and not accelerated():
        raise ValueError("engine 'c' asked for, but the C accelerator (checkers/linearizable/_wglc.c) is not built; "
                         "rerun scripts/setup.sh with a C compiler, or use engine 'python'")
    use_c = engine != "python"
    deadline = started + float(time_limit) if time_limit is not None else None

    ops = with_indices(list(history))
    try:
        parts = partitions(ops, model, failed_cas=failed_cas, keyed=bool(options.get("keyed")))
    except BadOp as e:
        raise e.at(history) from None  # name the op's file and line, when it was read from one
    op_count = sum(len(p.entries) for p in parts)
    if model is models.register or model is models.cas_register:
        for part in parts:
            part.entries = readsfrom.drop_unobserved_writes(part.entries)
    base = {"model": model.name, "op_count": op_count, "keys_checked": len(parts)}

    workers = options.get("workers") or os.cpu_count() or 1
    budget = Budget(deadline, memory_limit)
    verdicts = _check_in_rounds(list(range(len(parts))), parts, model, budget, use_c, {}, FIRST_ROUND_STEPS, workers)

    for index, verdict in verdicts.items():
        if verdict.status == INVALID:
            return {**base, **_invalid(parts[index], verdict, model, budget, use_c)}
    unknown = [(i, v) for i, v in verdicts.items() if v.status != VALID]
    if unknown:
        index, verdict = min(unknown)
        return {**base, **_unknown(parts[index], verdict, time.monotonic() - started, time_limit, memory_limit)}
    algorithms = sorted({v.algorithm for v in verdicts.values()}) or ["wgl"]
    return {
        **base,
        "valid": True,
        "algorithm": "+".join(algorithms),
        "reason": f"linearizable: all {op_count} operations in {len(parts)} partition(s) fit the "
        f"{model.name} model",
    }


def check_file(path: Any, options: Mapping[str, Any]) -> tuple[dict, dict] | None:
    """The lean paths, straight from a file to a "valid" verdict (None: read it the general
    way): keyed register journals (`lean`) and Porcupine's kv logs (`kv_log`)."""
    if options.get("model") == "kv":
        from . import kv_log  # its regular expression is compiled only for kv logs
        return kv_log.check_file(path, options, check)
    return lean.check_file(path, options)


check.from_file = check_file  # type: ignore[attr-defined]  # see harness.judge.analyze


def check_partition(part: Partition, model: Model, budget: Budget, use_c: bool,
                    search: Search | None = None) -> tuple[PartitionVerdict, Search | None]:
    """The verdict on one partition, and the search to run again if it stopped for lack of steps."""
    if search is None and (model is models.register or model is models.cas_register):
        fast = readsfrom.check(part.entries)
        if fast is not None:
            if fast.valid:
                return PartitionVerdict(VALID, "reads-from"), None
            # The fast path knows the verdict; the evidence a person needs comes from the search.
            return PartitionVerdict(INVALID, "reads-from", None, fast.reason, fast.culprit), None
        if readsfrom.witness(part.entries):
            return PartitionVerdict(VALID, "reads-from"), None
    if search is None:
        if model is models.register or model is models.cas_register:
            model = readsfrom.forget_unread_values(part.entries, model)
        search = Search(part.entries, part.events(), model, use_c=use_c)
    result = search.run(budget)
    return PartitionVerdict(result.status, "wgl", result), search


def _check_in_rounds(
    indices: list[int],
    parts: list[Partition],
    model: Model,
    budget: Budget,
    use_c: bool,
    searches: dict[int, Search | None],
    allowance: int,
    workers: int,
) -> dict[int, PartitionVerdict]:
    """Search the partitions in rounds, each with twice the steps of the last, until each has a
    verdict or one is invalid. Partitions still open once the allowance passes
    PARALLEL_AFTER_STEPS have shown they are hard: if there are several, worker processes take
    them on from where they stopped."""
    verdicts: dict[int, PartitionVerdict] = {}
    while indices:
        if workers > 1 and len(indices) > 1 and allowance > PARALLEL_AFTER_STEPS:
            verdicts.update(_continue_in_workers(indices, parts, model, budget, use_c, searches, allowance, workers))
            return verdicts
        unfinished = []
        for i in indices:
            if budget.cancelled is not None and budget.cancelled():
                verdicts[i] = PartitionVerdict(CANCELLED, "wgl")
                continue
            verdict, searches[i] = check_partition(
                parts[i], model, replace(budget, max_steps=allowance), use_c, searches.get(i))
            if verdict.status == OUT_OF_STEPS:
                unfinished.append(i)
                continue
            searches.pop(i, None)
            verdicts[i] = verdict
            if verdict.status == INVALID:
                return verdicts
        indices = unfinished
        allowance *= ROUND_GROWTH
    return verdicts


# Worker processes are forked when the hard partitions are known, so they inherit the
# partitions and the searches already under way (C searches go on where they stopped) instead of
# receiving them pickled; a task names partitions by number. The cancel flag is how the first
# invalid partition stops the searches running elsewhere.
_worker_context: tuple | None = None


def _start_worker(parts, model, budget, use_c, searches, allowance, cancel) -> None:
    global _worker_context
    budget = Budget(budget.deadline, budget.memory_limit, cancel.is_set)
    _worker_context = (parts, model, budget, use_c, searches, allowance)


def _check_batch(indices: list[int]) -> list[tuple[int, PartitionVerdict]]:
    import pickle
    parts, model, budget, use_c, searches, allowance = _worker_context
    verdicts = _check_in_rounds(indices, parts, model, budget, use_c, searches, allowance, 1)
    for verdict in verdicts.values():
        if verdict.result is not None:
            try:
                pickle.dumps(verdict.result.best_states)
            except Exception:  # a user's model may keep states that do not pickle
                verdict.result.best_states = []  # then the parent searches again for the evidence
    return list(verdicts.items())


def _continue_in_workers(indices, parts, model, budget, use_c, searches, allowance, workers):
    # Imported here: most checks never fork, and these modules are a large part of start-up.
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    context = multiprocessing.get_context("fork")
    cancel = context.Event()
    workers = min(workers, len(indices))
    if budget.memory_limit:
        # The limit holds for the whole process tree: what this process holds now is spent, and
        # each worker, whose resident size counts the pages it shares with this one, gets an
        # equal share of the rest.
        share = max(budget.memory_limit - resident_bytes(), 0) // workers
        budget = replace(budget, memory_limit=max(share, 1))
    # One partition a task, so a worker that finishes early takes the next.
    verdicts: dict[int, PartitionVerdict] = {}
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(parts, model, budget, use_c, searches, allowance, cancel)) as pool:
        try:
            pending = {pool.submit(_check_batch, [i]): i for i in indices}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    if future.cancelled():
                        continue
                    try:
                        results = future.result()
                    except BrokenProcessPool:  # a worker was killed (by the OOM killer, say)
                        results = [(index, PartitionVerdict(WORKER_DIED, "wgl"))]
                    for i, verdict in results:
                        verdicts[i] = verdict
                        if verdict.status == INVALID and not cancel.is_set():
                            cancel.set()
                            for other in pending:
                                other.cancel()
        finally:
            cancel.set()  # however we leave, searches still running stop at their next check
    return verdicts


def _op_dict(entry) -> dict:
    return (entry.completion or entry.invoke).to_dict()


def _describe_op(entry) -> str:
    value = "" if entry.op.value is None else f" {_plain(entry.op.value)!r}"
    return f"{entry.op.f}{value} by process {entry.invoke.process} (op {entry.invoke.index})"


def _invalid(part: Partition, verdict: PartitionVerdict, model: Model, budget: Budget, use_c: bool) -> dict:
    entries = part.entries
    result = verdict.result
    if result is None or (result.best and not result.best_states):
        # After the fast path (or in a worker, with states that do not pickle) the search for
        # the evidence has not run yet; it gets a bounded time, the verdict is known already.
        deadline = time.monotonic() + EVIDENCE_SECONDS
        if budget.deadline is not None:
            deadline = min(deadline, max(budget.deadline, time.monotonic() + WINDOW_SECONDS))
        result = search(entries, part.events(), model, Budget(deadline, budget.memory_limit), use_c=use_c)
    # Knossos's name for it; the register workload's stale-reads checker names the sharper case.
    found: dict[str, Any] = {"valid": False, "algorithm": verdict.algorithm, "key": _plain(part.key),
                             "anomalies": ["nonlinearizable"]}

    def describe(state: Any) -> Any:  # the search may have merged values nobody read into one
        return "(a value no read observed)" if state is readsfrom.UNREAD else model.describe(state)

    if result.status == INVALID:
        culprit = result.failed
        prefix_ops = [_op_dict(entries[i]) for i in result.best]
        found["failed_ops"] = [_op_dict(entries[culprit])] if culprit is not None else []
        if culprit is not None:
            found["first_anomaly_index"] = entries[culprit].invoke.index
        found["prefixes"] = [{"ops": prefix_ops, "states": [describe(s) for s in result.best_states]}]
        found["state_before"] = describe(result.best_states[-1] if result.best_states else model.init())
        window = minimal_window(part, model, culprit, use_c, result.best_states, budget.deadline)
        found["window"] = _window_ops(entries, window)
        where = f" in key {part.key!r}" if part.key is not None else ""
        if culprit is not None:
            found["reason"] = (
                f"not linearizable{where}: {_describe_op(entries[culprit])} cannot take effect in any order "
                f"of the operations before its completion; the longest linearizable prefix has "
                f"{len(result.best)} ops"
            )
        else:
            found["reason"] = f"not linearizable{where}"
    else:
        # The fast path proved it; the search for a picture of it ran out of budget.
        culprit = verdict.fast_culprit
        found["failed_ops"] = [_op_dict(entries[culprit])] if culprit is not None else []
        if culprit is not None:
            found["first_anomaly_index"] = entries[culprit].invoke.index
        found["prefixes"] = []
        found["window"] = []
        found["state_before"] = None
        found["reason"] = f"not linearizable: {verdict.fast_reason}"
    found["evidence"] = [_window_evidence(found, model.name, has_state=result.status == INVALID)]
    return found


def _window_evidence(found: dict, model_name: str, has_state: bool) -> dict:
    """The failing window as evidence for the report (`seams.EVIDENCE_KINDS`, kind `window`):
    the ops that on their own are not linearizable, the op that could not be placed, and the end
    of the longest linearizable prefix, the part that explains the failure."""
    item: dict[str, Any] = {"kind": "window", "label": "failing window", "model": model_name, "key": found["key"],
                            "failed": found["failed_ops"], "window": found["window"]}
    if found["prefixes"]:
        ops, states = found["prefixes"][0]["ops"], found["prefixes"][0]["states"]
        item["prefix"] = {"ops": ops[-PREFIX_OPS_IN_EVIDENCE:], "states": states[-PREFIX_OPS_IN_EVIDENCE:],
                          "omitted": max(0, len(ops) - PREFIX_OPS_IN_EVIDENCE)}
    if has_state:
        item["state_before"] = found["state_before"]
    return item


def _unknown(part: Partition, verdict: PartitionVerdict, elapsed: float, time_limit, memory_limit) -> dict:
    result = verdict.result
    if verdict.status == OUT_OF_TIME:
        why = f"the time limit of {time_limit} s ran out"
    elif verdict.status == OUT_OF_MEMORY:
        why = f"the memory limit of {memory_limit / 2**20:.0f} MiB was reached"
    elif verdict.status == WORKER_DIED:
        why = "a worker process died (killed for lack of memory?)"
    else:
        why = "the search was stopped"
    progress = {"elapsed_seconds": round(elapsed, 3), "key": _plain(part.key)}
    if result is not None:
        progress.update(
            linearized=len(result.best), of=result.determinate, steps=result.steps, cache_entries=result.cache_entries
        )
    where = f" on key {part.key!r}" if part.key is not None else ""
    got = f"; the longest linearization found covers {progress['linearized']} of {progress['of']} ops" if result else ""
    return {
        "valid": "unknown",
        "algorithm": verdict.algorithm,
        "reason": f"unknown: {why}{where}{got}",
        "progress": progress,
    }


def minimal_window(part: Partition, model: Model, culprit: int | None, use_c: bool,
                   states_seen: Sequence[Any] = (), deadline: float | None = None) -> list[int]:
    """A small set of entries that on its own is not linearizable (1-minimal, found by delta
    debugging over whole operations), within a bounded number of checks and seconds.

    Dropping operations can make a window fail for a reason the history never had: keep only
    `read 1` of "write 1, write 2, read 1" and it fails because nobody wrote 1. So a window must
    fail from every one of a few starting states (the initial one and the last states the
    longest linearization passed through), which keeps the writes that make the read stale.
    """
    entries = part.entries
    stop = time.monotonic() + WINDOW_SECONDS
    if deadline is not None:  # the caller's time limit, but a second at least to show something
        stop = min(stop, max(deadline, time.monotonic() + 1.0))
    checks = 0
    starts: list[Any] = [model.init()]
    for state in reversed(states_seen):
        if len(starts) > WINDOW_START_STATES:
            break
        if state not in starts:
            starts.append(state)
    starting_models = [replace(model, init=(lambda s=s: s)) for s in starts]

    def fails(subset: list[int], models: list[Model]) -> bool:
        nonlocal checks
        checks += 1
        sub = Partition(part.key, [entries[i] for i in subset])
        events = sub.events()
        for m in models:
            budget = Budget(min(stop, time.monotonic() + 1.0))
            if search(sub.entries, events, m, budget, use_c=use_c).status != INVALID:
                return False
        return True

    # The op that could not be placed stays in: the window explains that op, not another.
    pinned = [culprit] if culprit is not None else []
    candidate = [i for i in range(len(entries)) if i != culprit]
    if culprit is not None:
        until = entries[culprit].return_pos
        prefix = [i for i in candidate if entries[i].call_pos < until]
        if len(prefix) < len(candidate) and fails(prefix + pinned, starting_models[:1]):
            candidate = prefix
    if len(starting_models) > 1 and not fails(candidate + pinned, starting_models):
        starting_models = starting_models[:1]
    granularity = 2
    while candidate and checks < WINDOW_MAX_CHECKS and time.monotonic() < stop:
        size = math.ceil(len(candidate) / granularity)
        for start in range(0, len(candidate), size):
            rest = candidate[:start] + candidate[start + size:]
            if (rest or pinned) and fails(rest + pinned, starting_models):
                candidate = rest
                granularity = max(granularity - 1, 2)
                break
            if checks >= WINDOW_MAX_CHECKS or time.monotonic() >= stop:
                break
        else:
            if granularity >= len(candidate):
                break
            granularity = min(len(candidate), granularity * 2)
    return sorted(candidate + pinned)


def _window_ops(entries, window: list[int]) -> list[dict]:
    events = []
    for i in window:
        e = entries[i]
        events.append((e.call_pos, e.invoke.to_dict()))
        if e.completion is not None:
            events.append((e.return_pos, e.completion.to_dict()))
    events.sort(key=lambda pair: pair[0])
    return [d for _, d in events]


def _plain(value: Any) -> Any:
    """A partition key as JSON can hold it."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    return value
