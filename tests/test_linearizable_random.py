"""Helpers for the linearizability tests: a brute-force checker and a simulated register.

The brute force shares nothing with the checker's search: it tries every order of the
operations that real time allows (an op may go next only if no unplaced determinate op
completed before it was invoked), leaving out any subset of the indeterminate ones.
"""

from __future__ import annotations

import random
from typing import Any

from harness.history import Op

from checkers.linearizable.models import Model
from checkers.linearizable.prepare import Partition, partitions


def brute_force(history: list[Op], model: Model, failed_cas: str = "absent") -> bool:
    for part in partitions(history, model, failed_cas=failed_cas):
        if not _brute_partition(part.entries, model):
            return False
    return True


def _brute_partition(entries, model: Model) -> bool:
    n = len(entries)

    def place(placed: frozenset, state: Any) -> bool:
        unplaced = [i for i in range(n) if i not in placed]
        if all(not entries[i].determinate for i in unplaced):
            return True
        for i in unplaced:
            call = entries[i].call_pos
            if any(entries[j].determinate and entries[j].return_pos < call for j in unplaced if j != i):
                continue
            ok, after = model.step(state, entries[i].op)
            if ok and place(placed | {i}, after):
                return True
        return False

    return place(frozenset(), model.init())


def simulated_register(rng: random.Random, n_ops: int, n_procs: int, unique: bool, with_cas: bool) -> list[Op]:
    """A register driven by concurrent processes: each op takes effect at a random moment
    between its invocation and its completion; some crash (info, effect or not), some cas fail."""
    history: list[Op] = []
    state = None
    idle = list(range(n_procs))
    next_process = n_procs
    inflight: dict[int, dict] = {}
    started = 0
    fresh = iter(range(1, 10**9))

    def apply(rec: dict) -> None:
        nonlocal state
        f, value = rec["f"], rec["value"]
        if f == "read":
            rec["result"], rec["outcome"] = state, "ok"
        elif f == "write":
            state, rec["outcome"] = value, "ok"
        else:
            expected, new = value
            if state == expected:
                state, rec["outcome"] = new, "ok"
            else:
                rec["outcome"] = "fail"
        rec["applied"] = True

    while started < n_ops or inflight:
        if idle and started < n_ops and (not inflight or rng.random() < 0.45):
            p = idle.pop(rng.randrange(len(idle)))
            kinds = ["read", "write"] + (["cas"] if with_cas else [])
            f = rng.choice(kinds)
            if f == "write":
                value = next(fresh) if unique else rng.randrange(4)
            elif f == "cas":
                value = [rng.choice([None, 0, 1, 2, 3] if not unique else [None, *range(1, 4)]),
                         next(fresh) if unique else rng.randrange(4)]
            else:
                value = None
            inflight[p] = {"f": f, "value": value, "applied": False}
            history.append(Op("invoke", f, value, p))
            started += 1
            continue
        p = rng.choice(list(inflight))
        rec = inflight[p]
        if not rec["applied"] and rng.random() < 0.5:
            apply(rec)
            continue
        del inflight[p]
        if rng.random() < 0.12:  # crash: it may or may not have taken effect
            if not rec["applied"] and rng.random() < 0.5:
                apply(rec)
            history.append(Op("info", rec["f"], rec["value"], p))
            idle.append(next_process)
            next_process += 1
            continue
        if not rec["applied"]:
            apply(rec)
        value = rec.get("result") if rec["f"] == "read" else rec["value"]
        history.append(Op(rec["outcome"], rec["f"], value, p))
        idle.append(p)
    return history


def mutate(rng: random.Random, history: list[Op]) -> list[Op]:
    """Change one completed read's value, or one op's outcome: often no longer linearizable."""
    ops = [Op(o.type, o.f, o.value, o.process) for o in history]
    completions = [i for i, o in enumerate(ops) if o.type in ("ok", "fail")]
    if not completions:
        return ops
    i = rng.choice(completions)
    op = ops[i]
    if op.f == "read" and op.type == "ok":
        op.value = rng.choice([None, 0, 1, 2, 3, op.value + 1 if isinstance(op.value, int) else 7])
    elif op.type == "fail":
        op.type = "ok"
    else:
        op.type = "fail"
    return ops


# --- the differential tests ---------------------------------------------------------------------

import pytest  # noqa: E402

from checkers.linearizable import MODELS, check  # noqa: E402
from checkers.linearizable.wgl import _wglc  # noqa: E402

ENGINES = ["python"] + (["c"] if _wglc is not None else [])


def _cases(seed: int, count: int, unique: bool, with_cas: bool):
    rng = random.Random(seed)
    for _ in range(count):
        history = simulated_register(rng, rng.randint(1, 7), rng.randint(1, 4), unique, with_cas)
        if rng.random() < 0.5:
            history = mutate(rng, history)
        yield history


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "unique,with_cas,failed_cas",
    [(False, True, "absent"), (False, True, "observed"), (True, False, "absent"), (True, True, "absent"),
     (False, False, "absent")],
)
def test_agrees_with_brute_force(engine, unique, with_cas, failed_cas):
    model = MODELS["cas-register"]
    verdicts = {True: 0, False: 0}
    for n, history in enumerate(_cases(hash((unique, with_cas, failed_cas)) % 1000, 600, unique, with_cas)):
        expected = brute_force(history, model, failed_cas)
        got = check(history, {"model": model, "failed_cas": failed_cas, "engine": engine})
        assert got["valid"] is expected, (n, [o.to_dict() for o in history], got["reason"])
        verdicts[expected] += 1
    # The generator must exercise both answers, or the agreement means little.
    assert verdicts[True] > 50 and verdicts[False] > 50, verdicts


@pytest.mark.parametrize("engine", ENGINES)
def test_window_is_a_failing_subhistory(engine):
    """Every minimal window the checker reports is itself not linearizable (by brute force)."""
    from harness.history import Op as _Op

    model = MODELS["cas-register"]
    rng = random.Random(7)
    seen = 0
    while seen < 100:
        history = mutate(rng, simulated_register(rng, rng.randint(2, 7), 3, False, True))
        got = check(history, {"model": model, "engine": engine})
        if got["valid"] is not False:
            continue
        seen += 1
        window = [_Op.from_dict(d) for d in got["window"]]
        assert window and not brute_force(window, model), got


def test_reads_from_fast_path_agrees_with_the_search_on_longer_histories():
    """Histories too long for the brute force: the interval check against the exact search."""
    from checkers.linearizable import readsfrom
    from checkers.linearizable.wgl import Budget, search

    model = MODELS["register"]
    rng = random.Random(11)
    verdicts = {True: 0, False: 0}
    for n in range(400):
        history = simulated_register(rng, rng.randint(10, 40), rng.randint(2, 6), True, False)
        if rng.random() < 0.5:
            history = mutate(rng, history)
        for part in partitions(history, model):
            fast = readsfrom.check(part.entries)
            assert fast is not None
            exact = search(part.entries, part.events(), model, Budget()).status == "valid"
            assert fast.valid is exact, (n, [o.to_dict() for o in history], fast)
            verdicts[exact] += 1
    assert verdicts[True] > 50 and verdicts[False] > 50, verdicts


# --- the other models: simulated objects, the same brute force ----------------------------------


def _perform_mutex(state, f, value, rng):
    held = state
    if f == "acquire":
        return ("fail", None, held) if held else ("ok", None, True)
    return ("ok", None, False) if held else ("fail", None, held)


def _perform_fifo(state, f, value, rng):
    if f == "enqueue":
        return "ok", value, state + (value,)
    return ("ok", state[0], state[1:]) if state else ("ok", None, state)


def _perform_unordered(state, f, value, rng):
    if f == "enqueue":
        return "ok", value, state + (value,)
    if not state:
        return "ok", None, state
    i = rng.randrange(len(state))
    return "ok", state[i], state[:i] + state[i + 1:]


def _perform_set(state, f, value, rng):
    if f == "add":
        return "ok", value, state | {value}
    return "ok", sorted(state), state


def _perform_kv(state, f, value, rng):
    key, v = value
    current = dict(state).get(key, "")
    if f == "get":
        return "ok", [key, current], state
    new = v if f == "put" else current + v
    return "ok", [key, v], tuple(sorted({**dict(state), key: new}.items()))


OBJECTS = {
    "mutex": (False, _perform_mutex, lambda rng, n: (rng.choice(["acquire", "release"]), None)),
    "fifo-queue": ((), _perform_fifo, lambda rng, n: rng.choice([("enqueue", n), ("dequeue", None)])),
    "unordered-queue": ((), _perform_unordered, lambda rng, n: rng.choice([("enqueue", n % 3), ("dequeue", None)])),
    "set": (frozenset(), _perform_set, lambda rng, n: rng.choice([("add", n % 4), ("read", None)])),
    "kv": ((), _perform_kv, lambda rng, n: (rng.choice(["get", "put", "append"]), [rng.choice("ab"), "xy"[n % 2]])),
}


def simulated_object(rng: random.Random, name: str, n_ops: int, n_procs: int) -> list[Op]:
    """Like `simulated_register`, for the objects above. kv values carry their key, moved to the
    op's `key` field as Porcupine's histories have it."""
    state, perform, next_op = OBJECTS[name]
    history: list[Op] = []
    idle, next_process, inflight, started = list(range(n_procs)), n_procs, {}, 0

    def op(type_, f, value, p):
        if name == "kv":
            key, v = value
            return Op(type_, f, None if (type_ == "invoke" and f == "get") else v, p, extra={"key": key})
        return Op(type_, f, value, p)

    while started < n_ops or inflight:
        if idle and started < n_ops and (not inflight or rng.random() < 0.45):
            p = idle.pop(rng.randrange(len(idle)))
            f, value = next_op(rng, started)
            inflight[p] = {"f": f, "value": value, "done": False}
            history.append(op("invoke", f, value, p))
            started += 1
            continue
        p = rng.choice(list(inflight))
        rec = inflight[p]
        if not rec["done"] and rng.random() < 0.5:
            rec["outcome"], rec["out"], state = perform(state, rec["f"], rec["value"], rng)
            rec["done"] = True
            continue
        del inflight[p]
        if rng.random() < 0.1:
            if not rec["done"] and rng.random() < 0.5:
                _, _, state = perform(state, rec["f"], rec["value"], rng)
            history.append(op("info", rec["f"], rec["value"], p))
            idle.append(next_process)
            next_process += 1
            continue
        if not rec["done"]:
            rec["outcome"], rec["out"], state = perform(state, rec["f"], rec["value"], rng)
        history.append(op(rec["outcome"], rec["f"], rec["out"], p))
        idle.append(p)
    return history


def _mutate_any(rng: random.Random, history: list[Op]) -> list[Op]:
    ops = [Op(o.type, o.f, o.value, o.process, extra=dict(o.extra)) for o in history]
    done = [o for o in ops if o.type in ("ok", "fail")]
    if done:
        o = rng.choice(done)
        if o.type == "fail":
            o.type = "ok"
        elif isinstance(o.value, list):
            o.value = o.value[1:] if o.value else [0]
        elif isinstance(o.value, str):
            o.value = o.value[::-1] + "y"
        elif o.value is None:
            o.value = 1 if o.f != "acquire" else None
            o.type = "fail" if o.f == "acquire" else o.type
        else:
            o.value = o.value + 1
    return ops


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_other_models_agree_with_brute_force(name, engine):
    model = MODELS[name]
    rng = random.Random(name)
    verdicts = {True: 0, False: 0}
    for n in range(300):
        history = simulated_object(rng, name, rng.randint(1, 7), rng.randint(1, 4))
        if rng.random() < 0.5:
            history = _mutate_any(rng, history)
        expected = brute_force(history, model)
        got = check(history, {"model": model, "engine": engine})
        assert got["valid"] is expected, (n, [o.to_dict() for o in history], got["reason"])
        verdicts[expected] += 1
    assert verdicts[True] > 30 and verdicts[False] > 30, verdicts


def test_reads_from_witness_is_sound_and_usually_found():
    """With cas, the fast path builds a linearization from the reads-from chains and checks it:
    it must never call an invalid history valid, and should find most valid ones."""
    from checkers.linearizable import readsfrom
    from checkers.linearizable.wgl import Budget, search

    model = MODELS["cas-register"]
    rng = random.Random(12)
    found = missed = 0
    for n in range(400):
        history = simulated_register(rng, rng.randint(10, 40), rng.randint(2, 6), True, True)
        mutated = rng.random() < 0.5
        if mutated:
            history = mutate(rng, history)
        for part in partitions(history, model):
            entries = readsfrom.drop_unobserved_writes(part.entries)
            exact = search(entries, Partition(part.key, entries).events(), model, Budget()).status == "valid"
            if readsfrom.witness(entries):
                assert exact, (n, [o.to_dict() for o in history])
                found += 1
            elif exact and not mutated:
                missed += 1
    assert found > 100 and missed < found // 10, (found, missed)
