"""How long does faultline take to catch each buggy mode?

Runs every buggy row of the self-test matrix (`harness/selftest.py`) with each seed, through
`faultline selftest --json` in child processes, and prints per mode: how many seeds caught it with
the expected anomaly, the anomalies named, and the median seconds of testing until the first
anomalous operation (the earliest op or node event a failing checker blamed). A run that caught
the mode but whose checkers could not point at an op counts as caught, with no time.

    .venv/bin/python benchmarks/time_to_detect.py                 # every buggy row, seeds 1-5
    .venv/bin/python benchmarks/time_to_detect.py --system dynkv --jobs 2
    .venv/bin/python benchmarks/time_to_detect.py --correct        # the correct rows too

Each run takes its time limit (60 s by default) plus set-up, heal and final reads: about 75 s.
`--jobs 2` runs two at once; on a 2-core machine that slows the systems, which can change what
is caught. Must run as root (real clusters in network namespaces).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.selftest import Case, matrix, parse_seeds, select  # noqa: E402

FAULTLINE = str(Path(sys.executable).parent / "faultline")


def run_one(case: Case, seed: int, store: str, time_limit: float | None) -> dict:
    argv = [FAULTLINE, "selftest", "--system", case.system, "--mode", case.mode, "--seeds", str(seed),
            "--json", "--store", store]
    if time_limit is not None:
        argv += ["--time-limit", str(time_limit)]
    done = subprocess.run(argv, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"system": case.system, "mode": case.mode, "seed": seed, "valid": "unknown", "anomalies": [],
                "as_expected": False, "first_anomaly_s": None, "error": done.stderr.strip()[-300:]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system")
    parser.add_argument("--mode")
    parser.add_argument("--seeds", default="1-5", help="1-5 or 1,3,7 (default 1-5)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per run; default the row's (60)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    parser.add_argument("--correct", action="store_true", help="also run the correct modes' rows")
    parser.add_argument("--store", default="store/time-to-detect")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)

    cases = select(matrix(), args.system, args.mode, buggy=not args.correct)
    jobs = [(case, seed) for case in cases for seed in seeds]
    print(f"{len(jobs)} runs ({len(cases)} rows x {len(seeds)} seeds), {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, case, seed, args.store, args.time_limit): (case, seed) for case, seed in jobs}
        results: dict[tuple[str, str], list[dict]] = {}
        for future, (case, seed) in futures.items():
            run = future.result()
            results.setdefault((case.system, case.mode), []).append(run)
            when = f"{run['first_anomaly_s']:.1f} s" if run.get("first_anomaly_s") is not None else "-"
            print(f"  {case.label} seed {seed}: {'ok' if run['as_expected'] else 'MISSED'} "
                  f"valid={run['valid']} anomalies={','.join(run['anomalies']) or '-'} first={when} "
                  f"{run.get('run_dir') or run.get('error', '')}", flush=True)

    print()
    print(f"{'system/mode':<36} {'expected':<9} {'as expected':>11} {'median s':>9}  anomalies named")
    for case in cases:
        runs = results[(case.system, case.mode)]
        hits = [r for r in runs if r["as_expected"]]
        times = [r["first_anomaly_s"] for r in hits if r.get("first_anomaly_s") is not None]
        median = f"{statistics.median(times):.1f}" if times else "-"
        named = sorted({a for r in runs for a in r["anomalies"]})
        expected = "valid" if case.valid else "caught"
        print(f"{case.label:<36} {expected:<9} {len(hits):>5} of {len(runs):<3} {median:>9}  {', '.join(named) or '-'}")


if __name__ == "__main__":
    main()
