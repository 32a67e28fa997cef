"""The kv log lean path (checkers/linearizable/kv_log.py) answers as the general path does, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkers.linearizable import kv_log
from checkers.linearizable.checker import check, check_file
from checkers.linearizable.wgl import accelerated
from harness import judge
from harness.history import HistoryError
from harness.history_reader import read_history
from harness.seams import HarnessError

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
if not CORPORA.is_dir():
    CORPORA = Path("/work/shared/corpora")
KV_FILES = sorted((CORPORA / "porcupine-kv").glob("*.txt"))
ENGINES = ["python"] + (["c"] if accelerated() else [])


def _params():
    params = []
    for path in KV_FILES:
        for engine in ENGINES:
            # The pure-Python search takes seconds on the 50-client histories.
            marks = [pytest.mark.slow] if engine == "python" and path.name.startswith("c50") else []
            params.append(pytest.param(path, engine, marks=marks, id=f"{path.name}-{engine}"))
    return params


def _general(path: Path, options: dict, monkeypatch) -> dict:
    with monkeypatch.context() as m:
        m.setattr(judge, "_from_file", lambda *_: None)
        return judge.analyze(path, {"linearizable": options})


def test_the_corpus_is_there():
    assert len(KV_FILES) == 6, f"expected Porcupine's kv logs under {CORPORA}"


@pytest.mark.parametrize("path", KV_FILES, ids=lambda p: p.name)
def test_the_ops_are_those_the_general_reader_gives(path):
    assert kv_log.read(path) == list(read_history(path))


@pytest.mark.parametrize("path,engine", _params())
def test_same_verdict_evidence_and_stats_as_the_general_path(path, engine, monkeypatch):
    options = {"model": "kv", "engine": engine}
    lean = check_file(path, options)
    general = _general(path, options, monkeypatch)
    expected = path.stem.endswith("-ok")
    assert general["checkers"]["linearizable"]["valid"] is expected
    if expected and lean is None:
        # Only the pure-Python search on the 50-client log may, on a loaded machine, pass the
        # lean attempt's time (kv_log.LEAN_SECONDS): the general path then answers, as below.
        assert engine == "python" and path.name.startswith("c50"), "a valid kv log in Porcupine's form takes the lean path"
    elif expected:
        result, stats = lean
        assert result == general["checkers"]["linearizable"]
        assert stats == general["stats"]
    else:
        assert lean is None, "only a valid answer comes from the lean path"
    assert judge.analyze(path, {"linearizable": options}) == general  # the whole answer, evidence included


LINES = [
    '{:process 0, :type :invoke, :f :put, :key "a", :value "x"}',
    '{:process 1, :type :invoke, :f :get, :key "a", :value nil}',
    '{:process 0, :type :ok, :f :put, :key "a", :value "x"}',
    '{:process 1, :type :ok, :f :get, :key "a", :value "x"}',
]


@pytest.mark.parametrize("change", [
    lambda lines: [lines[0].replace('"x"', '"x\\"y"'), *lines[1:]],  # an escape in a string
    lambda lines: [lines[0], "", *lines[1:]],  # a blank line
    lambda lines: [lines[0].replace("}", ", :time 5}"), *lines[1:]],  # another field
    lambda lines: [lines[0], lines[0], *lines[1:]],  # a process invoking twice: a shape rule
    lambda lines: ["; a comment", *lines],
    lambda lines: [*lines[:3], lines[3].replace('"x"}', '"y"}')],  # not linearizable
], ids=["escape", "blank", "field", "invokes-twice", "comment", "invalid"])
def test_anything_else_goes_to_the_general_path(tmp_path, change):
    path = tmp_path / "kv.txt"
    path.write_text("\n".join(LINES) + "\n")
    assert check_file(path, {"model": "kv"}) is not None  # the unchanged log is taken
    path.write_text("\n".join(change(LINES)) + "\n")
    assert check_file(path, {"model": "kv"}) is None


def test_a_bad_value_is_named_by_the_general_path(tmp_path):
    path = tmp_path / "kv.txt"
    path.write_text("\n".join([*LINES[:3], LINES[3].replace('"x"}', "nil}")]) + "\n")
    assert check_file(path, {"model": "kv"}) is None
    with pytest.raises(HarnessError, match="kv.txt:4: .*a get's result must be a string"):
        judge.analyze(path, {"linearizable": {"model": "kv"}})


def test_a_broken_shape_rule_is_named_by_the_general_path(tmp_path):
    path = tmp_path / "kv.txt"
    path.write_text("\n".join([LINES[0], LINES[0], *LINES[1:]]) + "\n")
    with pytest.raises(HistoryError, match="kv.txt.*2.*invokes again"):
        judge.analyze(path, {"linearizable": {"model": "kv"}})


def test_other_models_do_not_take_it(tmp_path):
    path = tmp_path / "kv.txt"
    path.write_text("\n".join(LINES) + "\n")
    assert check_file(path, {"model": "register"}) is None
    assert check(kv_log.read(path), {"model": "kv"})["valid"] is True


def test_a_log_that_takes_long_is_left_to_the_general_path(monkeypatch):
    path = CORPORA / "porcupine-kv" / "c50-ok.txt"
    monkeypatch.setattr(kv_log, "LEAN_SECONDS", 0.0)  # its search needs far more than one time check's steps
    assert check_file(path, {"model": "kv"}) is None
    results = judge.analyze(path, {"linearizable": {"model": "kv"}})
    assert results["checkers"]["linearizable"]["valid"] is True
