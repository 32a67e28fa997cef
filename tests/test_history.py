"""The history record, its journal and its readers: what every checker and `faultline analyze`
stand on. A controller killed mid-run must lose nothing it recorded; a malformed file must be
named with its line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.history import NEMESIS, HistoryError, Op, pair_calls, with_indices

from harness.history_reader import read_history

from harness.journal import HistoryWriter, encode_op, write_history

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(__file__).parents[2] / "shared" / "corpora"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the Op record -------------------------------------------------------------------------


def test_op_round_trips_through_a_dict_keeping_extra_fields() -> None:
    op = Op(
        type="ok", f="put", value="v1", process=3, time=1_500, index=7, node="n2",
        error="timeout", extra={"key": "k1", "attempt": 2},
    )
    d = op.to_dict()
    assert d == {
        "index": 7, "time": 1_500, "type": "ok", "process": 3, "f": "put", "value": "v1",
        "node": "n2", "error": "timeout", "key": "k1", "attempt": 2,
    }
    assert Op.from_dict(d) == op
    assert Op.from_dict(json.loads(encode_op(op))) == op


def test_to_dict_leaves_out_absent_optional_fields_but_keeps_value_and_process() -> None:
    d = Op(type="invoke", f="read").to_dict()
    assert d == {"type": "invoke", "process": None, "f": "read", "value": None}


def test_an_extra_field_never_overrides_a_core_one() -> None:
    op = Op(type="ok", f="read", process=1, extra={"type": "fail", "key": "k"})
    assert op.to_dict()["type"] == "ok"


def test_encoding_turns_sets_and_tuples_into_lists() -> None:
    op = Op(type="ok", f="read", process=0, value=frozenset({3}), extra={"pair": (1, 2)})
    assert json.loads(encode_op(op)) == {"type": "ok", "process": 0, "f": "read", "value": [3], "pair": [1, 2]}


def test_complete_keeps_process_f_node_and_the_invocations_value() -> None:
    invoke = Op(type="invoke", f="add", value=5, process=2, node="n1", extra={"key": "a"})
    done = invoke.complete("ok")
    assert (done.type, done.f, done.value, done.process, done.node, done.extra) == ("ok", "add", 5, 2, "n1", {"key": "a"})
    assert invoke.complete("ok", value=[1, 2]).value == [1, 2]
    assert invoke.complete("info", error="timed out").error == "timed out"


def test_is_client_tells_nemesis_ops_apart() -> None:
    assert Op(type="invoke", f="add", process=0).is_client
    assert not Op(type="info", f="kill", process=NEMESIS).is_client


# --- the journal ---------------------------------------------------------------------------


def test_writer_numbers_ops_and_each_is_on_disk_as_it_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "run" / "history.jsonl"  # the writer makes the directory
    writer = HistoryWriter(path, flush_each=True)
    try:
        for i in range(5):
            appended = writer.append(Op(type="invoke", f="add", value=i, process=i, time=i))
            assert appended.index == i
            # Another handle, the writer still open: the op must already be in the file.
            with open(path, encoding="utf-8") as reader:
                lines = reader.read().splitlines()
            assert len(lines) == i + 1
            assert json.loads(lines[-1])["index"] == i
            assert json.loads(lines[-1])["value"] == i
    finally:
        writer.close()
    assert [op.index for op in read_history(path)] == [0, 1, 2, 3, 4]
    assert [op.index for op in writer.ops] == [0, 1, 2, 3, 4]


def test_writer_without_flush_each_is_on_disk_after_flush(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path, flush_each=False) as writer:
        for i in range(3):
            writer.append(Op(type="invoke", f="add", value=i, process=i))
        writer.flush()
        assert len(path.read_text(encoding="utf-8").splitlines()) == 3
    writer.flush()  # after close: harmless


def test_writer_from_several_threads_numbers_ops_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    per_thread, threads = 300, 4

    def work(process: int) -> None:
        for i in range(per_thread):
            writer.append(Op(type="ok" if i % 2 else "invoke", f="add", value=(process, i), process=process))

    with HistoryWriter(path) as writer:
        workers = [threading.Thread(target=work, args=(p,)) for p in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    ops = read_history(path)
    assert [op.index for op in ops] == list(range(per_thread * threads))
    for p in range(threads):
        assert [op.value[1] for op in ops if op.process == p] == list(range(per_thread))


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from harness.history import Op
from harness.journal import HistoryWriter

path, count = Path(sys.argv[1]), int(sys.argv[2])
writer = HistoryWriter(path, flush_each=True)
for i in range(count):
    writer.append(Op(type="invoke", f="add", value=i, process=i, time=i))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_with_sigkill_loses_no_appended_op(tmp_path: Path) -> None:
    path, count = tmp_path / "history.jsonl", 2_000
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path), str(count)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    ops = read_history(path)
    assert len(ops) == count
    assert [op.index for op in ops] == list(range(count))
    assert [op.value for op in ops] == list(range(count))


def test_write_history_then_read_history(tmp_path: Path) -> None:
    ops = with_indices([
        Op(type="invoke", f="add", value=1, process=0, time=10),
        Op(type="ok", f="add", value=1, process=0, time=20, extra={"key": "x"}),
    ])
    path = tmp_path / "h.jsonl"
    write_history(path, ops)
    assert read_history(path) == ops


def test_with_indices_fills_only_missing_ones() -> None:
    ops = with_indices([Op(type="invoke", f="r"), Op(type="ok", f="r", index=40), Op(type="invoke", f="r")])
    assert [op.index for op in ops] == [0, 40, 2]


# --- reading JSONL and EDN -----------------------------------------------------------------


def test_read_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "h.jsonl", (
        '\n{"index":0,"time":5,"type":"invoke","process":0,"f":"add","value":1}\n\n'
        '{"index":1,"time":9,"type":"ok","process":0,"f":"add","value":1,"node":"n1"}\n'
        '{"index":2,"type":"info","process":"nemesis","f":"kill","value":["n2"]}\n'
    ))
    ops = read_history(path)
    assert [op.type for op in ops] == ["invoke", "ok", "info"]
    assert ops[1].node == "n1" and ops[1].time == 9
    assert ops[2].process == NEMESIS and ops[2].value == ["n2"]


def test_read_edn_vector_with_keywords_nil_sets_and_tagged_literals(tmp_path: Path) -> None:
    path = write(tmp_path, "h.edn", """[{:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value #{1 2 3}, :time 12}
 {:process :nemesis, :type :info, :f :start, :value [:isolated {"n1" #{"n2"}}]}
 {:process 1, :type :invoke, :f :write, :value 4}
 {:process 1, :type :info, :f :write, :value 4,
  :error #object[java.util.concurrent.TimeoutException 0x1f2e3d "timed out"]}
 #jepsen.history.Op{:time 99, :type :invoke, :process 2, :f :cas, :value [1 2]}]
""")
    ops = read_history(path)
    assert len(ops) == 6
    assert (ops[0].type, ops[0].f, ops[0].value, ops[0].process) == ("invoke", "read", None, 0)
    assert ops[1].value == frozenset({1, 2, 3}) and ops[1].time == 12
    assert ops[2].process == "nemesis" and not ops[2].is_client
    assert ops[2].value == ["isolated", {"n1": frozenset({"n2"})}]
    assert ops[4].error == {"tag": "object", "value": ["java.util.concurrent.TimeoutException", 0x1F2E3D, "timed out"]}
    assert (ops[5].index, ops[5].time, ops[5].f, ops[5].value) == (5, 99, "cas", [1, 2])


def test_read_edn_list_form(tmp_path: Path) -> None:
    path = write(tmp_path, "h.edn", "({:process 0 :type :invoke :f :read}\n {:process 0 :type :ok :f :read :value 3})")
    assert [(op.type, op.value) for op in read_history(path)] == [("invoke", None), ("ok", 3)]


def test_read_edn_one_map_a_line_with_comments_and_commas(tmp_path: Path) -> None:
    path = write(tmp_path, "h.edn", """; recorded by hand
{:process 0, :type :invoke, :f :put, :key "k1", :value "x"}, ; trailing comma and comment

{:process 0, :type :ok, :f :put, :key "k1", :value "x"}
""")
    ops = read_history(path)
    assert [(op.type, op.f, op.extra) for op in ops] == [("invoke", "put", {"key": "k1"}), ("ok", "put", {"key": "k1"})]


@pytest.mark.parametrize("text", ["", "\n\n", "; only a comment\n", "[]\n", "\ufeff"])
def test_an_empty_history_is_an_error_unless_allowed(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "empty.jsonl", text)
    with pytest.raises(HistoryError, match=r"empty.jsonl: empty history"):
        read_history(path)
    assert read_history(path, allow_empty=True) == []  # a report of a run stopped before its first op


def _corpus_files() -> list:
    if not CORPORA.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"reference corpora not found at {CORPORA} (CI clones shared/ beside the repo)"))]
    files = sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.suffix in (".edn", ".txt", ".jsonl"))
    return [pytest.param(p, id=str(p.relative_to(CORPORA))) for p in files]


@pytest.mark.parametrize("path", _corpus_files())
def test_every_reference_corpus_file_reads(path: Path) -> None:
    ops = read_history(path)
    assert ops, f"{path}: no ops read"
    assert all(op.type in ("invoke", "ok", "fail", "info") for op in ops)
    if path.parent.name == "porcupine-kv":
        assert all("key" in op.extra for op in ops)  # keyed checks need the key kept


# --- malformed input names the file and line -----------------------------------------------

GOOD_JSON = '{"type":"invoke","process":0,"f":"add","value":1}\n'


@pytest.mark.parametrize(
    "name, text, line, words",
    [
        ("corrupt.jsonl", GOOD_JSON * 2 + '{"type":"ok","process":0,"f":"add","value":1\n' + GOOD_JSON, 3, "not valid JSON"),
        ("badtype.jsonl", GOOD_JSON + '{"type":"done","process":0,"f":"add"}\n', 2, "op type"),
        ("notamap.jsonl", GOOD_JSON + "[1, 2]\n", 2, "must be a map"),
        ("badtime.jsonl", GOOD_JSON * 3 + '{"type":"ok","process":0,"f":"add","time":"soon"}\n', 4, "time"),
        ("badindex.jsonl", GOOD_JSON + '{"type":"ok","process":0,"f":"add","index":1.5}\n', 2, "index"),
        ("badprocess.jsonl", GOOD_JSON + '{"type":"ok","process":[0],"f":"add"}\n', 2, "process"),
        ("badtype.edn", "{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :read}\n{:type :bogus :process 0 :f :read}\n", 3, "op type"),
        ("badtype-vector.edn", "[{:type :invoke :process 0 :f :read}\n {:process 0 :f :read}]\n", 2, "op type"),
        ("unclosed-map.edn", "{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :read\n{:type :invoke :process 1 :f :read}\n", 2, "never closed"),
        ("unclosed-in-vector.edn", "[{:type :invoke :process 0 :f :read}\n {:type :ok :process 0 :f :read\n {:type :invoke :process 1 :f :read}\n {:type :ok :process 1 :f :read}]\n", 2, "never closed"),
        ("unclosed-vector.edn", "[{:type :invoke :process 0 :f :read}\n {:type :ok :process 0 :f :read}\n", 3, "never closed"),
        ("extra-closer.edn", "{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :read}}\n", 2, "unexpected"),
        ("badnumber.edn", "{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :read}\n{:type :invoke :process 1 :f :write}\n{:type :ok :process 1 :f :write :value 12x}\n", 4, "malformed number"),
        ("badnumber-vector.edn", "[{:type :invoke :process 0 :f :write :value 1.2.3}]", 1, "malformed number"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path: Path, name: str, text: str, line: int, words: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(HistoryError) as e:
        read_history(path)
    assert e.value.path == path
    assert e.value.line == line
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert words in str(e.value)


def test_a_missing_or_unreadable_file_is_a_history_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError) as e:
        read_history(tmp_path / "nowhere.jsonl")
    assert str(tmp_path / "nowhere.jsonl") in str(e.value) and e.value.line is None
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"type": "\xff\xfe"}\n')
    with pytest.raises(HistoryError, match="binary.jsonl"):
        read_history(binary)


# --- pairing invocations with completions --------------------------------------------------


def test_pair_calls_matches_completions_per_process() -> None:
    ops = with_indices([
        Op(type="invoke", f="write", value=1, process=0),
        Op(type="invoke", f="read", process=1),
        Op(type="ok", f="read", value=0, process=1),
        Op(type="fail", f="write", value=1, process=0),
        Op(type="invoke", f="write", value=2, process=0),
        Op(type="ok", f="write", value=2, process=0),
    ])
    calls = pair_calls(ops)
    assert [(c.invoke.index, c.completion.index, c.outcome) for c in calls] == [
        (0, 3, "fail"), (1, 2, "ok"), (4, 5, "ok"),
    ]


def test_a_never_completed_invocation_counts_as_info() -> None:
    ops = with_indices([
        Op(type="invoke", f="add", value=1, process=0),
        Op(type="invoke", f="add", value=2, process=1),
        Op(type="ok", f="add", value=2, process=1),
    ])
    first, second = pair_calls(ops)
    assert first.invoke.index == 0 and first.completion is None and first.outcome == "info"
    assert second.outcome == "ok"


def test_an_info_completion_pairs_with_its_invocation() -> None:
    ops = [Op(type="invoke", f="add", value=1, process=0), Op(type="info", f="add", value=1, process=0, error="timeout")]
    (call,) = pair_calls(ops)
    assert call.outcome == "info" and call.completion is ops[1]


def test_a_lone_nemesis_info_is_its_own_call() -> None:
    ops = with_indices([
        Op(type="invoke", f="add", value=1, process=0),
        Op(type="info", f="start", value="partition", process=NEMESIS),
        Op(type="ok", f="add", value=1, process=0),
        Op(type="invoke", f="stop", process=NEMESIS),
        Op(type="info", f="stop", value="healed", process=NEMESIS),
    ])
    calls = pair_calls(ops)
    assert [(c.invoke.index, c.completion.index if c.completion else None) for c in calls] == [(0, 2), (1, 1), (3, 4)]
    lone = calls[1]
    assert lone.invoke is lone.completion and lone.outcome == "info"


def test_json_with_spaces_after_the_brace_is_read_as_json(tmp_path) -> None:
    from harness.history_reader import read_history

    path = tmp_path / "spaced.jsonl"
    path.write_text('{ "type": "invoke", "process": 0, "f": "read", "value": null }\n')
    assert read_history(path)[0].f == "read"


def test_an_edn_ratio_dividing_by_zero_names_its_line(tmp_path) -> None:
    import pytest
    from harness.history import HistoryError
    from harness.history_reader import read_history

    path = tmp_path / "ratio.edn"
    path.write_text('{:type :invoke, :process 0, :f :read, :value nil}\n{:type :ok, :process 0, :f :read, :value 1/0}\n')
    with pytest.raises(HistoryError, match=r"ratio.edn:2:"):
        read_history(path)


# --- the shape of a history (issue 11) -----------------------------------------------------


def ops_text(*ops: dict) -> str:
    return "".join(json.dumps(op) + "\n" for op in ops)


INV = {"index": 0, "time": 0, "type": "invoke", "process": 0, "f": "add", "value": 1}
DONE = {"index": 1, "time": 5, "type": "ok", "process": 0, "f": "add", "value": 1}


@pytest.mark.parametrize(
    "second, line, words",
    [
        ({**DONE, "index": 0}, 2, "index 0 appears twice"),
        ({**INV, "index": 1}, 2, "process 0 invokes again while its invocation at line 1 is still open"),
        ({**DONE, "process": 1}, 2, "a completion (ok) of process 1 with no open invocation"),
        ({**DONE, "f": "read"}, 2, "this ok of f 'read' completes process 0's invocation of f 'add' at line 1"),
        ({**DONE, "index": None}, 2, "no index though the ops before it have one"),
        ({**DONE, "time": -1}, 2, "op time must be an integer"),
        ({**DONE, "time": 2**63}, 2, "op time must be an integer"),
        ({**DONE, "time": True}, 2, "op time must be an integer"),
        ({**DONE, "process": True}, 2, "op process must be an integer or a name"),
        ({**DONE, "process": {"p": 0}}, 2, "op process must be an integer or a name"),
        ({**DONE, "process": 1.0}, 2, "op process must be an integer or a name"),
        ({**DONE, "f": ["add"]}, 2, "op f must be a name"),
        ({**DONE, "node": {"n": 1}}, 2, "op node must be a name"),
        ({**DONE, "type": ["ok"]}, 2, "op type must be one of"),
        ({**DONE, "type": {"ok": 1}}, 2, "op type must be one of"),
    ],
)
def test_a_history_of_the_wrong_shape_names_file_and_line(tmp_path: Path, second: dict, line: int, words: str) -> None:
    second = {k: v for k, v in second.items() if v is not None}
    path = write(tmp_path, "h.jsonl", ops_text(INV, second))
    with pytest.raises(HistoryError) as e:
        read_history(path)
    assert str(e.value).startswith(f"{path}:{line}: ") and words in str(e.value)


def test_indices_must_increase_and_a_completion_cannot_come_before_its_invocation(tmp_path: Path) -> None:
    path = write(tmp_path, "h.jsonl", ops_text({**INV, "index": 4}, {**DONE, "index": 2}))
    with pytest.raises(HistoryError, match=r"h.jsonl:2: index 2 is not above the previous op's index 4"):
        read_history(path)
    path = write(tmp_path, "h.jsonl", ops_text({**INV, "time": 9}, {**DONE, "time": 3}))
    with pytest.raises(HistoryError, match=r"h.jsonl:2: time goes backwards: this ok at 3 completes an invocation at 9"):
        read_history(path)


def test_times_of_unrelated_ops_may_step_back_as_in_real_jepsen_histories(tmp_path: Path) -> None:
    path = write(tmp_path, "h.jsonl", ops_text(
        {**INV, "time": 10}, {**INV, "index": 1, "process": 1, "time": 8}, {**DONE, "index": 2, "time": 12},
        {**DONE, "index": 3, "process": 1, "time": 13}))
    assert len(read_history(path)) == 4


def test_an_edn_shape_error_on_the_fast_path_still_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "h.edn", "[{:type :invoke :process 0 :f :read}\n {:type :ok :process 0 :f :read}\n"
                                    " {:type :ok :process 0 :f :read}]\n")
    with pytest.raises(HistoryError, match=r"h.edn:3: a completion \(ok\) of process 0 with no open invocation"):
        read_history(path)


def test_ops_without_indices_get_their_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "h.edn", "{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :read :value 1}\n")
    assert [op.index for op in read_history(path)] == [0, 1]


def test_the_nemesis_may_log_lone_and_overlapping_events(tmp_path: Path) -> None:
    nemesis = {"process": "nemesis", "f": "start", "value": None}
    path = write(tmp_path, "h.jsonl", ops_text(
        {"index": 0, "type": "info", **nemesis}, {"index": 1, "type": "invoke", **nemesis},
        {"index": 2, "type": "invoke", **nemesis}, {"index": 3, "type": "info", **nemesis}))
    assert len(read_history(path)) == 4


@pytest.mark.parametrize("fmt", ["jsonl", "edn", "array"])
def test_huge_integers_and_deep_nesting_name_file_and_line(tmp_path: Path, fmt: str) -> None:
    def text(value: str) -> str:
        if fmt == "edn":
            return f"{{:type :invoke :process 0 :f :add :value 1}}\n{{:type :ok :process 0 :f :add :value {value}}}\n"
        body = f'{{"type":"invoke","process":0,"f":"add","value":1}}\n{{"type":"ok","process":0,"f":"add","value":{value}}}\n'
        return body if fmt == "jsonl" else "[" + body.replace("}\n{", "},\n{") + "]\n"

    for value, words in (("1" * 5000, "number too long"), (str(2**64), "number too long"),
                         ("[" * 100_000 + "]" * 100_000, "nested too deep"), ("[" * 101 + "]" * 101, "nested too deep")):
        path = write(tmp_path, f"h.{fmt}", text(value))
        with pytest.raises(HistoryError) as e:
            read_history(path)
        assert str(e.value).startswith(f"{path}:2: ") and words in str(e.value), str(e.value)
    nested = "[" * 98 + "]" * 98  # 99 levels with the op itself: still a history
    assert read_history(write(tmp_path, f"h.{fmt}", text(nested)))[1].value is not None
    assert read_history(write(tmp_path, f"h.{fmt}", text(str(2**63 - 1))))[1].value == 2**63 - 1


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    for name, body in (("h.jsonl", GOOD_JSON), ("h.edn", "{:type :invoke :process 0 :f :read}\n")):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + body.encode())
        assert [op.type for op in read_history(path)] == ["invoke"]


def test_a_json_array_of_ops_is_a_history(tmp_path: Path) -> None:
    # Porcupine and other tools write histories as one JSON array.
    path = write(tmp_path, "h.json", json.dumps([INV, DONE], indent=2))
    assert [(op.type, op.index) for op in read_history(path)] == [("invoke", 0), ("ok", 1)]
    path = write(tmp_path, "h.json", f"[{json.dumps(INV)},\n {json.dumps(DONE)}] x")
    with pytest.raises(HistoryError, match=r"h.json:2: unexpected text after the JSON array"):
        read_history(path)


def test_a_journal_with_a_torn_last_line_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    whole = ops_text(INV, DONE, {**INV, "index": 2, "time": 9, "value": "é"})
    for cut in (len(whole.encode()) - 5, len(whole.encode()) - 4):  # inside the é, and after it
        path.write_bytes(whole.encode()[:cut])
        ops = read_history(path)
        assert [op.index for op in ops] == [0, 1]
        assert ops.warnings == [f"{path}:3: last line is incomplete (a crash or a full disk cut it); ignored"]
    path.write_text(whole.rstrip("\n"))  # complete but for its newline: nothing is lost
    assert len(read_history(path)) == 3 and read_history(path).warnings == []


def test_a_malformed_line_that_is_not_a_torn_last_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    torn = json.dumps(DONE)[:-9]
    for text, line in ((ops_text(INV) + torn + "\n", 2),  # a newline after it: the line was whole
                       (ops_text(INV) + torn + "\n" + ops_text({**DONE, "index": 2}), 2)):
        path.write_text(text)
        with pytest.raises(HistoryError, match=rf"history.jsonl:{line}: not valid JSON"):
            read_history(path)
    path.write_bytes(ops_text(INV).encode() + b'{"type": "\xff"}\n' + ops_text(DONE).encode())
    with pytest.raises(HistoryError, match=r"history.jsonl:2: not valid UTF-8"):
        read_history(path)


def test_line_separators_inside_json_strings_do_not_split_an_op(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_history(path, with_indices([Op(type="invoke", f="add", value="a\u2028b\x85c", process=0),
                                      Op(type="ok", f="add", value="a\u2028b\x85c", process=0)]))
    assert [op.value for op in read_history(path)] == ["a\u2028b\x85c"] * 2


def test_a_bad_op_names_the_line_it_was_read_from(tmp_path: Path) -> None:
    from harness.history import BadOp

    path = write(tmp_path, "h.edn", "; two ops\n[{:type :invoke :process 0 :f :read}\n\n {:type :ok :process 0 :f :read :value \"x\"}]\n")
    history = read_history(path)
    assert str(BadOp(history[1], "a read must be a number", history)) == f"{path}:4: op 1: a read must be a number"
    assert str(BadOp(history[1], "a read must be a number")) == "op 1: a read must be a number"
