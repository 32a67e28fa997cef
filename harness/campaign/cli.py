"""`faultline campaign run FILE | resume DIR | merge DIR...`, and the campaign behind
`faultline selftest`: one way to run many tests, with live progress, outputs and exit code."""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness import store
from harness.campaign import outputs, plan
from harness.campaign.runner import PLAN_FILE, Budget, Progress, TestResult, hunt, read_state, run_tests
from harness.seams import HarnessError
from harness.spec import EXIT_INTERRUPTED

SELFTEST_FILE = "selftest.toml"


def shipped_selftest() -> dict[str, Any]:
    """The shipped self-test campaign file, as data."""
    import tomllib

    return tomllib.loads(resources.files("harness.campaign").joinpath(SELFTEST_FILE).read_text(encoding="utf-8"))


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    found = re.fullmatch(r"(\d+)/(\d+)", value.strip())
    if not found or not 1 <= int(found[1]) <= int(found[2]):
        raise click.BadParameter(f"{value!r}: give K/N with 1 <= K <= N, e.g. 1/2", param_hint="--shard")
    return int(found[1]), int(found[2])


@click.group("campaign")
def campaign_group() -> None:
    """Run a matrix of tests from a TOML file: in parallel, resumable, with a campaign page,
    campaign.json and JUnit XML; exit 0 only when every test met its expectation."""


_run_options = [
    click.option("--parallel", type=click.IntRange(1, 64), default=None,
                 help="Tests at once; default: as many as the CPU and memory budget allows (all cores but one)."),
    click.option("--json", "as_json", is_flag=True, help="One JSON object per finished test instead of the live view."),
]


def _with_run_options(f: Any) -> Any:
    for option in reversed(_run_options):
        f = option(f)
    return f


@campaign_group.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The campaign's store (its state, runs and outputs); default: store/campaign-NAME. "
                   "Running the same file into the same store again resumes it.")
@click.option("--shard", callback=_shard, default=None, help="Run only slice K of N of the matrix (CI sharding), e.g. 1/2.")
@click.option("--until-invalid", "until_invalid", type=click.FloatRange(1), default=None, metavar="SECONDS",
              help="Bug hunt: draw new seeds for each row until it ends invalid or SECONDS have passed.")
@_with_run_options
def run_command(file: Path, store_dir: Path | None, shard: tuple[int, int] | None, until_invalid: float | None,
                parallel: int | None, as_json: bool) -> None:
    """Run the campaign FILE declares (see harness/campaign/plan.py for the format)."""
    campaign = plan.load(file)
    store_dir = store_dir or Path("store") / f"campaign-{campaign.name}"
    tests = campaign.shard(*shard) if shard else sorted(campaign.tests, key=lambda t: t.id)
    saved = {"name": campaign.name, "file": str(file.resolve()), "shard": list(shard) if shard else None,
             "until_invalid": until_invalid, "tests": [t.to_dict() for t in tests]}
    store_dir.mkdir(parents=True, exist_ok=True)
    store.write_json(store_dir / PLAN_FILE, saved)
    sys.exit(execute(store_dir, saved, parallel, as_json))


@campaign_group.command("resume")
@click.argument("store_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@_with_run_options
def resume_command(store_dir: Path, parallel: int | None, as_json: bool) -> None:
    """Go on with a stopped campaign: finished tests are kept, interrupted ones run again."""
    if not (store_dir / PLAN_FILE).exists():
        raise HarnessError(f"{store_dir}: not a campaign store (no {PLAN_FILE})")
    sys.exit(execute(store_dir, store.read_json(store_dir / PLAN_FILE), parallel, as_json))


@campaign_group.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the merged campaign.json, campaign.html and junit.xml go.")
def merge_command(dirs: tuple[Path, ...], out: Path) -> None:
    """Combine shard stores (`--shard K/N`) into one campaign page and one JUnit file."""
    results: dict[str, TestResult] = {}
    names = set()
    for folder in dirs:
        if not (folder / PLAN_FILE).exists():
            raise HarnessError(f"{folder}: not a campaign store (no {PLAN_FILE})")
        names.add(store.read_json(folder / PLAN_FILE)["name"])
        for test_id, result in read_state(folder).items():
            if test_id in results:
                raise HarnessError(f"{folder}: test {test_id} is also in another store; merge each shard once")
            results[test_id] = result
    out.mkdir(parents=True, exist_ok=True)
    data = outputs.write_outputs(out, "+".join(sorted(names)), results.values(), {"merged_from": [str(d) for d in dirs]})
    click.echo(f"{len(results)} tests, {data['unexpected']} not as expected: {out / outputs.PAGE_FILE}")
    sys.exit(1 if data["unexpected"] else 0)


def execute(store_dir: Path, saved: dict[str, Any], parallel: int | None, as_json: bool,
            line: Any = None) -> int:
    """Run (or go on with) the campaign `saved` describes in `store_dir`, showing live
    progress, then write its outputs. The exit code: 0 when every test met its expectation, 1
    when one did not, 4 when Ctrl-C stopped it (resume goes on)."""
    tests = [plan.CampaignTest.from_dict(t) for t in saved["tests"]]
    budget = Budget.of_machine(parallel)
    console = Console(stderr=as_json)
    progress = Progress(total=len(tests))
    printed = line or (lambda r: click.echo(json.dumps(r.to_dict(), default=repr)) if as_json else console.print(_finished_line(r)))
    console.print(f"[bold]campaign {saved['name']}[/]: {len(tests)} tests in {store_dir}"
                  + (f" (shard {saved['shard'][0]}/{saved['shard'][1]})" if saved.get("shard") else ""))
    figures = None
    with Live(_LiveView(progress), console=console, refresh_per_second=2, transient=True, redirect_stdout=False):
        if saved.get("until_invalid"):
            figures, finished = hunt(store_dir, tests, float(saved["until_invalid"]), budget, progress, printed)
        else:
            finished = run_tests(store_dir, tests, budget, progress, printed)
    state = read_state(store_dir)
    wanted = {t.id for t in tests}
    if figures is None:
        results = [state[i] for i in sorted(wanted) if i in state]
    else:
        rows = {t.row for t in tests}
        results = [r for r in state.values() if r.test.row in rows]
    extra = {"finished": finished, "shard": saved.get("shard"),
             "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if figures is not None:
        extra["hunt"] = {"seconds": saved["until_invalid"], "rows": [vars(f) for f in figures]}
    data = outputs.write_outputs(store_dir, saved["name"], results, extra)
    if figures is not None:
        for f in figures:
            found = (f"invalid at seed {f.failed_seed} after {f.tests} tests" + (f", {f.seconds_to_failure:.0f} s" if f.seconds_to_failure else "")
                     if f.failed_seed is not None else f"no invalid verdict in {f.tests} tests")
            console.print(f"hunt {f.row}: {found}")
    counts = " · ".join(f"{n} {w}" for w, n in sorted(data["counts"].items()))
    console.print(f"{len(results) - data['unexpected']} of {len(results)} tests as expected ({counts}); "
                  f"page {store_dir / outputs.PAGE_FILE}, JUnit {store_dir / outputs.JUNIT_FILE}")
    if not finished:
        console.print(f"stopped: `faultline campaign resume {store_dir}` goes on")
        return EXIT_INTERRUPTED
    return 1 if data["unexpected"] or len(results) < len(wanted) else 0


def _finished_line(r: TestResult) -> str:
    word = outputs.verdict_word(r)
    mark = "[green]as expected[/]" if r.as_expected else "[bold red]NOT AS EXPECTED[/]"
    if r.status == "interrupted":
        mark = "[yellow]interrupted[/]"
    found = ", ".join(r.anomalies) or "no anomaly"
    return f"{mark} {r.test.id}: {word} ({found}; expected {r.test.expect}) {r.seconds:.0f} s  {r.run_dir or ''}"


class _LiveView:
    """The campaign at a glance, redrawn by rich from the runner's progress."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __rich__(self) -> Group:
        p = self.progress
        counts: dict[str, int] = {}
        for r in p.finished:
            counts[outputs.verdict_word(r)] = counts.get(outputs.verdict_word(r), 0) + 1
        eta = p.eta()
        head = Text.from_markup(
            f"[bold]{len(p.finished)}[/] done · [bold]{len(p.running)}[/] running · [bold]{p.queued}[/] queued"
            + (f" · {p.skipped} already done" if p.skipped else "")
            + " · " + (", ".join(f"{n} {w}" for w, n in sorted(counts.items())) or "no verdict yet")
            + (f" · ETA {eta:.0f} s" if eta is not None else "")
            + (" · [yellow]stopping: healing and tearing down the running tests[/]" if p.stopping else ""))
        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for test_id, started in p.running.items():
            table.add_row(test_id, f"{now - started:.0f} s")
        return Group(head, table)


def run_selftest(table: dict[str, Any], time_limit: float | None, store_root: str, as_json: bool,
                 parallel: int | None, line: Any, where: dict[str, Any] | None = None) -> int:
    """`faultline selftest`: the shipped self-test campaign with the command's selection in its
    [selftest] table and `where` (the runtime options) in its defaults, in a fresh campaign store under `store_root` (so a second selftest runs
    again instead of resuming; `faultline campaign resume` goes on with a stopped one)."""
    data = shipped_selftest()
    data["selftest"] = {**data["selftest"], **table}
    if time_limit is not None:
        data.setdefault("defaults", {})["time_limit"] = time_limit
    data.setdefault("defaults", {}).update(where or {})  # runtime, hosts, insecure_host_keys
    campaign = plan.from_data(data, SELFTEST_FILE, "selftest")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    store_dir = _fresh(Path(store_root) / f"selftest-{stamp}")
    saved = {"name": campaign.name, "file": SELFTEST_FILE, "shard": None, "until_invalid": None,
             "tests": [t.to_dict() for t in campaign.tests]}
    store.write_json(store_dir / PLAN_FILE, saved)
    return execute(store_dir, saved, parallel or 1, as_json, line)


def _fresh(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    candidate.mkdir(parents=True)
    return candidate
