"""How much does running a campaign's tests side by side save?

Runs the same 12-test campaign (seedkv, fixed and seed modes, the set workload under kill, six
seeds each, 10-second tests) with `faultline campaign run --parallel 1` and then `--parallel 2`,
each into a fresh store, and prints the wall time of each and the speed-up. Must run as root
(real clusters in network namespaces).

    .venv/bin/python benchmarks/campaign.py
    .venv/bin/python benchmarks/campaign.py --time-limit 5 --keep /tmp/bench
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAULTLINE = str(Path(sys.executable).parent / "faultline")

CAMPAIGN = """
[campaign]
name = "bench"
[defaults]
system = "seedkv"
workload = "set"
nemesis = "kill"
time_limit = {time_limit}
[matrix]
mode = ["fixed", "seed"]
seed = [1, 2, 3, 4, 5, 6]
[[expect]]
mode = "seed"
verdict = "any"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the stores here (default: a temporary folder).")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="faultline-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    path = root / "bench.toml"
    path.write_text(CAMPAIGN.format(time_limit=args.time_limit))
    walls = {}
    for parallel in (1, 2):
        store = root / f"parallel-{parallel}"
        started = time.monotonic()
        done = subprocess.run([FAULTLINE, "campaign", "run", str(path), "--store", str(store), "--parallel", str(parallel),
                               "--json"], capture_output=True, text=True)
        walls[parallel] = time.monotonic() - started
        finished = sum(1 for line in done.stdout.splitlines() if line.startswith("{"))
        print(f"parallel {parallel}: {walls[parallel]:6.1f} s wall for {finished} tests (exit {done.returncode}; {store})")
        if finished != 12:
            print(done.stderr[-2000:], file=sys.stderr)
    print(f"speed-up at parallel 2: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
