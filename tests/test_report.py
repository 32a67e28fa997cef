"""Report building without a browser: data layout, escaping, links, entry points, commands."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.history import Op
from harness.report import ReportError, write_report, write_report_for
from harness.report.commands import report_command
from harness.report.data import KIND_INFO, KIND_OK, KIND_OPEN, build_report_data
from harness.report.index import find_runs, render_index
from harness.report.page import embed_json
from harness.report.synthetic import NEMESIS_DRAW, make_run

EVIL = "<img src=x onerror=alert(1)>"


def embedded_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match, "the report embeds its data"
    return json.loads(match.group(1))


def op(index, time, type, process, f, value=None, **extra) -> Op:
    return Op(index=index, time=time, type=type, process=process, f=f, value=value, **extra)


def test_report_is_written_into_the_run_directory_and_is_self_contained(tmp_path):
    run = make_run(tmp_path / "store", calls=60)
    target = write_report(run.run_dir)
    assert target == run.run_dir / "report.html"
    page = target.read_text(encoding="utf-8")
    # No external loads at all: no src= or stylesheet links, and a CSP that forbids fetching.
    assert "default-src 'none'" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    # The SVG namespace is a name given to createElementNS, never fetched.
    unnamed = page.replace('"http://www.w3.org/2000/svg"', "")
    assert "http://" not in unnamed and "https://" not in unnamed
    for fact in ("seedkv", "seed", "set", "kill, partition", "n1, n2, n3"):
        assert f"<dd>{fact}</dd>" in page
    assert "set: 2 acknowledged adds lost" in page
    assert "invalid" in page


def test_hostile_values_are_escaped_everywhere(tmp_path):
    run = make_run(tmp_path / "store", calls=60)
    page = write_report(run.run_dir).read_text(encoding="utf-8")
    assert "<img" not in page
    assert "<b>1</b>" not in page and "<i>state</i>" not in page  # from the evidence
    data = embedded_data(page)
    column = data["calls"]["iv"]
    assert EVIL in column, "the value is carried as data, to be shown as text"
    # The checkers' JSON is rendered server-side: escaped, so it reads back as the original text.
    assert html.escape("k<b>1</b>") in page


def test_embedded_json_cannot_close_its_script_element():
    text = embed_json({"v": "</script><script>alert(1)</script>", "amp": "&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"v": "</script><script>alert(1)</script>", "amp": "&"}


def test_calls_lanes_and_outcomes(tmp_path):
    ops = [
        op(0, 0, "invoke", 0, "add", 1),
        op(1, 1_000, "invoke", "nemesis", "partition"),
        op(2, 2_000_000, "ok", 0, "add", 1, node="n1"),
        op(3, 3_000_000, "invoke", 0, "add", 2),
        op(4, 4_000_000, "info", 0, "add", 2, error="timeout"),
        op(5, 5_000_000, "info", "nemesis", "partition", {"grudge": {"n1": ["n2"]}}),
        op(6, 6_000_000, "invoke", 2, "add", 3),  # process 0 retired; never completes
        op(7, 8_000_000, "invoke", "nemesis", "heal"),
        op(8, 9_000_000, "info", "nemesis", "heal", "healed"),
    ]
    data = build_report_data(ops, {"nemesis_draw": NEMESIS_DRAW}, {})
    assert data.lanes == ["nemesis", "p 0", "p 2"]
    calls = data.calls
    assert calls["k"][:1] == [KIND_OK]
    client = [i for i, lane in enumerate(calls["lane"]) if lane != 0]
    assert [calls["k"][i] for i in client] == [KIND_OK, KIND_INFO, KIND_OPEN]
    assert [calls["t1"][i] for i in client] == [2_000, 4_000, -1]
    assert calls["e"][client[1]] == "timeout"
    assert data.end_us == 9_000
    [fault] = data.faults
    assert (fault.name, fault.start_us, fault.end_us) == ("partition", 1, 9_000)
    assert fault.value == {"grudge": {"n1": ["n2"]}}
    assert data.fault_colors == {"kill": "#e66", "start": "#e66", "partition": "#69c", "heal": "#69c"}
    [row] = data.latency_quantiles
    assert (row["f"], row["ok"], row["info"]) == ("add", 1, 1)
    assert row["p50"] == pytest.approx(2.0)


def test_with_concurrency_known_a_retired_process_continues_in_its_thread_lane():
    ops = [
        op(0, 0, "invoke", 0, "add", 1),
        op(1, 1_000_000, "info", 0, "add", 1),
        op(2, 2_000_000, "invoke", 1, "add", 2),
        op(3, 3_000_000, "invoke", 2, "add", 3),
        op(4, 4_000_000, "ok", 2, "add", 3),
    ]
    data = build_report_data(ops, {"concurrency": 2}, {})
    assert data.lanes == ["thread 0", "thread 1"]
    assert data.calls["lane"] == [0, 1, 0]
    assert data.calls["p"] == [0, 1, 2]


def test_a_fault_never_healed_lasts_to_the_end_and_unknown_colours_are_refused():
    ops = [
        op(0, 0, "invoke", "nemesis", "kill", ["n1"]),
        op(1, 1_000_000, "info", "nemesis", "kill", ["n1"]),
        op(2, 5_000_000, "invoke", 0, "read"),
        op(3, 7_000_000, "ok", 0, "read", 3),
    ]
    draw = {"kill": {"start": "kill", "stop": "start", "color": "red;background:url(http://x)"}}
    data = build_report_data(ops, {"nemesis_draw": draw}, {})
    [fault] = data.faults
    assert (fault.start_us, fault.end_us) == (0, 7_000)
    assert fault.color.startswith("#") and "url" not in fault.color


def test_faults_are_guessed_for_histories_without_a_drawing():
    ops = [
        op(0, 0, "invoke", "nemesis", "start"),
        op(1, 1_000_000, "info", "nemesis", "start"),
        op(2, 2_000_000, "invoke", "nemesis", "stop"),
        op(3, 3_000_000, "info", "nemesis", "stop"),
    ]
    [fault] = build_report_data(ops, {}, {}).faults
    assert (fault.name, fault.start_us, fault.end_us) == ("start", 0, 3_000)


def test_linearizability_evidence_is_resolved_to_calls(tmp_path):
    run = make_run(tmp_path / "store", calls=60)
    data = embedded_data(write_report(run.run_dir).read_text(encoding="utf-8"))
    assert [(e["checker"], e["kind"], e["label"]) for e in data["evidence"]] == [
        ("set", "elements", "lost"), ("linearizable", "window", "failing window")]
    ev = data["evidence"][1]
    assert ev["model"] == "cas-register" and ev["valid"] is False
    assert ev["stateBefore"] == {"value": 2, "note": "<i>state</i>"}
    assert len(ev["window"]) == 4, "four calls, each from its invoke and completion"
    assert [e["failed"] for e in ev["window"]] == [False, False, False, True]
    for entry in ev["window"]:
        i = entry["call"]
        assert data["calls"]["t0"][i] == entry["t0"] and data["calls"]["t1"][i] == entry["t1"]
    assert len(ev["prefix"]["rows"]) == 3 and ev["prefix"]["omitted"] == 0
    assert [row["state"] for row in ev["prefix"]["rows"]] == [0, 1, 2]


def test_no_evidence_section_data_for_a_valid_register():
    results = {"valid": True, "checkers": {"linearizable": {"valid": True}}}
    assert build_report_data([op(0, 0, "invoke", 0, "read")], {}, results).evidence == []


def test_a_stored_run_from_before_evidence_was_declared_still_shows_its_window(tmp_path):
    run = make_run(tmp_path / "store", calls=60)
    results = json.loads((run.run_dir / "results.json").read_text())
    for result in results["checkers"].values():
        del result["evidence"]
    (run.run_dir / "results.json").write_text(json.dumps(results))
    [ev] = embedded_data(write_report(run.run_dir).read_text(encoding="utf-8"))["evidence"]
    assert (ev["checker"], ev["kind"]) == ("linearizable", "window")
    assert len(ev["window"]) == 4 and len(ev["prefix"]["rows"]) == 3 and ev["hasStateBefore"]


def test_links_to_node_logs_and_run_files_are_relative(tmp_path):
    run = make_run(tmp_path / "store", calls=20)
    page = write_report(run.run_dir).read_text(encoding="utf-8")
    for href in ("history.jsonl", "results.json", "test.json", "harness.log",
                 "nodes/n1/server.log", "nodes/n2/server.log", "nodes/n3/server.log"):
        assert f'href="{href}"' in page


def test_write_report_for_a_bare_edn_history(tmp_path):
    history = tmp_path / "imported" / "history.edn"
    history.parent.mkdir()
    history.write_text(
        '{:type :invoke, :f :write, :value "<b>x</b>", :process 0, :time 0}\n'
        "{:type :ok, :f :write, :value \"<b>x</b>\", :process 0, :time 1000000}\n"
        "{:type :invoke, :f :read, :value nil, :process 1, :time 500000}\n"
        "{:type :ok, :f :read, :value #{1 2}, :process 1, :time 2000000}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    target = write_report_for(history, {"valid": "unknown", "checkers": {}}, out)
    assert target == out / "report.html"
    page = target.read_text(encoding="utf-8")
    assert 'href="../imported/history.edn"' in page
    data = embedded_data(page)
    assert data["calls"]["iv"][0] == "<b>x</b>"
    assert data["calls"]["cv"][1] == [1, 2]
    assert "<b>x</b>" not in page


def test_a_directory_without_a_history_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ReportError, match="no history here"):
        write_report(tmp_path)


def test_a_malformed_history_line_is_named(tmp_path):
    (tmp_path / "history.jsonl").write_text('{"type":"invoke","process":0,"f":"add","time":0}\n{"type": nope}\n')
    with pytest.raises(ReportError, match=r"history.jsonl:2"):
        write_report(tmp_path)


def test_a_run_without_results_still_gets_a_report(tmp_path):
    run = make_run(tmp_path / "store", calls=20)
    (run.run_dir / "results.json").unlink()
    page = write_report(run.run_dir).read_text(encoding="utf-8")
    assert "verdict-unknown" in page


def test_report_command_rebuilds_and_reports_errors(tmp_path):
    run = make_run(tmp_path / "store", calls=20)
    result = CliRunner().invoke(report_command, [str(run.run_dir)])
    assert result.exit_code == 0, result.output
    assert (run.run_dir / "report.html").is_file()
    result = CliRunner().invoke(report_command, [str(tmp_path / "nowhere")])
    assert result.exit_code == 3
    assert "no history here" in result.output


def test_index_lists_runs_newest_first_and_escapes_them(tmp_path):
    store = tmp_path / "store"
    old = make_run(store, calls=20, name="old-run", stamp="20261120T100000")
    (old.run_dir / "history.jsonl").unlink()  # a run that crashed before its first op
    newer = make_run(store, calls=20, name="new-run", stamp="20261121T100000")
    spec = json.loads((newer.run_dir / "test.json").read_text())
    spec.update(started_at="2026-11-22T00:00:00Z", system=EVIL)
    (newer.run_dir / "test.json").write_text(json.dumps(spec))
    write_report(newer.run_dir)
    (store / "latest").symlink_to(newer.run_dir)
    runs = find_runs(store)
    assert [r.test for r in runs] == ["new-run", "old-run"]
    assert runs[0].has_report and not runs[1].has_report
    page = render_index(store)
    assert "<img" not in page and html.escape(EVIL) in page
    assert 'href="/new-run/20261121T100000/report.html"' in page
    assert 'href="/old-run/20261120T100000/"' in page


def test_evidence_from_the_real_linearizability_checker_is_drawn_from_this_history():
    linearizable = pytest.importorskip("checkers.linearizable")
    ops = [
        op(0, 0, "invoke", 0, "write", 1),
        op(1, 1_000_000, "ok", 0, "write", 1),
        op(2, 2_000_000, "invoke", 1, "write", 2),
        op(3, 3_000_000, "ok", 1, "write", 2),
        op(4, 4_000_000, "invoke", 2, "read", None),
        op(5, 5_000_000, "ok", 2, "read", 1),
    ]
    verdict = linearizable.check(ops, {"model": "cas-register"})
    assert verdict["valid"] is False
    data = build_report_data(ops, {}, {"valid": False, "checkers": {"linearizable": verdict}})
    [ev] = data.evidence
    assert (ev["checker"], ev["kind"], ev["model"]) == ("linearizable", "window", "cas-register")
    [failed] = ev["failed"]
    assert (failed["f"], failed["cv"], failed["call"]) == ("read", 1, 2)
    assert ev["window"] and all(entry["call"] >= 0 for entry in ev["window"])
    assert [e["failed"] for e in ev["window"] if e["call"] == 2] == [True]
    assert [row["call"] for row in ev["prefix"]["rows"]] == [0, 1]
    assert ev["hasStateBefore"]


def test_huge_values_are_cut_short_in_the_page_but_small_ones_kept_whole():
    big_read = list(range(5_000))
    ops = [
        op(0, 0, "invoke", 0, "read"),
        op(1, 1_000_000, "ok", 0, "read", big_read),
        op(2, 2_000_000, "invoke", 0, "add", [1, 2, 3]),
        op(3, 3_000_000, "ok", 0, "add", [1, 2, 3]),
    ]
    calls = build_report_data(ops, {}, {}).calls
    assert isinstance(calls["cv"][0], str) and len(calls["cv"][0]) < 2_100
    assert "the full value is in the history" in calls["cv"][0]
    assert calls["cv"][1] == [1, 2, 3]


def test_the_header_names_the_runtime_and_unchecked_host_keys(tmp_path):
    run = make_run(tmp_path / "store", calls=20)
    test_json = run.run_dir / "test.json"
    spec = json.loads(test_json.read_text())
    checked = write_report(run.run_dir).read_text(encoding="utf-8")
    assert "<dd>local</dd>" in checked and "NOT checked" not in checked
    spec.update(runtime="ssh", hosts="/etc/faultline/hosts.toml", insecure_host_keys=True)
    test_json.write_text(json.dumps(spec))
    page = write_report(run.run_dir).read_text(encoding="utf-8")
    assert ("<dd>ssh, hosts /etc/faultline/hosts.toml, host keys NOT checked (--insecure-host-keys)</dd>"
            in page)
