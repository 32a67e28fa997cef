"""What loading libfaketime costs a raftkv cluster: acknowledged writes per second through the
client adaptor, on a three-node local cluster, with no preload, then with the clock nemesis's
preload at offset 0, then with every node drifting fast (x2) and slow (x0.5).

Prints ok ops/s per setting. The preload once cost about 20x at offset 0: libfaketime's
pthread_cond_timedwait wrapper mis-computed the deadline of the interpreter's GIL waits (see
nemeses/clock.py, FAKETIME_FORCE_MONOTONIC_FIX).

    .venv/bin/python benchmarks/clock_overhead.py [seconds per setting]   (as root)
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.history import Op
from harness.runtime.local import LocalRuntime
from harness.startup import start_cluster
from nemeses.clock import ClockNemesis
from systems_under_test.raftkv.system import RaftKV

CLIENTS = 5


def writes_per_second(system: RaftKV, cluster, seconds: float) -> float:
    """Acknowledged writes per second from CLIENTS threads, each writing its own key."""
    counts = [0] * CLIENTS
    deadline = time.monotonic() + seconds

    def run(i: int) -> None:
        client = system.client(cluster)
        client.open(cluster, cluster.nodes[i % len(cluster.nodes)])
        try:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                done = client.invoke(Op(type="invoke", f="write", value=[i, n], process=i))
                counts[i] += done.type == "ok"
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    runtime = LocalRuntime()
    with tempfile.TemporaryDirectory(prefix="faultline-clock-bench-") as tmp:
        cluster = runtime.create(Path(tmp), ["n1", "n2", "n3"], runtime.new_prefix())
        system = RaftKV()
        nemesis = ClockNemesis()
        try:
            start_cluster(cluster, system)
            writes_per_second(system, cluster, 2.0)  # a leader, warm connections
            print(f"no preload            {writes_per_second(system, cluster, seconds):8.0f} ok ops/s", flush=True)
            nemesis.setup(cluster, system)
            writes_per_second(system, cluster, 2.0)
            print(f"preload, offset 0     {writes_per_second(system, cluster, seconds):8.0f} ok ops/s", flush=True)
            for rate in (2.0, 0.5):
                nemesis.invoke(cluster, system, Op(type="invoke", f="drift", value={"rate": rate}, process="nemesis"))
                print(f"preload, drift x{rate:<4g}  {writes_per_second(system, cluster, seconds):8.0f} ok ops/s", flush=True)
                nemesis.invoke(cluster, system, Op(type="invoke", f="reset-clock", value=None, process="nemesis"))
        finally:
            nemesis.teardown(cluster, system)
            system.teardown(cluster)
            runtime.destroy(cluster)


if __name__ == "__main__":
    main()
