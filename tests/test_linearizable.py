"""The linearizability checker: corpus verdicts, models, keyed histories, budgets, evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.history import Op, with_indices

from harness.history_reader import read_history
from checkers.linearizable import MODELS, Model, check
from checkers.linearizable.models import multi_register
from checkers.linearizable.wgl import _wglc

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
if not CORPORA.is_dir():
    CORPORA = Path("/work/shared/corpora")

ENGINES = ["python"] + (["c"] if _wglc is not None else [])


def _corpus_cases():
    cases = []
    for verdict in ("good", "bad"):
        for path in sorted((CORPORA / "knossos" / "cas-register" / verdict).glob("*.edn")):
            cases.append((path, "cas-register", verdict == "good"))
    for path in sorted((CORPORA / "knossos" / "mutex" / "bad").glob("*.edn")):
        cases.append((path, "mutex", False))
    for path in sorted((CORPORA / "knossos" / "multi-register" / "good").glob("*.edn")):
        # As the file's own comment says (and Knossos's test): registers x and y start at 0.
        cases.append((path, multi_register({"x": 0, "y": 0}), True))
    for path in sorted((CORPORA / "porcupine-kv").glob("*.txt")):
        cases.append((path, "kv", path.stem.endswith("-ok")))
    return cases


CORPUS = _corpus_cases()


def _corpus_params():
    params = []
    for path, model, expected in CORPUS:
        for engine in ENGINES:
            # The pure-Python search takes seconds on the 50-client kv histories.
            marks = [pytest.mark.slow] if engine == "python" and path.name.startswith("c50") else []
            params.append(pytest.param(path, model, expected, engine, marks=marks,
                                       id=f"{path.parent.parent.name}/{path.parent.name}/{path.name}-{engine}"))
    return params


def test_corpus_is_there():
    assert len(CORPUS) > 120, f"expected the shared corpora under {CORPORA}"


@pytest.mark.parametrize("path,model,expected,engine", _corpus_params())
def test_corpus_verdict(path, model, expected, engine):
    result = check(read_history(path), {"model": model, "engine": engine})
    assert result["valid"] is expected, result["reason"]
    json.dumps(result)  # the report reads it as JSON
    if not expected:
        assert result["failed_ops"] and result["window"], result
        assert result["reason"].startswith("not linearizable")


# --- small hand-made histories ------------------------------------------------------------------


def _history(*events) -> list[Op]:
    """Events as (process, type, f, value[, key])."""
    ops = []
    for event in events:
        process, type_, f, value, *key = event
        ops.append(Op(type_, f, value, process, extra={"key": key[0]} if key else {}))
    return ops


STALE_READ = _history(
    (0, "invoke", "write", 1), (0, "ok", "write", 1),
    (1, "invoke", "write", 2), (1, "ok", "write", 2),
    (2, "invoke", "read", None), (2, "ok", "read", 1),
)


@pytest.mark.parametrize("engine", ENGINES)
def test_stale_read_evidence(engine):
    result = check(STALE_READ, {"model": "register", "engine": engine})
    assert result["valid"] is False and result["anomalies"] == ["nonlinearizable"]
    assert result["failed_ops"][0]["f"] == "read" and result["failed_ops"][0]["value"] == 1
    prefix = result["prefixes"][0]
    assert [op["value"] for op in prefix["ops"]] == [1, 2]
    assert prefix["states"] == [1, 2]
    assert result["state_before"] == 2
    # write 2 then read 1 is already not linearizable on its own.
    assert [(op["type"], op["value"]) for op in result["window"]] == [
        ("invoke", 2), ("ok", 2), ("invoke", None), ("ok", 1)]
    assert result["key"] is None and result["keys_checked"] == 1 and result["op_count"] == 3
    # The same, declared as evidence for the report.
    [window] = result["evidence"]
    assert (window["kind"], window["model"], window["key"]) == ("window", "register", None)
    assert window["failed"] == result["failed_ops"] and window["window"] == result["window"]
    assert window["prefix"] == {"ops": prefix["ops"], "states": [1, 2], "omitted": 0}
    assert window["state_before"] == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_values_nobody_read_are_shown_as_such(engine):
    # A cas keeps this partition from the fast path; write 2 is never read nor expected.
    history = [
        Op("invoke", "write", 1, 0), Op("ok", "write", 1, 0),
        Op("invoke", "write", 2, 0), Op("ok", "write", 2, 0),
        Op("invoke", "cas", [7, 8], 1), Op("fail", "cas", [7, 8], 1),
        Op("invoke", "read", None, 2), Op("ok", "read", 1, 2),
    ]
    result = check(history, {"model": "cas-register", "failed_cas": "observed", "engine": engine})
    assert result["valid"] is False
    assert result["prefixes"][0]["states"] == [1, "(a value no read observed)", "(a value no read observed)"]
    json.dumps(result)


def test_indeterminate_ops_may_or_may_not_happen():
    crashed_write = [
        Op("invoke", "write", 5, 0), Op("info", "write", 5, 0),
        Op("invoke", "read", None, 1), Op("ok", "read", 5, 1),
        Op("invoke", "read", None, 2), Op("ok", "read", 5, 2),
    ]
    assert check(crashed_write, {"model": "register"})["valid"] is True
    never_seen = [Op("invoke", "cas", [3, 4], 0), Op("invoke", "read", None, 1), Op("ok", "read", None, 1)]
    assert check(never_seen, {"model": "cas-register"})["valid"] is True
    # A crashed write cannot take effect before it was invoked.
    too_early = [Op("invoke", "read", None, 1), Op("ok", "read", 5, 1), Op("invoke", "write", 5, 0)]
    assert check(too_early, {"model": "register"})["valid"] is False


def test_failed_cas_readings():
    # cas [1 2] fails while the register holds 1: impossible if it observed a value, fine if absent.
    history = [
        Op("invoke", "write", 1, 0), Op("ok", "write", 1, 0),
        Op("invoke", "cas", [1, 2], 1), Op("fail", "cas", [1, 2], 1),
    ]
    assert check(history, {"model": "cas-register"})["valid"] is True
    assert check(history, {"model": "cas-register", "failed_cas": "observed"})["valid"] is False
    with pytest.raises(ValueError, match="failed_cas"):
        check(history, {"failed_cas": "maybe"})


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="known models: .*cas-register"):
        check(STALE_READ, {"model": "nope"})


@pytest.mark.parametrize(
    "model,good,bad",
    [
        ("mutex",
         [(0, "invoke", "acquire", None), (0, "ok", "acquire", None), (0, "invoke", "release", None),
          (1, "invoke", "acquire", None), (0, "ok", "release", None), (1, "ok", "acquire", None)],
         [(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
          (1, "invoke", "acquire", None), (1, "ok", "acquire", None)]),
        ("set",
         [(0, "invoke", "add", 1), (1, "invoke", "read", None), (1, "ok", "read", [1]), (0, "ok", "add", 1)],
         [(0, "invoke", "add", 1), (0, "ok", "add", 1), (1, "invoke", "read", None), (1, "ok", "read", [])]),
        ("fifo-queue",
         [(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1), (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
          (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 1)],
         [(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1), (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
          (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 2)]),
        ("unordered-queue",
         [(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1), (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
          (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 2)],
         [(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1), (1, "invoke", "dequeue", None),
          (1, "ok", "dequeue", 1), (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 1)]),
        ("multi-register",
         [(0, "invoke", "txn", [["write", "x", 1], ["write", "y", 2]]),
          (0, "ok", "txn", [["write", "x", 1], ["write", "y", 2]]),
          (1, "invoke", "txn", [["read", "x", None], ["read", "y", None]]),
          (1, "ok", "txn", [["read", "x", 1], ["read", "y", 2]])],
         [(0, "invoke", "txn", [["write", "x", 1], ["write", "y", 2]]),
          (1, "invoke", "txn", [["read", "x", None], ["read", "y", None]]),
          (1, "ok", "txn", [["read", "x", 1], ["read", "y", None]]),
          (0, "ok", "txn", [["write", "x", 1], ["write", "y", 2]])]),
        ("kv",
         [(0, "invoke", "put", "a", "k"), (0, "ok", "put", "a", "k"), (0, "invoke", "append", "b", "k"),
          (1, "invoke", "get", None, "k"), (1, "ok", "get", "ab", "k"), (0, "ok", "append", "b", "k")],
         [(0, "invoke", "append", "a", "k"), (0, "ok", "append", "a", "k"),
          (1, "invoke", "get", None, "j"), (1, "ok", "get", "a", "j")]),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_models(model, good, bad, engine):
    assert check(_history(*good), {"model": model, "engine": engine})["valid"] is True
    result = check(_history(*bad), {"model": model, "engine": engine})
    assert result["valid"] is False
    json.dumps(result)


def test_keyed_tuples_split_by_key():
    history = [
        Op("invoke", "write", ["a", 1], 0), Op("ok", "write", ["a", 1], 0),
        Op("invoke", "write", ["b", 2], 1), Op("ok", "write", ["b", 2], 1),
        Op("invoke", "read", ["a", None], 2), Op("ok", "read", ["a", 1], 2),
        Op("invoke", "read", ["b", None], 3), Op("ok", "read", ["b", 1], 3),
    ]
    result = check(history, {"model": "cas-register", "keyed": True})
    assert result["valid"] is False and result["key"] == "b" and result["keys_checked"] == 2
    assert check(history[:6], {"model": "cas-register", "keyed": True})["valid"] is True
    with pytest.raises(ValueError, match=r"\[key, value\]"):
        check([Op("invoke", "write", 3, 0)], {"keyed": True})


def test_nemesis_ops_are_ignored():
    history = [Op("info", "start-partition", None, "nemesis"), *STALE_READ[:4]]
    assert check(history, {"model": "register"})["valid"] is True


def _wide_history(n_procs: int, rounds: int) -> list[Op]:
    """Many concurrent writes with a read of each value in between: a large search space."""
    ops = []
    for r in range(rounds):
        for p in range(n_procs):
            ops.append(Op("invoke", "write", r * n_procs + p, p))
        for p in range(n_procs):
            ops.append(Op("ok", "write", r * n_procs + p, p))
    ops.append(Op("invoke", "read", None, n_procs))
    ops.append(Op("ok", "read", -1, n_procs))  # never written: invalid, but only after a full search
    return ops


@pytest.mark.parametrize("engine", ENGINES)
def test_time_limit_gives_unknown_with_progress(engine):
    history = [Op("invoke", "cas", [None, 0], 99), *_wide_history(24, 1)]
    result = check(history, {"model": "cas-register", "time_limit": 0.2, "engine": engine})
    assert result["valid"] == "unknown"
    assert "time limit" in result["reason"]
    assert result["progress"]["steps"] > 0 and result["progress"]["of"] > 0


def test_memory_limit_gives_unknown():
    history = [Op("invoke", "cas", [None, 0], 99), *_wide_history(24, 1)]
    result = check(history, {"model": "cas-register", "memory_limit": 1 << 20, "time_limit": 60})
    assert result["valid"] == "unknown"
    assert "memory limit" in result["reason"]


def _keyed_register(keys: int, bad_key: int | None) -> list[Op]:
    ops = []
    for k in range(keys):
        ops += [Op("invoke", "write", [k, 1], 0), Op("ok", "write", [k, 1], 0),
                Op("invoke", "write", [k, 2], 1), Op("ok", "write", [k, 2], 1),
                Op("invoke", "read", [k, None], 2), Op("ok", "read", [k, 1 if k == bad_key else 2], 2)]
    return ops


@pytest.mark.parametrize("engine", ENGINES)
def test_worker_processes_find_the_invalid_key(monkeypatch, engine):
    import multiprocessing

    from checkers.linearizable import checker

    # Workers normally start only for partitions that proved hard; here, at once. The keyed
    # histories use cas so that the search (not the reads-from fast path) decides.
    monkeypatch.setattr(checker, "PARALLEL_AFTER_STEPS", 0)
    bad = _keyed_register(40, bad_key=33)
    bad.insert(0, Op("invoke", "cas", [33, [7, 8]], 99))
    result = check(bad, {"model": "cas-register", "keyed": True, "workers": 2, "engine": engine})
    assert result["valid"] is False and result["key"] == 33
    assert result["window"] and result["prefixes"][0]["ops"]
    good = _keyed_register(40, None) + [Op("invoke", "cas", [k, [7, 8]], 100 + k) for k in range(40)]
    assert check(good, {"model": "cas-register", "keyed": True, "workers": 2, "engine": engine})["valid"] is True
    assert not multiprocessing.active_children()


def test_user_model():
    def counter_step(state, op):
        if op.f == "add":
            return True, state + op.value
        if op.f == "read":
            return op.value == state, state
        return False, state

    counter = Model("counter", init=lambda: 0, step=counter_step, observes_only=lambda op: op.f == "read")
    history = [Op("invoke", "add", 2, 0), Op("invoke", "read", None, 1), Op("ok", "read", 2, 1), Op("ok", "add", 2, 0)]
    assert check(history, {"model": counter})["valid"] is True
    assert check(history[:1] + [Op("invoke", "read", None, 1), Op("ok", "read", 3, 1)], {"model": counter})[
        "valid"] is False


def test_every_model_is_registered():
    assert sorted(MODELS) == sorted(
        ["register", "cas-register", "mutex", "set", "fifo-queue", "unordered-queue", "multi-register", "kv"])


# --- the fast EDN path the checker relies on for speed --------------------------------------------


def test_fast_edn_reader_agrees_with_the_general_one():
    from harness import edn

    for path in sorted(CORPORA.glob("**/*.edn")) + sorted(CORPORA.glob("**/*.txt")):
        if path.stat().st_size > 1 << 20:
            continue  # the general reader takes seconds on elle's 2.8 MB history
        text = path.read_text()
        assert edn.fast_records(text) == [v for _, v in edn.records(text)], path
    tricky = ['  {:a 1}  \n ', '{:a 1} ; c :x', '{:a 1}\n;; {:b 2}\n', ';x\n{:a 1}', '{:a "; {:b 1}"}',
              '{:a "x\\"y"}', '[{:a 1.5e3 :b -2 :c nil :d true}]', '{:a ""}', '[]', '']
    for text in tricky:
        assert edn.fast_records(text) == [v for _, v in edn.records(text)], text
    # Outside the fast subset, or malformed: None, and the general reader decides.
    for text in ['[{:a #{1}}]', '{:a 0x1f}', '{:a 1N}', '{:a sym}', '{:a \\c}', '[{:a 1} {:b}]', '{:a 1}\n{:b 2',
                 '{:a 1} ]', '{:a "open}']:
        assert edn.fast_records(text) is None, text


@pytest.mark.skipif(_wglc is None, reason="the C accelerator is not built")
def test_both_engines_give_the_same_evidence():
    for path, model, expected in CORPUS:
        if expected or path.name.startswith("c50"):
            continue
        history = read_history(path)
        by_c = check(history, {"model": model})
        by_python = check(history, {"model": model, "engine": "python"})
        for field in ("valid", "key", "failed_ops", "prefixes", "state_before", "window", "reason", "evidence"):
            assert by_c[field] == by_python[field], (path, field)


# --- values of the wrong shape are bad input, not violations (issue 11) --------------------------


@pytest.mark.parametrize(
    "model, events, words",
    [
        ("register", [(0, "invoke", "add", 1), (0, "ok", "add", 1)], "f 'add' is not an operation of the register model (read, write)"),
        ("cas-register", [(0, "invoke", "cas", 1), (0, "ok", "cas", 1)], "a cas value must be [expected, new], found 1"),
        ("cas-register", [(0, "invoke", "cas", [1, 2, 3]), (0, "ok", "cas", [1, 2, 3])], "a cas value must be [expected, new]"),
        ("set", [(0, "invoke", "read", None), (0, "ok", "read", "0123")], "a read's value must be a list of elements, found '0123'"),
        ("set", [(0, "invoke", "add", [1]), (0, "ok", "add", [1])], "an added element must be an integer or a string"),
        ("multi-register", [(0, "invoke", "txn", [["read", "x"]]), (0, "ok", "txn", [["read", "x"]])], "a txn value must be a list of [read|write key value]"),
        ("multi-register", [(0, "invoke", "txn", 5), (0, "ok", "txn", 5)], "a txn value must be a list"),
        ("kv", [(0, "invoke", "append", 5, "k"), (0, "ok", "append", 5, "k")], "a append's value must be a string, found 5"),
        ("kv", [(0, "invoke", "get", None, "k"), (0, "ok", "get", None, "k")], "a get's result must be a string, found None"),
        ("mutex", [(0, "invoke", "lock", None), (0, "ok", "lock", None)], "f 'lock' is not an operation of the mutex model"),
    ],
)
def test_a_value_the_model_cannot_take_is_bad_input(model, events, words):
    from checkers.linearizable import BadHistory

    with pytest.raises(BadHistory) as e:
        check(with_indices(_history(*events)), {"model": model})
    assert words in str(e.value)
    assert str(e.value).startswith("op ")  # which op; from a file, also its line (test_reliability_reader)


def test_a_bad_value_read_from_a_file_names_its_line(tmp_path):
    from checkers.linearizable import BadHistory

    path = tmp_path / "h.edn"
    path.write_text("{:process 0 :type :invoke :f :cas :value 1}\n{:process 0 :type :ok :f :cas :value 1}\n")
    with pytest.raises(BadHistory, match=rf"^{path}:2: op 1: a cas value must be \[expected, new\]"):
        check(read_history(path), {"model": "cas-register"})


def _crashed_writes_then_reads(reads: int) -> list[Op]:
    """30 writes of 1 or 2 that never complete, then `reads` reads alternating 1, 2: each read
    needs a write of its own, so 30 reads fit and 31 do not."""
    ops = [Op("invoke", "write", 1 + p % 2, p) for p in range(30)]
    for j in range(reads):
        ops += [Op("invoke", "read", None, 100), Op("ok", "read", 1 + j % 2, 100)]
    return ops


@pytest.mark.skipif(_wglc is None, reason="the C accelerator is not built")
@pytest.mark.parametrize("reads, valid", [(30, True), (31, False)])
def test_crashed_writes_of_one_value_are_counted_not_enumerated(reads, valid):
    """The C search places crashed ops the model cannot tell apart earliest first (wgl._twins),
    so it never stores each of the 2**30 subsets of the crashed writes: before that rule, the
    invalid history ran into any memory limit (tests/test_linearizable_memory.py used it)."""
    result = check(with_indices(_crashed_writes_then_reads(reads)),
                   {"model": "cas-register", "memory_limit": 200 << 20, "time_limit": 120})
    assert result["valid"] is valid, result["reason"]
