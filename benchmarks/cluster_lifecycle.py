"""Time to bring up and tear down a 5-node raftkv cluster on each runtime: create the nodes,
start raftkv on every node and wait until all are ready (bring-up); stop raftkv and remove the
nodes (tear-down).

    .venv/bin/python benchmarks/cluster_lifecycle.py [--runtimes local,docker,ssh] [--rounds 3] [--rebuild]

docker needs an engine (`faultline docker up`); --rebuild removes the node image first, so the
first round includes the image build (and, for an ssh-lab the script starts, the wheel build and
the hosts' install). ssh uses the hosts file given with --hosts, or
starts an ssh-lab of 5 hosts for the run and stops it after. Prints the figures; asserts
nothing (targets: docker cached < 5 s, ssh < 5 s, local < 2 s).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from harness import plugins
from harness.runtime import dockerd, ssh, ssh_install, ssh_lab
from harness.startup import start_cluster


def one_round(runtime_name: str, store: Path, hosts: str | None) -> tuple[float, float]:
    options = {"hosts": hosts} if runtime_name == "ssh" else {}
    runtime = plugins.load("runtime", runtime_name)(**options)
    system = plugins.load("system", "raftkv")("correct")
    prefix = runtime.new_prefix()
    t0 = time.monotonic()
    cluster = runtime.create(store / prefix, [f"n{i}" for i in range(1, 6)], prefix)
    try:
        system.setup(cluster)
        start_cluster(cluster, system)
        up = time.monotonic() - t0
    finally:
        t1 = time.monotonic()
        system.teardown(cluster)
        runtime.destroy(cluster)
    return up, time.monotonic() - t1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtimes", default="local,docker,ssh")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hosts", default=None, help="ssh: a hosts file; default: an ssh-lab of 5 hosts for the run")
    parser.add_argument("--rebuild", action="store_true",
                        help="docker: remove the node image first; ssh (own lab only): remove the wheels and the hosts' environment")
    args = parser.parse_args()
    lab = None
    if "ssh" in args.runtimes and not args.hosts:
        lab = ssh_lab.up(5)
        args.hosts = str(lab)
    try:
        print(f"{'runtime':8} {'round':>26} {'bring-up s':>11} {'tear-down s':>12}")
        with tempfile.TemporaryDirectory(prefix="faultline-lifecycle-") as tmp:
            for name in args.runtimes.split(","):
                rounds = [f"{i}" for i in range(1, args.rounds + 1)]
                if name == "docker" and args.rebuild:
                    client = dockerd.client()
                    try:
                        client.images.remove(dockerd.image_tag(), force=True)
                    except Exception:
                        pass
                    rounds[0] = "1 (image build)"
                if name == "ssh" and args.rebuild and lab is not None:
                    # The lab's hosts share this file system: their faultline environment and
                    # the wheels go, so the first round builds, uploads and installs again.
                    digest = ssh_install.source_digest(ssh_install.source_root())
                    shutil.rmtree(ssh_install.WHEEL_CACHE / digest, ignore_errors=True)
                    shutil.rmtree(f"{ssh.DEFAULT_ROOT}/env/{digest}", ignore_errors=True)
                    rounds[0] = "1 (wheel build, install)"
                for label in rounds:
                    up, down = one_round(name, Path(tmp), args.hosts)
                    print(f"{name:8} {label:>26} {up:11.2f} {down:12.2f}", flush=True)
    finally:
        if lab is not None:
            ssh_lab.down(lab.parent.name)


if __name__ == "__main__":
    main()
