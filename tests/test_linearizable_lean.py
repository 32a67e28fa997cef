"""The lean path (checkers/linearizable/lean.py) answers as the general path does, or not at all."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pytest

from checkers.linearizable import check
from checkers.linearizable.lean import check_file
from checkers.linearizable.wgl import accelerated
from harness.history_reader import read_history
from harness.judge import analyze

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.linearizability import generated_register  # noqa: E402

pytestmark = pytest.mark.skipif(not accelerated(), reason="the lean path needs the C search")
OPTIONS = {"model": "cas-register", "keyed": True}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.fixture
def valid_rows() -> list[dict]:
    return [op.to_dict() for op in generated_register(3000, 30, 8, seed=7)]


def test_lean_verdict_matches_the_general_path(tmp_path, valid_rows):
    path = _write(tmp_path / "h.jsonl", valid_rows)
    for failed_cas in ("absent", "observed"):
        options = {**OPTIONS, "failed_cas": failed_cas}
        lean, stats = check_file(path, options)
        general = check(read_history(path), options)
        assert lean["valid"] is True and general["valid"] is True
        assert (lean["op_count"], lean["keys_checked"]) == (general["op_count"], general["keys_checked"])
    from harness.judge import history_stats
    assert stats == history_stats(read_history(path))


def test_an_invalid_history_goes_to_the_general_path_and_keeps_its_evidence(tmp_path, valid_rows):
    rows = valid_rows + [
        {"type": "invoke", "f": "write", "value": [0, 999999], "process": 500},
        {"type": "ok", "f": "write", "value": [0, 999999], "process": 500},
        {"type": "invoke", "f": "read", "value": [0, None], "process": 501},
        {"type": "ok", "f": "read", "value": [0, 424242], "process": 501},
    ]
    path = _write(tmp_path / "bad.jsonl", rows)
    assert check_file(path, OPTIONS) is None
    results = analyze(path, {"linearizable": OPTIONS})
    found = results["checkers"]["linearizable"]
    assert found["valid"] is False and found["evidence"][0]["kind"] == "window"


@pytest.mark.parametrize("change", [
    lambda rows: rows[3].update(extra_field=1),  # a field the journal does not write
    lambda rows: rows.insert(5, dict(rows[4])),  # the process invokes again while open
    lambda rows: rows.insert(0, {"type": "ok", "f": "read", "value": [1, None], "process": 9}),  # no invoke
    lambda rows: rows.append({"type": "info", "f": "kill", "process": "nemesis",
                              "value": json.loads("[" * 120 + "]" * 120)}),  # nested too deep
    lambda rows: rows[2].update(time=-1),
    lambda rows: next(r for r in rows if r["f"] == "write").update(value=[0, 1.5]),  # not int or str
])
def test_anything_unusual_goes_to_the_general_path(tmp_path, valid_rows, change):
    rows = [dict(r) for r in valid_rows]
    change(rows)
    assert check_file(_write(tmp_path / "h.jsonl", rows), OPTIONS) is None


def test_a_huge_integer_goes_to_the_general_path(tmp_path, valid_rows):
    path = _write(tmp_path / "h.jsonl", valid_rows)
    path.write_bytes(path.read_bytes() + b'{"type": "info", "f": "x", "process": "nemesis", "value": 123456789012345678901234}\n')
    assert check_file(path, OPTIONS) is None


def test_the_python_engine_and_other_models_take_the_general_path(tmp_path, valid_rows):
    path = _write(tmp_path / "h.jsonl", valid_rows)
    assert check_file(path, {**OPTIONS, "engine": "python"}) is None
    assert check_file(path, {"model": "cas-register"}) is None
    assert check_file(path, {**OPTIONS, "model": "kv"}) is None


def test_lines_split_across_blocks_and_odd_lines(tmp_path, valid_rows, monkeypatch):
    from checkers.linearizable import lean
    monkeypatch.setattr(lean, "BLOCK_BYTES", 777)  # many blocks, lines cut at their edges
    path = _write(tmp_path / "h.jsonl", valid_rows)
    assert check_file(path, OPTIONS)[0]["op_count"] == check(read_history(path), OPTIONS)["op_count"]
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # no newline after the last line: still read
    assert check_file(path, OPTIONS) is not None
    text = path.read_bytes().split(b"\n")
    two = b"\n".join(text[:5] + [text[5] + b", " + text[6]] + text[7:])  # two ops on one line
    path.write_bytes(two)
    assert check_file(path, OPTIONS) is None
    path.write_bytes(b"\n".join(text) + b"\n{\"type\": \"inv")  # a torn last line
    assert check_file(path, OPTIONS) is None


# ---- the C reader (_wglc.check_journal) against the orjson decoding of the same file ----------

def _both_ways(path: Path, options: dict, monkeypatch) -> tuple:
    """(the C reader's answer, the orjson path's answer) to lean.check_file."""
    from checkers.linearizable import lean
    in_c = check_file(path, options)
    with monkeypatch.context() as m:
        m.setattr(lean, "_check_in_c", lambda *args: lean._NOT_TAKEN)
        decoded = check_file(path, options)
    return in_c, decoded


def _c_answer(path: Path, options: dict):
    from checkers.linearizable import lean
    from checkers.linearizable.models import MODELS
    return lean._check_in_c(path, MODELS[options["model"]], options.get("failed_cas") or "absent", options)


@pytest.mark.parametrize("seed", range(12))
def test_the_c_reader_answers_as_the_decoded_path(tmp_path, seed, monkeypatch):
    import random
    rng = random.Random(seed)
    rows = [op.to_dict() for op in generated_register(rng.choice([300, 2100]), rng.choice([1, 3, 30]),
                                                      rng.choice([2, 5, 20]), seed=seed)]
    if seed % 3 == 1:  # a stale read somewhere: not linearizable
        reads = [r for r in rows if r["type"] == "ok" and r["f"] == "read" and r["value"][1] is not None]
        reads[len(reads) // 2]["value"] = [reads[len(reads) // 2]["value"][0], 10**6]
    if seed % 4 == 2:  # string keys and values, an index on every line, a nemesis in between
        for i, r in enumerate(rows):
            r["index"] = i * 2
            k, v = r["value"]
            r["value"] = [f"k{k}", [str(x) for x in v] if isinstance(v, list) else v if v is None else str(v)]
        rows.insert(7, {"index": 13, "type": "info", "process": "nemesis", "f": "start",
                        "value": {"n1": [0.25, -3, None, True, {"x": "y"}], "e": 1e3}, "time": None})
    path = _write(tmp_path / "h.jsonl", rows)
    for model in ("cas-register", "register"):
        for failed_cas in ("absent", "observed"):
            options = {"model": model, "keyed": True, "failed_cas": failed_cas}
            in_c, decoded = _both_ways(path, options, monkeypatch)
            assert in_c == decoded
            if model == "cas-register":
                assert _c_answer(path, options) is not lean_not_taken()  # the C reader took the file
                general = check(read_history(path), options)["valid"]
                assert (in_c is not None) == (general is True)


def lean_not_taken():
    from checkers.linearizable import lean
    return lean._NOT_TAKEN


@pytest.mark.parametrize("line", [
    b'{"type": "invoke", "f": "write", "value": [0, true], "process": 1}',  # true == 1 in Python
    b'{"type": "invoke", "f": "write", "value": [0, "a\\u0062"], "process": 1}',  # an escape
    b'{"type": "invoke", "f": "write", "value": [0, "\xc3\xa9"], "process": 1}',  # past ASCII
    b'{"type": "invoke", "f": "write", "value": [0, 1], "process": 1, "process": 2}',  # a field twice
    b'{"type": "invoke", "f": "write", "value": [0, 12345678901234567890], "process": 1}',
    b'{"type": "invoke", "f": "write", "value": [0, 1.0], "process": 1}',
    b'{"type": "invoke", "f": "write", "value": [0, [1, 2]], "process": 1}',  # a pair written
    b'{"type": "invoke", "f": "add", "value": [0, 1], "process": 1}',
    b'',
])
def test_what_the_c_reader_does_not_take_is_decoded_the_other_way(tmp_path, valid_rows, line, monkeypatch):
    path = _write(tmp_path / "h.jsonl", valid_rows)
    path.write_bytes(path.read_bytes() + line + b"\n")
    assert _c_answer(path, OPTIONS) is lean_not_taken()
    in_c, decoded = _both_ways(path, OPTIONS, monkeypatch)
    assert in_c == decoded


def test_the_c_reader_reads_lines_across_its_blocks(tmp_path, monkeypatch):
    rows = [op.to_dict() for op in generated_register(20000, 100, 10, seed=3)]  # over 1 MB: several blocks
    rows.insert(100, {"type": "info", "process": "nemesis", "f": "note", "value": "x" * (3 << 20)})  # a long line
    path = _write(tmp_path / "h.jsonl", rows)
    in_c, decoded = _both_ways(path, OPTIONS, monkeypatch)
    assert in_c is not None and in_c == decoded
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # no newline after the last line
    assert _c_answer(path, OPTIONS) == _c_answer(path, OPTIONS) and check_file(path, OPTIONS) == in_c


@pytest.mark.parametrize("stale_read", [False, True])
def test_keys_too_hard_for_the_c_search_are_checked_the_general_way_on_their_lines(tmp_path, monkeypatch,
                                                                                  stale_read):
    from checkers.linearizable import journal
    rows = [op.to_dict() for op in generated_register(3000, 30, 20, seed=11)]
    if stale_read:
        reads = [r for r in rows if r["type"] == "ok" and r["f"] == "read" and r["value"][1] is not None]
        reads[-5]["value"] = [reads[-5]["value"][0], 10**6]
    rows.insert(50, {"type": "info", "process": "nemesis", "f": "start", "value": [0, 1]})  # not a key's line
    path = _write(tmp_path / "h.jsonl", rows)
    monkeypatch.setattr(journal, "KEY_STEPS", 25)  # most keys are "hard" now
    answer = check_file(path, OPTIONS)
    general = check(read_history(path), OPTIONS)
    if stale_read:
        assert answer is None and general["valid"] is False
        return
    lean, _ = answer
    assert lean["valid"] is True and general["valid"] is True
    assert (lean["op_count"], lean["keys_checked"]) == (general["op_count"], general["keys_checked"])
    assert lean["algorithm"] != "wgl"  # the general way's algorithms joined in


def test_a_completion_naming_another_key_is_not_taken_by_the_c_reader(tmp_path, valid_rows):
    rows = [dict(r) for r in valid_rows]
    done = next(r for r in rows if r["type"] == "ok" and r["f"] == "write")
    done["value"] = [done["value"][0] + 1, done["value"][1]]
    assert _c_answer(_write(tmp_path / "h.jsonl", rows), OPTIONS) is lean_not_taken()
