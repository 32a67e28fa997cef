"""Campaigns: the file format, sharding and expectations on their own; then real campaigns of
real `faultline test` runs (parallel, Ctrl-C and resume, shards and merge, a bug hunt) and the
campaign page in headless Chromium."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import selftest
from harness.campaign import plan
from harness.campaign.cli import shipped_selftest
from harness.campaign.runner import read_state
from harness.seams import HarnessError

FAULTLINE = str(Path(sys.executable).parent / "faultline")

MATRIX = """
[campaign]
name = "demo"
[defaults]
workload = "set"
time_limit = 2
[matrix]
system = ["seedkv"]
mode = ["seed", "fixed"]
nemesis = ["kill", "partition"]
seed = [1, 2]
[[exclude]]
mode = "fixed"
nemesis = "partition"
[[include]]
system = "seedkv"
mode = "seed"
nemesis = "kill,partition"
seed = 9
expect = "invalid:lost"
[[expect]]
mode = "seed"
verdict = "any"
"""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_matrix_exclude_include_and_expectations(tmp_path: Path) -> None:
    campaign = plan.load(write(tmp_path, MATRIX))
    assert campaign.name == "demo"
    cells = {(t.mode, t.nemesis, t.options["seed"]): str(t.expect) for t in campaign.tests}
    assert cells == {
        ("seed", "kill", 1): "any", ("seed", "kill", 2): "any", ("seed", "partition", 1): "any",
        ("seed", "partition", 2): "any", ("fixed", "kill", 1): "valid", ("fixed", "kill", 2): "valid",
        ("seed", "kill,partition", 9): "invalid:lost",
    }
    assert len({t.id for t in campaign.tests}) == len(campaign.tests)
    # Ids come from the options: the same test keeps its id when the file changes around it.
    again = plan.load(write(tmp_path, MATRIX.replace('nemesis = ["kill", "partition"]', 'nemesis = ["kill"]'), "d.toml"))
    assert {t.id for t in again.tests} < {t.id for t in campaign.tests}


@pytest.mark.parametrize("text, message", [
    ("[matrix]\nsystem = ['seedkv']\nworkload = ['set']\nbogus = [1]", "unknown option 'bogus'"),
    ("[matrix]\nsystem = ['seedkv']", "needs 'workload'"),
    ("[nope]\n", "unknown table [nope]"),
    ("[matrix\n", "not valid TOML"),
    ("[[include]]\nsystem='seedkv'\nworkload='set'\nexpect='great'", "expect 'great'"),
    ("[campaign]\nname='x'", "declares no test"),
])
def test_bad_files_get_one_message_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HarnessError, match=re.escape(message)) as caught:
        plan.load(path)
    assert str(path) in str(caught.value)
    done = subprocess.run([FAULTLINE, "campaign", "run", str(path), "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and str(path) in done.stderr and "Traceback" not in done.stderr


def test_shards_cover_the_matrix_exactly_once(tmp_path: Path) -> None:
    campaign = plan.load(write(tmp_path, MATRIX))
    for n in (1, 2, 3, 7, 10):
        slices = [campaign.shard(k, n) for k in range(1, n + 1)]
        ids = [t.id for s in slices for t in s]
        assert sorted(ids) == sorted(t.id for t in campaign.tests)
    reordered = plan.from_data({**__import__("tomllib").loads(MATRIX)}, "x", "x")
    assert [t.id for t in reordered.shard(1, 2)] == [t.id for t in campaign.shard(1, 2)]


def test_the_selftest_campaign_is_the_rows_systems_declare() -> None:
    data = shipped_selftest()
    campaign = plan.from_data(data, "selftest.toml", "selftest")
    declared = selftest.matrix()
    assert [(t.system, t.mode) for t in campaign.tests] == [(c.system, c.mode) for c in declared]
    for test, case in zip(campaign.tests, declared):
        assert test.expect.verdict == ("valid" if case.valid else "invalid")
        assert test.expect.anomalies == tuple(case.anomalies if not case.valid else ())
        assert test.options["nemesis"] == [n for n in case.nemesis.split(",") if n]
        assert test.options["time_limit"] == case.time_limit
    quick = plan.from_data({**data, "selftest": {"rows": "quick", "seeds": [1, 2]}}, "q", "q")
    assert len(quick.tests) == 2 * len(selftest.select(declared, quick=True))


def test_expectations() -> None:
    lost = plan.Expectation.parse("invalid:lost|duplicated", "x")
    assert lost.met_by(False, ["duplicated"]) and not lost.met_by(False, ["stale-read"]) and not lost.met_by(True, [])
    assert plan.Expectation.parse("any", "x").met_by(True, []) and not plan.Expectation.parse("any", "x").met_by("unknown", [])
    assert plan.Expectation.parse("valid", "x").met_by(True, []) and not plan.Expectation.parse("valid", "x").met_by("unknown", [])


# ----------------------------------------------------------------------------------------------
# Real campaigns


def leftovers(store_dir: Path) -> list[str]:
    """Namespaces, run records and live node processes of any run in this campaign store."""
    prefixes = set()
    for test_json in store_dir.glob("*/*/test.json"):
        prefixes.add(json.loads(test_json.read_text())["prefix"])
    assert prefixes, f"no run recorded in {store_dir}"
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found = [line for line in namespaces.splitlines() if any(line.startswith(p + "-") for p in prefixes)]
    found += [str(p) for p in Path("/run/faultline").glob("*.json") if p.stem in prefixes]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if str(store_dir).encode() in cmdline:
                found.append(f"process {proc.name}: {cmdline[:200]!r}")
    return found


@pytest.mark.slow
@pytest.mark.root
def test_ctrl_c_then_resume_ends_every_test_exactly_once(tmp_path: Path) -> None:
    path = write(tmp_path, """
[campaign]
name = "stop"
[defaults]
system = "seedkv"
mode = "fixed"
workload = "set"
nemesis = "kill"
time_limit = 40
[matrix]
seed = [1, 2, 3]
""")
    store_dir = tmp_path / "store"
    argv = [FAULTLINE, "campaign", "run", str(path), "--store", str(store_dir), "--parallel", "2", "--json"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait until two tests are in their main phase (their histories have ops), then Ctrl-C.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        histories = [h for h in store_dir.glob("*/*/history.jsonl") if h.stat().st_size > 0]
        if len(histories) >= 2:
            break
        assert child.poll() is None, child.communicate()
        time.sleep(0.5)
    else:
        pytest.fail("two tests never started")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 4, err
    state = read_state(store_dir)
    interrupted = [r for r in state.values() if r.status == "interrupted"]
    assert len(interrupted) == 2 and len(state) == 2, state
    for result in interrupted:  # healed, torn down, history kept
        results = json.loads((Path(result.run_dir) / "results.json").read_text())
        assert results.get("interrupted") and (Path(result.run_dir) / "history.jsonl").stat().st_size > 0
    assert leftovers(store_dir) == []
    # Resume with a short time limit would change the tests' ids; the same tests go on instead.
    done = subprocess.run([FAULTLINE, "campaign", "resume", str(store_dir), "--parallel", "2", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    campaign = json.loads((store_dir / "campaign.json").read_text())
    ids = [t["id"] for t in campaign["tests"]]
    assert sorted(ids) == sorted(t.id for t in plan.load(path).tests) and len(set(ids)) == 3
    assert all(t["status"] == "done" and t["as_expected"] for t in campaign["tests"])
    # Resuming a finished campaign runs nothing again.
    runs_before = sorted(store_dir.glob("*/*/test.json"))
    again = subprocess.run([FAULTLINE, "campaign", "resume", str(store_dir), "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and sorted(store_dir.glob("*/*/test.json")) == runs_before
    assert leftovers(store_dir) == []


@pytest.mark.slow
@pytest.mark.root
def test_shards_run_side_by_side_and_merge_into_one_page(tmp_path: Path) -> None:
    path = write(tmp_path, MATRIX)
    shards = []
    for k in (1, 2):  # both at once: their prefixes and subnets must not collide
        argv = [FAULTLINE, "campaign", "run", str(path), "--store", str(tmp_path / f"shard{k}"), "--shard", f"{k}/2", "--json"]
        shards.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [s.communicate(timeout=900) for s in shards]
    codes = [s.returncode for s in shards]
    ran = [sorted(read_state(tmp_path / f"shard{k}")) for k in (1, 2)]
    assert not set(ran[0]) & set(ran[1])
    assert sorted(ran[0] + ran[1]) == sorted(t.id for t in plan.load(path).tests)
    merged = subprocess.run([FAULTLINE, "campaign", "merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"),
                             "--out", str(tmp_path / "merged")], capture_output=True, text=True, timeout=120)
    data = json.loads((tmp_path / "merged" / "campaign.json").read_text())
    assert sorted(t["id"] for t in data["tests"]) == sorted(ran[0] + ran[1])
    assert merged.returncode == (1 if data["unexpected"] else 0) == max(c != 0 for c in codes), outs
    page = (tmp_path / "merged" / "campaign.html").read_text()
    for test_id in ran[0] + ran[1]:
        assert test_id in page
    prefixes = [json.loads(p.read_text())["prefix"] for p in tmp_path.glob("shard*/*/*/test.json")]
    assert len(prefixes) == len(set(prefixes)) == 7
    for k in (1, 2):
        assert leftovers(tmp_path / f"shard{k}") == []


@pytest.mark.slow
@pytest.mark.root
def test_a_bug_hunt_draws_seeds_until_the_row_fails_or_time_is_up(tmp_path: Path) -> None:
    from harness.campaign.runner import Budget, hunt

    row = plan.make_test({"system": "seedkv", "mode": "seed", "workload": "set", "nemesis": ["kill"], "time_limit": 4,
                          "nemesis_interval": 1.0}, plan.Expectation(), "hunt")
    figures, finished = hunt(tmp_path / "hunt", [row], budget_s=90, budget=Budget(cpus=1, memory=1 << 34))
    assert finished
    (found,) = figures
    state = read_state(tmp_path / "hunt")
    seeds = sorted(r.test.options["seed"] for r in state.values())
    assert seeds == list(range(1, found.tests + 1))  # one seed after another, each run once
    if found.failed_seed is not None:
        assert found.failed_seed == seeds[-1] and found.seconds_to_failure > 0
        assert state[row.with_seed(found.failed_seed).id].valid is False
        assert [r.valid for r in state.values() if r.test.options["seed"] != found.failed_seed].count(False) == 0
    print(f"hunt: {found}")


QUICK_CAMPAIGN = """
[campaign]
name = "quick"
[defaults]
time_limit = 20
[selftest]
rows = "quick"
seeds = [1, 2]
[[include]]   # certain to miss its expectation: a correct mode said to be caught
system = "seedkv"
mode = "fixed"
workload = "set"
nemesis = "kill"
time_limit = 3
expect = "invalid:lost"
"""


@pytest.mark.slow
@pytest.mark.root
def test_quick_rows_twice_at_parallelism_two_with_page_json_and_junit(tmp_path: Path) -> None:
    from junitparser import Error, Failure, JUnitXml, Skipped

    from harness.report.browser import chromium_available, open_browser, watch_page

    path = write(tmp_path, QUICK_CAMPAIGN)
    store_dir = tmp_path / "store"
    expected_ids = sorted(t.id for t in plan.load(path).tests)
    assert len(expected_ids) == 2 * len(selftest.select(selftest.matrix(), quick=True)) + 1
    done = subprocess.run([FAULTLINE, "campaign", "run", str(path), "--store", str(store_dir), "--parallel", "2"],
                          capture_output=True, text=True, timeout=1800)
    campaign = json.loads((store_dir / "campaign.json").read_text())
    tests = {t["id"]: t for t in campaign["tests"]}
    assert sorted(tests) == expected_ids
    unexpected = {i for i, t in tests.items() if not t["as_expected"]}
    bogus = next(i for i, t in tests.items() if t["options"]["mode"] == "fixed" and t["expect"] == "invalid:lost")
    assert bogus in unexpected and tests[bogus]["verdict"] == "valid"
    assert done.returncode == 1, done.stderr[-3000:]  # exit code by expectations
    for t in tests.values():
        assert t["status"] == "done" and Path(t["report"]).is_file(), t
    # Tests really ran side by side: some run started before another ended.
    spans = sorted((Path(t["run_dir"]).stat().st_ctime, t["seconds"]) for t in tests.values())
    assert any(b[0] < a[0] + a[1] - 1 for a, b in zip(spans, spans[1:])), spans

    xml = JUnitXml.fromfile(str(store_dir / "junit.xml"))
    cases = {case.name: case for suite in xml for case in suite}
    assert sorted(cases) == expected_ids
    for name, case in cases.items():
        kinds = {type(r) for r in case.result}
        if name in unexpected:
            assert Failure in kinds or Error in kinds, name
            failure = case.result[0]
            assert "report:" in failure.text and tests[name]["report"] in failure.text
        else:
            assert not kinds & {Failure, Error, Skipped}, name

    page_text = (store_dir / "campaign.html").read_text()
    assert page_text.index(bogus) < page_text.index('<table id="matrix"')  # the unexpected first
    if chromium_available() is not None:
        pytest.skip(str(chromium_available()))
    with open_browser(tmp_path / "profile") as context:
        page = context.new_page()
        page.set_default_timeout(120_000)
        watch = watch_page(page)
        page.goto((store_dir / "campaign.html").as_uri())
        cells = page.locator("#matrix .cell")
        assert cells.count() == len(expected_ids)
        first_row = page.locator("#matrix tbody tr").first
        assert "has-unexpected" in (first_row.get_attribute("class") or "")
        colours = {c.get_attribute("class"): c.evaluate("e => getComputedStyle(e).backgroundColor") for c in cells.all()}
        assert any("v-valid" in k for k in colours) and any("v-invalid" in k for k in colours)
        page.screenshot(path=str(tmp_path / "campaign.png"), full_page=True)
        link = page.locator("#matrix .cell a").first
        href = link.get_attribute("href")
        assert (store_dir / href).resolve().is_file()
        link.click()
        page.wait_for_load_state()
        assert page.url.endswith("report.html")
        assert not watch.page_errors and not watch.console_errors and not watch.blocked_requests
    print(f"screenshot: {tmp_path / 'campaign.png'}")
