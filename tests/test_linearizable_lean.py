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
