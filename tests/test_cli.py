"""The `faultline` command line as a user meets it: verdict lines, exit codes, one clear line for
bad input. Run in-process through `harness.cli.main` (fast), plus the installed console script
once, since that is what people type."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import cli, judge
from harness.history import NEMESIS, Op, with_indices
from harness.journal import write_history
from harness.judge import check_history
from harness.spec import EXIT_HARNESS, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, exit_code_for

REPO = Path(__file__).resolve().parents[1]
CONSOLE_SCRIPT = REPO / ".venv" / "bin" / "faultline"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout, stderr; returning without SystemExit is exit 0, as for the script."""
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def set_history(acknowledged: list[int], final_reads: dict[str, list[int]] | None) -> list[Op]:
    """Adds of `acknowledged` (all ok), a kill and restart, then one final read per node."""
    ops: list[Op] = []
    for element in acknowledged:
        process = element % 3
        ops.append(Op(type="invoke", f="add", value=element, process=process, node=f"n{process + 1}"))
        ops.append(Op(type="ok", f="add", value=element, process=process, node=f"n{process + 1}"))
    ops.append(Op(type="info", f="kill", value=["n2"], process=NEMESIS))
    ops.append(Op(type="info", f="start", value=["n2"], process=NEMESIS))
    for process, (node, elements) in enumerate((final_reads or {}).items()):
        ops.append(Op(type="invoke", f="read", process=process, node=node))
        ops.append(Op(type="ok", f="read", value=elements, process=process, node=node))
    for i, op in enumerate(ops):
        op.time = i * 1_000_000
    return with_indices(ops)


def history_file(path: Path, verdict: str) -> Path:
    """A bare history the set checker judges valid, invalid, unknown, or a corrupt one."""
    if verdict == "valid":
        write_history(path, set_history([1, 2, 3], {"n1": [1, 2, 3]}))
    elif verdict == "invalid":
        write_history(path, set_history([1, 2, 3], {"n1": [1, 3]}))
    elif verdict == "unknown":
        write_history(path, set_history([1, 2, 3], None))
    else:
        write_history(path, set_history([1, 2, 3], {"n1": [1, 2, 3]}))
        lines = path.read_text().splitlines()
        lines[3] = lines[3][:-5]  # cut the end off line 4
        path.write_text("\n".join(lines) + "\n")
    return path


# --- bad input: exit 3, one line, no traceback ---------------------------------------------


def test_a_corrupt_line_exits_3_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = history_file(tmp_path / "BAD.jsonl", "corrupt")
    code, out, err = run_cli(capsys, "analyze", str(bad), "--checker", "set")
    assert code == EXIT_HARNESS
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    # Not "unknown": the file was never judged.
    assert lines[0].startswith(f"{bad}: error ")
    assert f"{bad}:4: not valid JSON" in lines[0]
    assert "Traceback" not in err


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="no console script: run `bash scripts/setup.sh` first")
def test_the_console_script_reports_a_corrupt_line_the_same_way(tmp_path: Path) -> None:
    bad = history_file(tmp_path / "BAD.jsonl", "corrupt")
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "analyze", str(bad), "--checker", "set"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == EXIT_HARNESS
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and f"{bad}:4:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_option_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = history_file(tmp_path / "h.jsonl", "valid")
    code, out, err = run_cli(capsys, "analyze", str(good), "--checker", "set", "--bogus")
    assert code == EXIT_HARNESS
    assert "No such option" in err and "--bogus" in err
    assert "Traceback" not in err


def test_an_unknown_command_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "frobnicate")
    assert code == EXIT_HARNESS and "frobnicate" in err


def test_an_unknown_checker_exits_3_listing_the_known(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = history_file(tmp_path / "h.jsonl", "valid")
    code, out, err = run_cli(capsys, "analyze", str(good), "--checker", "no-such-checker")
    assert code == EXIT_HARNESS
    assert "unknown checker 'no-such-checker'" in err
    assert "set" in err.split("known:")[1]
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_missing_file_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.jsonl"
    code, _, err = run_cli(capsys, "analyze", str(missing), "--checker", "set")
    assert code == EXIT_HARNESS and f"{missing}: no such file or directory" in err


def test_a_bare_file_without_checker_exits_3_saying_what_to_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = history_file(tmp_path / "h.jsonl", "valid")
    code, _, err = run_cli(capsys, "analyze", str(good))
    assert code == EXIT_HARNESS and "--checker" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "analyze" in out


# --- analyze a stored run ------------------------------------------------------------------


def stored_run(store_dir: Path, stamp: str = "20260101T000000") -> Path:
    """A stored seedkv set run whose node n2 lost element 7, with the results and report the
    run itself wrote (an interrupted run, with its time origin)."""
    run_dir = store_dir / "seedkv-seed-set" / stamp
    run_dir.mkdir(parents=True)
    (run_dir / "test.json").write_text(json.dumps({
        "name": "seedkv-seed-set", "system": "seedkv", "mode": "seed", "workload": "set",
        "nemesis": ["kill"], "nodes": 3, "seed": 7, "started_at": f"{stamp}Z",
    }))
    elements = list(range(12))
    survivors = [e for e in elements if e != 7]
    write_history(run_dir / "history.jsonl", set_history(elements, {"n1": elements, "n2": survivors, "n3": elements}))
    (run_dir / "results.json").write_text(json.dumps({
        "valid": "unknown", "reason": "interrupted by Ctrl-C", "checkers": {}, "interrupted": True,
        "origin_wall": 1767225600.25, "exit_code": 4,
    }))
    (run_dir / "report.html").write_text("<!DOCTYPE html><p>the run's own report</p>")
    return run_dir


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def saved_in(line: str) -> Path:
    """The folder a verdict line says the re-check was saved in."""
    assert "saved in " in line, line
    return Path(line.split("saved in ", 1)[1].split(")", 1)[0])


def test_analyze_a_run_dir_writes_beside_it_and_leaves_the_runs_own_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = stored_run(tmp_path / "store")
    before = snapshot(run_dir)

    code, out, err = run_cli(capsys, "analyze", str(run_dir))
    assert code == EXIT_INVALID, err
    assert len(out.splitlines()) == 1 and out.startswith(f"{run_dir}: INVALID")
    first = saved_in(out)
    assert first.parent == run_dir / "analysis"
    # The run's own files are byte for byte what the run wrote: its interruption and origin too.
    assert {k: v for k, v in snapshot(run_dir).items() if not k.startswith("analysis/")} == before
    results = json.loads((first / "results.json").read_text())
    assert results["valid"] is False and results["exit_code"] == EXIT_INVALID
    assert results["checkers"]["set"]["lost"] == [7]
    assert results["checkers"]["set"]["lost_by_read"] == {"n2": [7]}
    assert results["stats"]["nemesis_events"] == 2
    assert results["origin_wall"] == 1767225600.25  # a fact of the run, carried over
    assert (first / "report.html").is_file()

    # Again, within the same second: a second folder, the first one as it was.
    kept = snapshot(first)
    code, out, err = run_cli(capsys, "analyze", str(run_dir))
    second = saved_in(out)
    assert second != first and second.parent == run_dir / "analysis"
    assert snapshot(first) == kept
    assert {k: v for k, v in snapshot(run_dir).items() if not k.startswith("analysis/")} == before


def test_report_and_serve_still_show_the_runs_own_results_after_a_reanalysis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.report.index import find_runs
    from harness.report.writer import write_report

    store_dir = tmp_path / "store"
    run_dir = stored_run(store_dir)
    code, out, _ = run_cli(capsys, "analyze", str(run_dir))
    assert code == EXIT_INVALID
    # serve's index: one row, the run itself (not its analysis folder), with the run's verdict.
    runs = find_runs(store_dir)
    assert [r.path for r in runs] == ["seedkv-seed-set/20260101T000000"]
    assert runs[0].reason == "interrupted by Ctrl-C"
    # report rebuilds the run's page from the run's own results.
    write_report(run_dir)
    assert "interrupted by Ctrl-C" in (run_dir / "report.html").read_text()
    assert json.loads((run_dir / "results.json").read_text())["interrupted"] is True


def test_out_with_two_histories_of_one_name_gives_each_a_folder_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    valid = history_file(tmp_path / "a" / "h.jsonl", "valid")
    invalid = history_file(tmp_path / "b" / "h.jsonl", "invalid")
    out_dir = tmp_path / "out"

    code, out, err = run_cli(capsys, "analyze", str(valid), str(invalid), "--checker", "set", "--out", str(out_dir))
    assert code == EXIT_INVALID, err
    lines = out.splitlines()
    assert len(lines) == 2
    folders = [saved_in(line) for line in lines]
    assert folders == [out_dir / "h", out_dir / "h-2"]
    assert json.loads((folders[0] / "results.json").read_text())["valid"] is True
    assert json.loads((folders[1] / "results.json").read_text())["valid"] is False
    earlier = snapshot(out_dir)

    # The same command again adds folders; it never writes over the first ones.
    code, out, _ = run_cli(capsys, "analyze", str(valid), str(invalid), "--checker", "set", "--out", str(out_dir))
    assert [saved_in(line) for line in out.splitlines()] == [out_dir / "h-3", out_dir / "h-4"]
    assert {k: v for k, v in snapshot(out_dir).items() if k in earlier} == earlier


def test_out_that_already_holds_results_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = stored_run(tmp_path / "store")
    before = snapshot(run_dir)
    code, out, err = run_cli(capsys, "analyze", str(run_dir), "--out", str(run_dir))
    assert code == EXIT_HARNESS
    assert out == "" and len(err.splitlines()) == 1 and "never writes over" in err
    assert snapshot(run_dir) == before

    # One input into a new --out: straight into it, as before.
    fresh = tmp_path / "fresh"
    code, out, _ = run_cli(capsys, "analyze", str(run_dir), "--out", str(fresh))
    assert code == EXIT_INVALID and saved_in(out) == fresh
    assert json.loads((fresh / "results.json").read_text())["valid"] is False
    code, out, err = run_cli(capsys, "analyze", str(run_dir), "--out", str(fresh))
    assert code == EXIT_HARNESS and "never writes over" in err


def test_a_bare_file_without_out_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = history_file(tmp_path / "h.jsonl", "valid")
    code, out, _ = run_cli(capsys, "analyze", str(history), "--checker", "set")
    assert code == EXIT_VALID and "saved in" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.jsonl"]


# --- several files: one line each, the worst exit code -------------------------------------


def test_several_files_print_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [history_file(tmp_path / f"h{i}.jsonl", "valid") for i in range(3)]
    code, out, err = run_cli(capsys, "analyze", *map(str, paths), "--checker", "set")
    assert code == EXIT_VALID, err
    lines = out.splitlines()
    assert len(lines) == 3
    for path, line in zip(paths, lines):
        assert line.startswith(f"{path}: valid")


def test_json_prints_one_object_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kinds = ["valid", "invalid", "unknown", "corrupt"]
    paths = [history_file(tmp_path / f"{kind}.jsonl", kind) for kind in kinds]
    code, out, _ = run_cli(capsys, "analyze", *map(str, paths), "--checker", "set", "--json")
    assert code == EXIT_HARNESS
    lines = out.splitlines()
    assert len(lines) == len(kinds)
    objects = [json.loads(line) for line in lines]
    assert [o["file"] for o in objects] == [str(p) for p in paths]
    assert [o["valid"] for o in objects] == [True, False, "unknown", "unknown"]
    assert [o["exit_code"] for o in objects] == [EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_HARNESS]
    assert objects[3]["harness_error"] is True and ":4:" in objects[3]["reason"]


@pytest.mark.parametrize(
    "kinds, expected",
    [
        (["valid"], EXIT_VALID),
        (["unknown"], EXIT_UNKNOWN),
        (["valid", "unknown"], EXIT_UNKNOWN),
        (["unknown", "valid"], EXIT_UNKNOWN),
        (["unknown", "invalid", "valid"], EXIT_INVALID),
        (["invalid", "unknown"], EXIT_INVALID),
        (["corrupt", "invalid", "unknown", "valid"], EXIT_HARNESS),
        (["valid", "unknown", "invalid", "corrupt"], EXIT_HARNESS),
    ],
)
def test_exit_code_of_several_files_is_the_worst(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kinds: list[str], expected: int
) -> None:
    paths = [history_file(tmp_path / f"{i}-{kind}.jsonl", kind) for i, kind in enumerate(kinds)]
    code, out, err = run_cli(capsys, "analyze", *map(str, paths), "--checker", "set")
    assert code == expected
    assert len(out.splitlines()) + len(err.splitlines()) == len(kinds)  # one line per file


# --- how verdicts combine into exit codes --------------------------------------------------


def test_exit_code_for_each_verdict() -> None:
    assert exit_code_for({"valid": True}) == EXIT_VALID == 0
    assert exit_code_for({"valid": False}) == EXIT_INVALID == 1
    assert exit_code_for({"valid": "unknown"}) == EXIT_UNKNOWN == 2
    assert exit_code_for({"valid": False, "harness_error": True}) == EXIT_HARNESS == 3


def test_check_history_combines_checkers(monkeypatch: pytest.MonkeyPatch) -> None:
    def verdict(valid: Any):
        return lambda history, options: {"valid": valid, "reason": f"said {valid}"}

    def crash(history: Any, options: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    fakes = {"yes": verdict(True), "no": verdict(False), "maybe": verdict("unknown"), "crash": crash}
    monkeypatch.setattr(judge.plugins, "load", lambda kind, name: fakes[name])

    def combined(*names: str) -> Any:
        return check_history([], {n: {} for n in names})["valid"]

    assert combined("yes", "yes") is True
    assert combined("yes", "maybe") == "unknown"
    assert combined("maybe", "no", "yes") is False
    assert combined() == "unknown"
    crashed = check_history([], {"crash": {}, "yes": {}})
    assert crashed["valid"] == "unknown"
    assert "RuntimeError: boom" in crashed["checkers"]["crash"]["reason"]


# --- the catalogue -------------------------------------------------------------------------


def test_systems_json_lists_the_shipped_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "systems", "--json")
    assert code == 0
    catalogue = json.loads(out)
    systems = {s["name"]: s for s in catalogue["systems"]}
    seedkv = systems["seedkv"]
    assert seedkv["modes"][:2] == ["seed", "fixed"] and seedkv["default_mode"] == "seed"
    assert "set" in seedkv["workloads"]
    nemeses = {n["name"]: n for n in catalogue["nemeses"]}
    assert set(nemeses["kill"]["fs"]) == {"kill", "start"}
    assert set(nemeses["partition"]["fs"]) == {"partition", "heal"}
    assert "set" in {c["name"] for c in catalogue["checkers"]}
    assert "set" in {w["name"] for w in catalogue["workloads"]}
    assert not [entry for kind in catalogue.values() for entry in kind if "error" in entry]


CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.mark.skipif(not CORPORA.exists(), reason="shared/corpora is not beside the checkout")
def test_analyze_takes_an_initial_model_state_as_json(capsys) -> None:
    from harness.cli import main

    history = CORPORA / "knossos" / "multi-register" / "good" / "multi-register.edn"
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(history), "--checker", "linearizable", "--model", "multi-register",
              "--initial", '{"x": 0, "y": 0}'])
    assert e.value.code == 0, capsys.readouterr()


def test_an_unknown_model_is_bad_input_exit_3(tmp_path: Path, capsys) -> None:
    from harness.cli import main

    history = tmp_path / "h.jsonl"
    history.write_text('{"type":"invoke","process":0,"f":"read","value":null}\n')
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(history), "--checker", "linearizable", "--model", "no-such-model"])
    assert e.value.code == 3
    assert "unknown linearizability model" in capsys.readouterr().err


@pytest.mark.root
def test_server_args_reach_every_node_and_a_bad_one_names_the_nodes_log(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "test", "--system", "seedkv", "--workload", "set", "--time-limit", "1",
                             "--seed", "1", "--server-arg=--no-such-flag", "--store", str(tmp_path))
    assert code == EXIT_HARNESS
    assert "exited during start-up" in out and "server.log" in out
    run_dir = (tmp_path / "latest").resolve()
    assert json.loads((run_dir / "test.json").read_text())["server_args"] == ["--no-such-flag"]
    log = (run_dir / "nodes" / "n1" / "server.log").read_text()
    assert "--no-such-flag" in log  # the server's own usage error says which flag


def test_a_torn_last_line_is_skipped_and_said_once_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = history_file(tmp_path / "h.jsonl", "valid")
    with path.open("a") as f:
        f.write('{"index": 99, "type": "inv')  # what a crash or a full disk leaves
    code, out, err = run_cli(capsys, "analyze", str(path), "--checker", "set")
    assert code == EXIT_VALID
    assert err.count("last line is incomplete") == 1 and err.startswith("warning: ")


# ---- the quick path of `faultline analyze` (harness/launch.py) --------------------------------

def _keyed_journal(path: Path, stale_read: bool = False) -> Path:
    import sys
    sys.path.insert(0, str(REPO))
    from benchmarks.linearizability import generated_register
    rows = [op.to_dict() for op in generated_register(3000, 30, 10, seed=5)]
    if stale_read:
        rows += [{"type": "invoke", "f": "write", "value": [0, 777777], "process": 900},
                 {"type": "ok", "f": "write", "value": [0, 777777], "process": 900},
                 {"type": "invoke", "f": "read", "value": [0, None], "process": 901},
                 {"type": "ok", "f": "read", "value": [0, 424242], "process": 901}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _without_seconds(text: str) -> str:
    import re
    return re.sub(r"\(\d+\.\d{3} s", "(T s", text)


@pytest.mark.parametrize("extra", [
    [],
    ["--time-limit", "30", "--memory-limit=4000000000", "--failed-cas", "observed", "--engine", "c"],
    ["--model=register"],  # the history has cas: bad input, said by the full command line
    ["--json"],  # not taken by the quick path
    ["--engine", "python"],
    ["--time-limit", "-1"],  # click's error
])
@pytest.mark.parametrize("stale_read", [False, True])
def test_the_quick_path_prints_what_the_full_command_line_prints(tmp_path: Path, capsys, extra, stale_read) -> None:
    from harness import launch
    path = _keyed_journal(tmp_path / "h.jsonl", stale_read)
    argv = ["analyze", str(path), "--checker", "linearizable", "--model", "cas-register", "--keyed", *extra]
    if "--model=register" in extra:
        argv.remove("--model"), argv.remove("cas-register")
    full = run_cli(capsys, *argv)
    script = subprocess.run([str(CONSOLE_SCRIPT), *argv], capture_output=True, text=True, timeout=120)
    if extra[:1] == ["--json"]:
        assert json.loads(script.stdout)["valid"] == json.loads(full[1])["valid"]
    else:
        assert _without_seconds(script.stdout) == _without_seconds(full[1])
        assert _without_seconds(script.stderr) == _without_seconds(full[2])
    assert script.returncode == full[0]
    quick = launch.quick_analyze(argv)
    capsys.readouterr()
    taken = not stale_read and extra in ([], ["--time-limit", "30", "--memory-limit=4000000000", "--failed-cas",
                                              "observed", "--engine", "c"])
    assert quick == (0 if taken else None)


@pytest.mark.parametrize("argv", [
    ["analyze", "H", "--checker", "linearizable"],  # not keyed
    ["analyze", "H", "H", "--checker", "linearizable", "--keyed"],  # two files
    ["analyze", "H", "--checker", "linearizable", "--keyed", "--keyed"],
    ["analyze", "H", "--checker", "set", "--keyed"],
    ["analyze", "H", "--checker", "linearizable", "--keyed", "--out", "X"],
    ["analyze", "H", "--checker", "linearizable", "--keyed", "--time-limit", "inf"],
    ["analyze", "./H", "--checker", "linearizable", "--keyed"],  # click would print it as H
    ["--debug", "analyze", "H", "--checker", "linearizable", "--keyed"],
    ["test", "--system", "seedkv"],
])
def test_the_quick_path_leaves_everything_else_to_the_full_command_line(tmp_path: Path, monkeypatch, argv) -> None:
    from harness import launch
    _keyed_journal(tmp_path / "H")
    monkeypatch.chdir(tmp_path)
    assert launch.quick_analyze(argv) is None


def test_the_quick_path_leaves_a_file_with_run_facts_beside_it_to_the_full_path(tmp_path: Path) -> None:
    from harness import launch
    path = _keyed_journal(tmp_path / "h.jsonl")
    (tmp_path / "results.json").write_text("{}")
    assert launch.quick_analyze(["analyze", str(path), "--checker", "linearizable", "--keyed"]) is None


@pytest.mark.parametrize("name", ["c10-ok.txt", "c10-bad.txt"])
@pytest.mark.parametrize("extra", [[], ["--engine", "python", "--time-limit", "60"]])
def test_the_quick_path_of_a_kv_log_prints_what_the_full_command_line_prints(capsys, name, extra) -> None:
    from harness import launch
    corpora = REPO.parent / "shared" / "corpora"
    kv_log = (corpora if corpora.is_dir() else Path("/work/shared/corpora")) / "porcupine-kv" / name
    argv = ["analyze", str(kv_log), "--checker", "linearizable", "--model", "kv", *extra]
    full = run_cli(capsys, *argv)
    script = subprocess.run([str(CONSOLE_SCRIPT), *argv], capture_output=True, text=True, timeout=120)
    assert _without_seconds(script.stdout) == _without_seconds(full[1])
    assert script.returncode == full[0]
    assert launch.quick_analyze(argv) == (0 if name.endswith("-ok.txt") else None)
    capsys.readouterr()
