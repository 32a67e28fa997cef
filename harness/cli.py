"""The `faultline` command line: test, analyze, systems, selftest, cleanup, new-system (and
report, serve).

Exit codes everywhere: 0 valid, 1 invalid, 2 unknown, 3 the harness itself failed or the input
was bad, 4 interrupted (Ctrl-C or SIGTERM; the history so far is kept). Bad input gets one line
naming the file, line or option; `--debug` adds the traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import click

from harness import plugins, store
from harness.history import HistoryError
from harness.judge import ANALYSIS_DIR, analyze, checker_specs, new_analysis_dir, record
from harness.seams import CAPABILITIES, HarnessError, NemesisOptions
from harness.spec import EXIT_HARNESS, EXIT_INTERRUPTED, RunStatus, TestSpec, exit_code_for

# rich, the runner, the report and the scaffolder are imported by the commands that use them:
# `faultline analyze` of a small history should not pay for them at start-up.


class _LazyGroup(click.Group):
    """A group whose named commands are imported only when asked for (`module:attribute`)."""

    lazy: dict[str, str] = {"report": "harness.report.commands:report_command",
                            "serve": "harness.report.commands:serve_command",
                            "new-system": "harness.scaffold:new_system_command",
                            "campaign": "harness.campaign.cli:campaign_group"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._importable()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in self._importable():
            module, attribute = self.lazy[name].split(":")
            command = getattr(__import__(module, fromlist=[attribute]), attribute)
        return command

    def _importable(self) -> list[str]:
        import importlib.util
        return [name for name, target in self.lazy.items() if importlib.util.find_spec(target.split(":")[0].rsplit(".", 1)[0])]


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def main_group(ctx: click.Context, debug: bool) -> None:
    """faultline: start a real cluster, break it on purpose, and check what it promised."""
    ctx.obj = {"debug": debug}


def _csv(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@main_group.command("test")
@click.option("--system", required=True, help="System under test (see `faultline systems`).")
@click.option("--mode", default=None, help="The system's mode; default: its first (correct or seed) mode.")
@click.option("--workload", required=True, help="Workload, e.g. set or register.")
@click.option("--nemesis", default="", callback=_csv, help="Faults to inject, comma-separated, e.g. kill,partition.")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--concurrency", default=5, show_default=True, type=click.IntRange(1, 1000), help="Client processes.")
@click.option("--time-limit", default=30.0, show_default=True, type=click.FloatRange(0.1), help="Seconds of the main phase.")
@click.option("--rate", default=100.0, show_default=True, type=click.FloatRange(0), help="Client ops/s over all clients (0: unthrottled).")
@click.option("--nemesis-interval", default=5.0, show_default=True, type=click.FloatRange(0.1), help="Mean seconds between fault events.")
@click.option("--seed", default=None, type=int, help="Seed for workload and fault schedules; default: random (saved in test.json).")
@click.option("--runtime", default="local", show_default=True)
@click.option("--store", "store_dir", default="store", show_default=True, type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Test name (store folder); default: system-mode-workload.")
@click.option("--server-arg", "server_args", multiple=True,
              help="Extra flag for every node's server, repeatable: --server-arg=--n=5 (see the system's server --help).")
@click.option("--hosts", default=None, type=click.Path(dir_okay=False), help="--runtime ssh: the hosts file (default hosts.toml).")
@click.option("--insecure-host-keys", is_flag=True, help="--runtime ssh: do not check host keys against known_hosts.")
def test_command(store_dir: str, **kw: Any) -> None:
    """Run one test against a real cluster and print the verdict."""
    if kw["seed"] is None:
        import secrets
        kw["seed"] = secrets.randbelow(2**31)
    kw["server_args"] = list(kw["server_args"])
    if kw["hosts"]:
        kw["hosts"] = str(Path(kw["hosts"]).resolve())  # test.json re-runs from any directory
    from rich.console import Console
    from rich.live import Live

    from harness.lifecycle import run_test
    from harness.summary import print_summary
    spec = TestSpec(store=store_dir, **kw)
    console = Console(stderr=False)
    status = RunStatus()
    console.print(
        f"[bold]faultline[/] {spec.system} ({spec.mode or 'default mode'}) · {spec.workload} · "
        f"nemesis {','.join(spec.nemesis) or 'none'} · {spec.nodes} nodes · seed {spec.seed}"
    )
    if spec.insecure_host_keys:
        console.print("[yellow]host keys are not checked (--insecure-host-keys)[/]")
    with Live(_ProgressView(status), console=console, refresh_per_second=4, transient=True):
        outcome = run_test(spec, status)
    print_summary(console, outcome.results, outcome.run_dir)
    sys.exit(outcome.exit_code)


class _ProgressView:
    """Rendered by rich on every refresh, straight from the runner's live status."""

    def __init__(self, status: RunStatus):
        self.status = status

    def __rich__(self) -> Any:
        from rich.table import Table
        s = self.status
        table = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - s.started if s.started else 0.0
        rate = s.invoked / elapsed if elapsed > 0 else 0.0
        table.add_row("phase", s.phase)
        if s.started:
            table.add_row("elapsed", f"{min(elapsed, s.time_limit):5.1f} s of {s.time_limit:g} s" if s.phase == "running" else f"{elapsed:5.1f} s")
            table.add_row("ops", f"{s.invoked} invoked · {rate:,.0f} ops/s")
            table.add_row("outcomes", f"[green]{s.ok} ok[/] · [yellow]{s.fail} fail[/] · [red]{s.info} info[/]")
            table.add_row("faults", "; ".join(f"{k}: {v}" for k, v in s.faults.items()) or "none active")
        return table


@main_group.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--checker", "checker_names", multiple=True, help="Checker to run (repeatable); default: the run's own.")
@click.option("--model", multiple=True, help="Model for the linearizable checker, e.g. cas-register; for list-append / "
              "rw-register a consistency model, e.g. serializable (repeatable).")
@click.option("--anomalies", default=None, help="list-append / rw-register: anomaly classes to look for, e.g. G1,G2.")
@click.option("--writes-follow-reads", is_flag=True, default=None, help="rw-register: a txn's write follows the version it read.")
@click.option("--linearizable-keys", is_flag=True, default=None, help="rw-register: each key alone is linearizable.")
@click.option("--sequential-keys", is_flag=True, default=None, help="rw-register: each key alone is sequential.")
@click.option("--failed-cas", type=click.Choice(["absent", "observed"]), default=None, help="How to read a failed cas.")
@click.option("--keyed", is_flag=True, default=None, help="Values are [key, value] pairs: check each key alone.")
@click.option("--initial", callback=lambda ctx, param, v: _json_option("--initial", v), default=None,
              help='Initial model state as JSON, e.g. \'{"x": 0, "y": 0}\' for multi-register.')
@click.option("--time-limit", type=click.FloatRange(0), default=None, help="Seconds a checker may search before saying unknown.")
@click.option("--memory-limit", type=int, default=None, help="Bytes a checker may use before saying unknown.")
@click.option("--engine", type=click.Choice(["c", "python"]), default=None,
              help="Search engine of the linearizable checker: the C accelerator (default when built) or pure Python.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write results and a report here (with several inputs: a folder per input under it); "
                   "default: a run's own analysis/<time>/ folder. Nothing is ever written over.")
def analyze_command(paths: Sequence[Path], checker_names: Sequence[str], as_json: bool, out: Path | None, **opts: Any) -> None:
    """Re-check stored runs or history files (JSONL or Jepsen EDN); one verdict line per file.

    A re-check writes beside the run, never over it: the run's own results.json and report.html
    stay what the run recorded (its facts, such as an interruption, with them), and the line
    says where the re-check's results went."""
    opts["model"] = (opts["model"][0] if len(opts["model"]) == 1 else list(opts["model"])) if opts["model"] else None
    checker_options = {k: v for k, v in opts.items() if v is not None}
    if out is not None and len(paths) == 1 and _holds_results(out):
        raise HarnessError(f"--out {out}: it already holds results (or is a run directory), which a re-check "
                           "never writes over; give a new or empty directory, or leave --out off")
    worst = 0
    for path in paths:
        worst = _worse(worst, _analyze_one(path, checker_names, checker_options, as_json, out, len(paths) > 1))
    sys.exit(worst)


def _holds_results(folder: Path) -> bool:
    return any((folder / name).exists() for name in (store.RESULTS_FILE, store.REPORT_FILE, store.HISTORY_FILE))


def _destination(out: Path | None, several: bool, history_path: Path, run_dir: Path | None) -> Path | None:
    """Where one input's re-check goes: `--out` itself (one input), a new folder under it named
    after the input (several: `h`, then `h-2` for a second h.jsonl; never one that exists), or,
    without --out, a new `RUN/analysis/<time>/` for a run directory and nowhere for a bare file.
    Called once there is something to put there, so a failed input leaves no empty folder."""
    if out is None:
        return new_analysis_dir(run_dir / ANALYSIS_DIR) if run_dir is not None else None
    if not several:
        out.mkdir(parents=True, exist_ok=True)
        return out
    return new_analysis_dir(out, f"{run_dir.parent.name}-{run_dir.name}" if run_dir is not None else history_path.stem)


def _json_option(name: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON: {e.msg}", param_hint=name) from None


def _worse(a: int, b: int) -> int:
    """The exit code that says more: harness error > interrupted > invalid > unknown > valid."""
    rank = {0: 0, 2: 1, 1: 2, 4: 3, 3: 4}
    return a if rank.get(a, 3) >= rank.get(b, 3) else b


def _analyze_one(path: Path, checker_names: Sequence[str], options: dict[str, Any], as_json: bool,
                 out: Path | None, several: bool) -> int:
    started = time.monotonic()
    saved_in: Path | None = None
    try:
        history_path, run_dir = store.resolve_history(path)
        system_data = None
        if checker_names:
            checkers = {name: dict(options) for name in checker_names}
        elif run_dir is not None:
            checkers, system_data = _run_checkers(run_dir, options)
        else:
            raise HarnessError(f"{path}: a bare history file needs --checker (known: {', '.join(plugins.names('checker'))})")
        results = analyze(history_path, checkers, system_data)
        for warning in results.get("warnings", ()):
            click.echo(f"warning: {warning}", err=True)
    except (HarnessError, HistoryError) as e:
        results = {"valid": "unknown", "reason": str(e), "harness_error": True}
        results["exit_code"] = exit_code_for(results)
        _print_file_verdict(path, results, as_json, time.monotonic() - started, None)
        return EXIT_HARNESS
    try:
        saved_in = _destination(out, several, history_path, run_dir)
    except OSError as e:  # no folder for the results (a full disk, say): the verdict still prints
        results["harness_error"] = True
        results["reason"] = f"{results['reason']}; results not written ({e.strerror or e}: {e.filename})"
        results["exit_code"] = exit_code_for(results)
    if saved_in is not None:
        record(results, saved_in, history_path)
        if not (saved_in / store.RESULTS_FILE).exists():  # the reason says why
            if saved_in != out and not any(saved_in.iterdir()):
                saved_in.rmdir()
            saved_in = None
    _print_file_verdict(path, results, as_json, time.monotonic() - started, saved_in)
    return results["exit_code"]


def _run_checkers(run_dir: Path, options: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], Any]:
    """The checkers a stored run was judged by, with the command line's options on top."""
    test = store.read_json(run_dir / store.TEST_FILE)
    workload = plugins.load("workload", test["workload"])()
    system = plugins.load("system", test["system"])(test["mode"], tuple(test.get("server_args") or ()))
    checkers = {name: {**opts, **options} for name, opts in checker_specs(workload, system).items()}
    system_file = run_dir / store.SYSTEM_FILE
    return checkers, (store.read_json(system_file) if system_file.exists() else None)


def _print_file_verdict(path: Path, results: dict[str, Any], as_json: bool, seconds: float, saved_in: Path | None) -> None:
    if as_json:
        where = {"saved_in": str(saved_in)} if saved_in is not None else {}
        click.echo(json.dumps({"file": str(path), "seconds": round(seconds, 4), **where, **results}, default=repr))
        return
    failed = bool(results.get("harness_error"))
    # A file that could not be read was not judged: say error, not unknown (exit 3, not 2).
    from harness.summary import verdict
    word = "error" if failed else verdict(results.get("valid"))[0]
    where = f"; saved in {saved_in}" if saved_in is not None else ""
    line = f"{path}: {word} ({seconds:.3f} s{where}) {results.get('reason', '')}"
    click.echo(line, err=failed)


@main_group.command("systems")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def systems_command(as_json: bool) -> None:
    """List systems (modes, workloads, faults), workloads, nemeses and checkers."""
    catalogue = catalogue_of_plugins()
    if as_json:
        click.echo(json.dumps(catalogue, indent=2, default=repr))
        return
    from rich.console import Console
    from rich.table import Table
    console = Console()
    table = Table(title="systems", title_justify="left")
    for col in ("system", "modes", "workloads", "faults", "about"):
        table.add_column(col)
    for s in catalogue["systems"]:
        table.add_row(s["name"], ", ".join(s["modes"]), ", ".join(s["workloads"]), ", ".join(s["capabilities"]), s["description"])
    console.print(table)
    for kind in ("workloads", "nemeses", "checkers", "runtimes"):
        rows = catalogue[kind]
        console.print(f"[bold]{kind}[/]: " + ", ".join(_listed(r) for r in rows))


def _listed(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['name']} (broken: {row['error']})"
    variants = row.get("variants") or []
    return f"{row['name']}[:{'|'.join(variants)}]" if variants else row["name"]


def catalogue_of_plugins() -> dict[str, list[dict[str, Any]]]:
    """What `faultline systems` shows; a plug-in that fails to load is listed with its error."""
    out: dict[str, list[dict[str, Any]]] = {"systems": [], "workloads": [], "nemeses": [], "checkers": [], "runtimes": []}
    for name in plugins.names("system"):
        try:
            cls = plugins.load("system", name)
            out["systems"].append({
                "name": name, "modes": list(cls.modes), "default_mode": cls.modes[0],
                "workloads": list(cls.workloads), "capabilities": sorted(cls.capabilities),
                "description": cls.description,
            })
        except HarnessError as e:
            out["systems"].append({"name": name, "error": str(e)})
    for name in plugins.names("workload"):
        try:
            w = plugins.load("workload", name)()
            out["workloads"].append({"name": name, "checkers": sorted(w.checkers()), "description": w.description})
        except HarnessError as e:
            out["workloads"].append({"name": name, "error": str(e)})
    sample = NemesisOptions(seed=0, nodes=["n1", "n2", "n3"], interval=5.0, capabilities=CAPABILITIES, concurrency=5)
    for name in plugins.names("nemesis"):
        try:
            factory, _ = plugins.load_nemesis(name)
            package = factory(sample)  # the default variant
            out["nemeses"].append({"name": name, "variants": list(getattr(factory, "variants", ())),
                                   "fs": sorted(package.fs), "options": dict(package.options)})
        except HarnessError as e:
            out["nemeses"].append({"name": name, "error": str(e)})
    for name in plugins.names("checker"):
        entry: dict[str, Any] = {"name": name}
        try:
            check = plugins.load("checker", name)
            doc = (check.__doc__ or sys.modules[check.__module__].__doc__ or "").strip().splitlines()
            entry["description"] = doc[0] if doc else ""
        except HarnessError as e:
            entry["error"] = str(e)
        out["checkers"].append(entry)
    out["runtimes"] = [{"name": n} for n in plugins.names("runtime")]
    return out


@main_group.command("cleanup")
@click.option("--runtime", default="local", show_default=True)
@click.option("--prefix", default=None,
              help="Only the run with this prefix (the `prefix` in its test.json); default: every run whose controller is gone.")
@click.option("--force", is_flag=True,
              help="With --prefix: remove that run even if its controller still runs (the run then ends as a harness error).")
def cleanup_command(runtime: str, prefix: str | None, force: bool) -> None:
    """Remove what crashed runs left behind: namespaces, their processes, guard routes, cgroups,
    libfaketime's files. A run whose controller still runs is left alone, and named."""
    from nemeses.clock import remove_orphaned_files

    if prefix is not None and not prefix.strip():
        raise click.BadParameter('"" names no run; leave --prefix out to clean every run whose controller is gone',
                                 param_hint="--prefix")
    if force and prefix is None:
        raise click.BadParameter("--force removes one named run, live or not: give it with --prefix "
                                 "(the `prefix` in the run's test.json)", param_hint="--force")
    chosen = plugins.load("runtime", runtime)()
    report = chosen.cleanup(prefix, force=True) if force else chosen.cleanup(prefix)
    removed = list(report) + remove_orphaned_files()
    for line in getattr(report, "skipped", []):
        click.echo(f"skipped {line}")
    for line in removed:
        click.echo(f"removed {line}")
    click.echo(f"{len(removed)} leftover resources removed" if removed else "nothing to clean up")


def _seeds(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    from harness.selftest import parse_seeds

    try:
        return parse_seeds(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a seed list like 1-5 or 1,3,7") from None


@main_group.command("selftest")
@click.option("--system", default=None, help="Only this system's rows.")
@click.option("--mode", default=None, help="Only this mode's rows.")
@click.option("--quick", is_flag=True, help="Only the quick subset (the rows the test suite runs).")
@click.option("--buggy", is_flag=True, help="Only the buggy modes' rows.")
@click.option("--seeds", default="1", show_default=True, callback=_seeds, help="Seeds to run each row with: 1-5 or 1,3,7.")
@click.option("--time-limit", type=click.FloatRange(1), default=None, help="Seconds of each run's main phase; default: the row's (60).")
@click.option("--store", "store_dir", default="store", show_default=True, type=click.Path(file_okay=False))
@click.option("--list", "list_only", is_flag=True, help="Print the matrix and the command of each row; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Runs at once (a campaign's --parallel).")
@click.option("--runtime", default=None, help="Run every row on this runtime (local, docker, ssh); default: local.")
@click.option("--hosts", default=None, type=click.Path(dir_okay=False), help="--runtime ssh: the hosts file (default hosts.toml).")
@click.option("--insecure-host-keys", is_flag=True, help="--runtime ssh: do not check host keys against known_hosts.")
def selftest_command(system: str | None, mode: str | None, quick: bool, buggy: bool, seeds: list[int],
                     time_limit: float | None, store_dir: str, list_only: bool, as_json: bool, jobs: int,
                     runtime: str | None, hosts: str | None, insecure_host_keys: bool) -> None:
    """Run the self-test matrix: every correct mode must pass, every buggy mode must be caught
    with its anomaly named. Exits 0 when every run ended as its row expects, 1 otherwise.
    Runs as the shipped campaign harness/campaign/selftest.toml, in store/selftest-TIME/."""
    from harness import selftest

    cases = selftest.select(selftest.matrix(), system, mode, quick, buggy)
    if not cases:
        raise click.BadParameter("no row of the matrix matches", param_hint="--system/--mode")
    from rich.console import Console

    from harness.summary import verdict
    console = Console()
    if list_only:
        for case in cases:
            expected = "valid" if case.valid else "caught: " + " or ".join(case.anomalies)
            click.echo(f"{case.label:<36} {expected}{'  [quick]' if case.quick else ''}\n    {case.command(seeds[0])}")
        return
    from harness.campaign.cli import run_selftest

    def line(result: Any) -> None:  # as selftest has always printed a run
        test = result.test
        row = {"system": test.system, "mode": test.mode, "seed": test.options["seed"], "expected": str(test.expect),
               "valid": result.valid, "anomalies": result.anomalies, "as_expected": result.as_expected,
               "first_anomaly_s": result.first_anomaly_s, "run_dir": result.run_dir}
        if as_json:
            click.echo(json.dumps(row))
            return
        word, style = ("as expected", "green") if result.as_expected else ("NOT AS EXPECTED", "bold red")
        when = f", first at {result.first_anomaly_s:.1f} s" if result.first_anomaly_s is not None else ""
        console.print(f"[bold]{test.system}/{test.mode}[/] seed {row['seed']}: [{style}]{word}[/]: verdict "
                      f"{verdict(result.valid)[0]}, {', '.join(result.anomalies) or 'no anomaly'}{when} ({result.run_dir})")

    table = {"rows": "quick" if quick else "all", "seeds": seeds, "buggy": buggy,
             **({"system": system} if system else {}), **({"mode": mode} if mode else {})}
    where = {k: v for k, v in (("runtime", runtime), ("hosts", hosts and str(Path(hosts).resolve())),
                                ("insecure_host_keys", insecure_host_keys)) if v}
    sys.exit(run_selftest(table, time_limit, store_dir, as_json, jobs, line, where))




from harness.runtime.commands import docker_group, ssh_lab_group  # noqa: E402

main_group.add_command(docker_group)
main_group.add_command(ssh_lab_group)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: maps every failure to exit 3 with one clear line (traceback with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        main_group.main(args, prog_name="faultline", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        # Click's own exit code for usage errors (2) would read as "unknown" here.
        e.show()
        sys.exit(EXIT_HARNESS)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_HARNESS)
    except (HarnessError, HistoryError) as e:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"faultline: error: {e}", err=True)
        sys.exit(EXIT_HARNESS)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"faultline: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", err=True)
        sys.exit(EXIT_HARNESS)
