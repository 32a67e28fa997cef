"""Does faultline find every shipped bug without being told where to look?

For every buggy mode in the self-test matrix (one per system and mode; its row gives the
workload, the node count and the anomalies that are the mode's own), runs N seeds under
`--nemesis all` and under `--nemesis all:adaptive` through the campaign runner
(`harness.campaign.runner.run_tests`, the engine of `faultline campaign` and its bug hunts), with
the spec's defaults for everything a user would not tune per bug (5 clients, 100 ops/s, a fault
about every 5 s). Prints, side by side, how many seeds caught each mode with one of its own
anomalies, what else was named, and the median seconds to the first anomalous op (the earliest
op a failing checker blamed) over the seeds that caught it; then the totals and the speed-up
(median over modes caught by both of the per-mode median times).

    .venv/bin/python benchmarks/bug_finding.py                       # every buggy mode, seeds 1-5, 60 s
    .venv/bin/python benchmarks/bug_finding.py --seeds 1 --time-limit 30 --only raftkv
    .venv/bin/python benchmarks/bug_finding.py --only dynkv:no-read-repair,raftkv:no-persist
    .venv/bin/python benchmarks/bug_finding.py --correct --seeds 1-5   # correct modes must stay valid

A store is resumable: run again with the same `--store` and finished tests are not rerun, so a
long benchmark can be done in pieces. `--parallel 2` runs two tests at once. The full run (every
buggy mode x 5 seeds x 2 policies x 60 s, ~75 s each with set-up) takes hours. Must run as root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.campaign.plan import CampaignTest, Expectation  # noqa: E402
from harness.campaign.runner import Budget, TestResult, read_state, run_tests  # noqa: E402
from harness.selftest import Case, matrix, parse_seeds  # noqa: E402

POLICIES = {"rotate": "all", "adaptive": "all:adaptive"}


def modes(correct: bool, only: list[str]) -> list[Case]:
    """One row per (system, mode): the first the system declares."""
    picked: dict[tuple[str, str], Case] = {}
    for case in matrix():
        if case.row.valid != correct or (case.system, case.mode) in picked:
            continue
        if only and not any(o in (case.system, f"{case.system}:{case.mode}") for o in only):
            continue
        picked[(case.system, case.mode)] = case
    return list(picked.values())


def test_of(case: Case, policy: str, seed: int, time_limit: float) -> CampaignTest:
    options = {"system": case.system, "mode": case.mode, "workload": case.row.workload, "nodes": case.row.nodes,
               "nemesis": [POLICIES[policy]], "time_limit": time_limit, "seed": seed}
    expect = Expectation("valid") if case.row.valid else Expectation("invalid", tuple(case.row.anomalies))
    return CampaignTest(options, expect, row=f"{case.system}-{case.mode}-{policy}-t{time_limit:g}")


def summary(results: list[TestResult]) -> dict:
    caught = [r for r in results if r.as_expected]
    times = [r.first_anomaly_s for r in caught if r.first_anomaly_s is not None]
    other = sorted({a for r in results if r.valid is False and not r.as_expected for a in r.anomalies})
    return {"runs": len(results), "caught": len(caught), "errors": sum(r.status != "done" for r in results),
            "median_s": round(statistics.median(times), 1) if times else None, "other": other}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1-5", help="1-5 or 1,3,7 (default 1-5)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per test (default 60)")
    parser.add_argument("--only", default="", help="system or system:mode, comma-separated")
    parser.add_argument("--policies", default="rotate,adaptive", help="rotate, adaptive or both (default)")
    parser.add_argument("--correct", action="store_true", help="the correct modes instead: they must stay valid")
    parser.add_argument("--parallel", type=int, default=1, help="tests at once (default 1; at most 2 here)")
    parser.add_argument("--store", default="store/bug-finding")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object at the end")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    policies = [p for p in args.policies.split(",") if p]
    cases = modes(args.correct, [o for o in args.only.split(",") if o])
    store_dir = Path(args.store)
    tests = [test_of(c, p, s, args.time_limit) for s in seeds for c in cases for p in policies]

    def report(result: TestResult) -> None:
        t = result.test
        print(f"  {t.system}:{t.mode} {t.nemesis} seed {t.options['seed']}: {result.valid} "
              f"{','.join(result.anomalies) or '-'} first {result.first_anomaly_s} s", flush=True)

    finished = run_tests(store_dir, tests, Budget.of_machine(parallel=args.parallel), on_result=report)
    state = read_state(store_dir)
    rows = []
    for case in cases:
        row = {"mode": f"{case.system}:{case.mode}", "own": list(case.row.anomalies)}
        for policy in policies:
            results = [state[t.id] for t in (test_of(case, policy, s, args.time_limit) for s in seeds) if t.id in state]
            row[policy] = summary(results)
        rows.append(row)
    print_tables(rows, policies, seeds, args.time_limit, args.correct)
    if args.json:
        print(json.dumps({"seeds": seeds, "time_limit": args.time_limit, "rows": rows}))
    sys.exit(0 if finished else 4)


def print_tables(rows: list[dict], policies: list[str], seeds: list[int], time_limit: float, correct: bool) -> None:
    verb = "valid" if correct else "caught (own anomaly)"
    print(f"\n{len(rows)} modes x seeds {seeds} x {time_limit:g} s; {verb} / runs, median s to first anomalous op\n")
    header = "| mode | own anomalies | " + " | ".join(f"{p}: {verb} | {p}: median s | {p}: other" for p in policies) + " |"
    print(header)
    print("|" + " --- |" * (2 + 3 * len(policies)))
    for row in rows:
        cells = [row["mode"], "/".join(row["own"]) or "-"]
        for p in policies:
            s = row[p]
            cells += [f"{s['caught']}/{s['runs']}" + (f" ({s['errors']} err)" if s["errors"] else ""),
                      "-" if s["median_s"] is None else f"{s['median_s']}", ",".join(s["other"]) or "-"]
        print("| " + " | ".join(cells) + " |")
    print()
    for p in policies:
        runs = sum(r[p]["runs"] for r in rows)
        caught = sum(r[p]["caught"] for r in rows)
        medians = [r[p]["median_s"] for r in rows if r[p]["median_s"] is not None]
        print(f"{p}: {caught}/{runs} runs {verb}"
              + (f", median over modes of the median time {statistics.median(medians):.1f} s" if medians else ""))
    if len(policies) == 2 and not correct:
        a, b = policies
        both = [(r[a]["median_s"], r[b]["median_s"]) for r in rows if r[a]["median_s"] and r[b]["median_s"]]
        if both:
            ratio = statistics.median(x / y for x, y in both)
            print(f"speed-up {a} -> {b}: median over {len(both)} modes caught by both of "
                  f"(median time {a} / median time {b}) = {ratio:.2f}x")


if __name__ == "__main__":
    main()
