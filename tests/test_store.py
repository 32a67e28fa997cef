"""The run store: fresh run directories, `latest`, and finding a history from what a user types."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness import store
from harness.seams import HarnessError

STARTED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def make_run(store_dir: Path, name: str = "seedkv-set", started: datetime = STARTED) -> Path:
    run_dir = store.new_run_dir(store_dir, name, started)
    (run_dir / store.HISTORY_FILE).write_text('{"type":"invoke","process":0,"f":"add","value":1}\n')
    return run_dir


def test_new_run_dir_is_named_by_test_and_utc_time(tmp_path: Path) -> None:
    local = STARTED.astimezone(timezone(timedelta(hours=5)))
    run_dir = store.new_run_dir(tmp_path, "seedkv-set", local)
    assert run_dir == tmp_path / "seedkv-set" / "20260304T050607"
    assert run_dir.is_dir()


def test_runs_in_the_same_second_get_distinct_dirs_and_latest_follows(tmp_path: Path) -> None:
    first = store.new_run_dir(tmp_path, "t", STARTED)
    second = store.new_run_dir(tmp_path, "t", STARTED)
    third = store.new_run_dir(tmp_path, "t", STARTED)
    assert len({first, second, third}) == 3
    assert all(d.is_dir() for d in (first, second, third))
    latest = tmp_path / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == third.resolve()
    # Relative, so the store can be moved or mounted elsewhere.
    assert not os.readlink(latest).startswith("/")


def test_latest_moves_to_another_tests_newest_run(tmp_path: Path) -> None:
    store.new_run_dir(tmp_path, "a", STARTED)
    b = store.new_run_dir(tmp_path, "b", STARTED + timedelta(seconds=1))
    assert (tmp_path / "latest").resolve() == b.resolve()
    assert not (tmp_path / ".latest.tmp").exists()


def test_write_json_then_read_json(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    store.write_json(path, {"valid": False, "lost": [3], "odd": {1, 2}})
    data = store.read_json(path)
    assert data["valid"] is False and data["lost"] == [3]
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_read_json_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no such file"):
        store.read_json(tmp_path / "test.json")
    bad = tmp_path / "test.json"
    bad.write_text('{\n  "system": "seedkv",\n  oops\n}\n')
    with pytest.raises(HarnessError) as e:
        store.read_json(bad)
    assert str(e.value).startswith(f"{bad}:3: not valid JSON")


def test_resolve_history_of_a_run_dir(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "store")
    assert store.resolve_history(run_dir) == (run_dir / store.HISTORY_FILE, run_dir.resolve())


def test_resolve_history_of_a_store_dir_takes_latest(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    make_run(store_dir, started=STARTED)
    newest = make_run(store_dir, started=STARTED + timedelta(minutes=1))
    history, run_dir = store.resolve_history(store_dir)
    assert run_dir == newest.resolve()
    assert history.resolve() == (newest / store.HISTORY_FILE).resolve()
    # And `store/latest` itself, as a user would type it.
    history, run_dir = store.resolve_history(store_dir / "latest")
    assert run_dir == newest.resolve() and history.exists()


def test_resolve_history_of_a_bare_file(tmp_path: Path) -> None:
    path = tmp_path / "imported.edn"
    path.write_text("[]")
    assert store.resolve_history(path) == (path, None)


def test_resolve_history_of_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    with pytest.raises(HarnessError) as e:
        store.resolve_history(missing)
    assert str(e.value) == f"{missing}: no such file or directory"


def test_resolve_history_of_a_dir_without_a_history(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as e:
        store.resolve_history(tmp_path)
    assert str(tmp_path) in str(e.value) and store.HISTORY_FILE in str(e.value)


def test_store_files_are_the_documented_names() -> None:
    names = (store.TEST_FILE, store.HISTORY_FILE, store.RESULTS_FILE, store.REPORT_FILE, store.LOG_FILE, store.SYSTEM_FILE)
    assert names == ("test.json", "history.jsonl", "results.json", "report.html", "harness.log", "system.json")


@pytest.mark.parametrize("name", [
    "../../x", "ABSOLUTE", "a/b", "..", ".", ".hidden", "", "nul\x00byte", "back\\slash", "with space",
    "latest", "x" * 101, "-starts-with-dash", "tab\tname", "new\nline",
])
def test_a_test_name_that_is_not_one_plain_folder_is_refused_before_anything_is_created(tmp_path: Path, name: str) -> None:
    # Deep enough that a climbing name, if let through, still lands inside tmp_path.
    store_dir = tmp_path / "a" / "b" / "store"
    if name == "ABSOLUTE":
        name = str(tmp_path / "abs" / "path")
    with pytest.raises(HarnessError, match="--name"):
        store.new_run_dir(store_dir, name, STARTED)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["seedkv-set", "selftest-dynkv-equal-version-no-repair", "run_2.1+x", "A" * 100])
def test_ordinary_test_names_are_accepted(tmp_path: Path, name: str) -> None:
    run_dir = store.new_run_dir(tmp_path, name, STARTED)
    assert run_dir.parent == tmp_path / name


def test_a_test_folder_that_links_out_of_the_store_is_refused_and_latest_stays_inside(tmp_path: Path) -> None:
    store_dir, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    first = store.new_run_dir(store_dir, "kept", STARTED)
    (store_dir / "elsewhere").symlink_to(outside)
    with pytest.raises(HarnessError, match="--name 'elsewhere'.*out of the store"):
        store.new_run_dir(store_dir, "elsewhere", STARTED)
    assert list(outside.iterdir()) == []
    assert (store_dir / "latest").resolve() == first.resolve()


def test_faultline_test_with_a_climbing_name_exits_3_naming_the_option_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    from harness.cli import main

    work = tmp_path / "work"
    work.mkdir()
    for name in ("../../x", str(tmp_path / "abs")):
        with pytest.raises(SystemExit) as e:
            main(["test", "--system", "seedkv", "--workload", "set", "--time-limit", "1",
                  "--store", str(work / "store"), "--name", name])
        assert e.value.code == 3
        err = capsys.readouterr().err
        assert "--name" in err and "internal error" not in err, err
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["work"]
