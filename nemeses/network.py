"""Network degradation between nodes: loss, duplication, bandwidth, latency and jitter, and
connection resets, each on the real packet path inside the target nodes' namespaces.

- **loss**: the target drops each packet from a peer with probability p (iptables `statistic`).
- **duplicate**: the target sends a copy of each packet to a peer with probability p (`TEE` in
  the mangle table, the copy routed straight to the peer).
- **bandwidth**: a token bucket (`tc qdisc tbf`) on the target's interface caps what it sends.
- **latency**: every packet the target receives from a peer is held for `delay ± jitter` ms.
  This kernel has no `netem`, so the delay is made in user space by `nemeses.delay_shim`, a
  netfilter-queue reader started on the node: it keeps TCP connections and every protocol as
  they are and touches only timing (a per-link proxy would have to know each port, would
  re-open connections and would change addresses the system sees). The rule uses
  `--queue-bypass`, so if the shim dies, packets flow again instead of being cut.
- **reset**: every TCP connection between the target and its peers is aborted at once with a
  reset (`ss -K`), as a middlebox or a crashed peer would; new connections work right away.

Entry point: `network`, whose variants are `mixed` (the default: one kind at a time, chosen at
random) and each kind alone: `--nemesis network:latency`.

Only traffic between nodes is touched (rules match peer addresses) except for `bandwidth`, which
shapes everything the target sends. Rules live in a chain of the package's own in each table
(`FL-NET-<PACKAGE>`), so healing flushes exactly what was added; the qdisc and shim are removed by name and
pid. Everything runs through the node handle (`exec`) and the cluster's `firewall`.
"""

from __future__ import annotations

import shlex
import sys
import time
from typing import Any, Sequence

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, NodeHandle, System
from nemeses.schedule import start_stop
from nemeses.targets import choose, resolve, spread
from nemeses.variants import Family

QUEUE = 7013  # netfilter queue number the delay shim reads
SHIM_PIDFILE = "delay-shim.pid"
SHIM_START_TIMEOUT = 20.0


class NetworkNemesis:
    """Applies one kind of degradation at a time; its package's heal op removes all of it.
    Each package has its own chain (`FL-NET-<NAME>`) and heal op, so packages combine."""

    def __init__(self, chain: str = "FL-NET", heal: str = "heal-network", seed: int = 0):
        self.chain, self.heal, self.seed = chain, heal, seed
        self.shaped: set[str] = set()
        self.shims: dict[str, int] = {}

    def setup(self, cluster: Cluster, system: System) -> None:
        for node in cluster.nodes:
            for table, hook in (("filter", "INPUT"), ("mangle", "OUTPUT")):
                cluster.firewall(node, ["-t", table, "-N", self.chain])
                cluster.firewall(node, ["-t", table, "-I", hook, "-j", self.chain])

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == self.heal:
            self._heal(cluster)
            return op.complete(INFO, value="healed")
        value = dict(op.value or {})
        names = resolve(value.get("nodes", [n.name for n in cluster.nodes]), cluster, system)
        value["nodes"] = names
        if op.f == "reset":
            value["reset"] = {name: self._reset(cluster, cluster.node(name)) for name in names}
            return op.complete(INFO, value=value)
        self._heal(cluster)
        for name in names:
            node = cluster.node(name)
            peers = [p.address for p in cluster.nodes if p.name != name]
            if op.f == "loss":
                for peer in peers:
                    cluster.firewall(node, ["-A", self.chain, "-s", peer, *_chance(value["p"]), "-j", "DROP"])
            elif op.f == "duplicate":
                for peer in peers:
                    cluster.firewall(node, ["-t", "mangle", "-A", self.chain, "-d", peer, *_chance(value["p"]), "-j", "TEE", "--gateway", peer])
            elif op.f == "bandwidth":
                self._shape(node, value["kbit"])
            elif op.f == "latency":
                self._start_shim(node, value["delay_ms"], value.get("jitter_ms", 0.0))
                for peer in peers:
                    cluster.firewall(node, ["-A", self.chain, "-s", peer, "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass"])
            else:
                raise HarnessError(f"network nemesis cannot do f={op.f!r}")
        return op.complete(INFO, value=value)

    def _shape(self, node: NodeHandle, kbit: float) -> None:
        # The bucket holds ~20 ms of traffic (at least a few packets) and queues up to 200 ms.
        burst = max(4500, int(kbit * 1000 / 8 * 0.02))
        _run(node, ["tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", f"{kbit:g}kbit",
                    "burst", str(burst), "latency", "200ms"])
        self.shaped.add(node.name)

    def _start_shim(self, node: NodeHandle, delay_ms: float, jitter_ms: float) -> None:
        pidfile = f"{node.log_dir}/{SHIM_PIDFILE}"
        argv = [sys.executable, "-m", "nemeses.delay_shim", "--queue", str(QUEUE), "--delay-ms", str(delay_ms),
                "--jitter-ms", str(jitter_ms), "--seed", str(self.seed), "--pidfile", pidfile]
        log = f"{node.log_dir}/delay-shim.log"
        # Started in the background from a shell on the node; the shell returns at once.
        _run(node, ["sh", "-c", f"rm -f {shlex.quote(pidfile)}; setsid {shlex.join(argv)} >>{shlex.quote(log)} 2>&1 </dev/null &"])
        deadline = time.monotonic() + SHIM_START_TIMEOUT
        while time.monotonic() < deadline:
            out = node.exec(["cat", pidfile])
            if out.returncode == 0 and out.stdout.strip():
                self.shims[node.name] = int(out.stdout)
                return
            time.sleep(0.05)
        raise HarnessError(f"the delay shim on {node.name} did not start within {SHIM_START_TIMEOUT:g}s; see {log}")

    def _reset(self, cluster: Cluster, node: NodeHandle) -> int:
        """Abort every TCP connection between `node` and a peer; returns how many were found."""
        killed = 0
        for peer in cluster.nodes:
            if peer.name == node.name:
                continue
            out = node.exec(["ss", "-K", "-t", "-n", "dst", peer.address])
            killed += max(0, len(out.stdout.splitlines()) - 1)
        return killed

    def _heal(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            cluster.firewall(node, ["-F", self.chain])
            cluster.firewall(node, ["-t", "mangle", "-F", self.chain])
        for name in sorted(self.shaped):
            cluster.node(name).exec(["tc", "qdisc", "del", "dev", "eth0", "root"])
        self.shaped.clear()
        for name, pid in sorted(self.shims.items()):
            node = cluster.node(name)
            node.exec(["kill", str(pid)])
            node.exec(["rm", "-f", f"{node.log_dir}/{SHIM_PIDFILE}"])
        self.shims.clear()

    def teardown(self, cluster: Cluster, system: System) -> None:
        try:
            self._heal(cluster)
        finally:
            for node in cluster.nodes:
                for table, hook in (("filter", "INPUT"), ("mangle", "OUTPUT")):
                    for argv in (["-F", self.chain], ["-D", hook, "-j", self.chain], ["-X", self.chain]):
                        try:
                            cluster.firewall(node, ["-t", table, *argv])
                        except HarnessError:
                            pass  # already gone


def _chance(p: float) -> list[str]:
    return ["-m", "statistic", "--mode", "random", "--probability", f"{p:.6f}"]


def _run(node: NodeHandle, argv: Sequence[str]) -> None:
    result = node.exec(argv)
    if result.returncode != 0:
        raise HarnessError(f"`{' '.join(argv)}` on {node.name} failed: {result.stderr.strip()}")


def _fault(kind: str, nodes: Sequence[str], rng: Any) -> dict[str, Any]:
    targets = spread(nodes, rng)
    if kind == "loss":
        return {"f": "loss", "value": {"nodes": targets, "p": round(rng.uniform(0.05, 0.5), 3)}}
    if kind == "duplicate":
        return {"f": "duplicate", "value": {"nodes": targets, "p": round(rng.uniform(0.05, 0.5), 3)}}
    if kind == "bandwidth":
        return {"f": "bandwidth", "value": {"nodes": targets, "kbit": rng.choice([64, 256, 1024, 8192])}}
    if kind == "latency":
        delay = round(2 ** rng.uniform(2, 8), 1)  # 4..256 ms
        return {"f": "latency", "value": {"nodes": targets, "delay_ms": delay, "jitter_ms": round(delay * rng.uniform(0, 0.5), 1)}}
    if kind == "reset":
        return {"f": "reset", "value": {"nodes": targets}}
    raise HarnessError(f"unknown network fault {kind!r}")


KINDS = ("loss", "duplicate", "bandwidth", "latency", "reset")


def _build(variant: str, name: str, options: NemesisOptions) -> NemesisPackage:
    kinds = KINDS if variant == "mixed" else (variant,)
    nodes = list(options.nodes)
    if len(nodes) < 2:
        raise HarnessError(f"--nemesis {name} needs at least 2 nodes")

    def begin(rng: Any) -> dict[str, Any]:
        return _fault(kinds[rng.randrange(len(kinds))], nodes, rng)

    # Chain, heal op and schedule keep the names these packages had before they were variants
    # (`heal-network`, `heal-latency`, ...): each package's own, so packages combine.
    short = "network" if variant == "mixed" else variant
    heal = f"heal-{short}"
    return NemesisPackage(
        name=name,
        nemesis=NetworkNemesis(f"FL-NET-{short.upper()}", heal, options.seed),
        fs=frozenset({*kinds, heal}),
        generator=start_stop(short, options.seed, options.interval, begin, {"f": heal}),
        final_generator={"f": heal},
        draw={k: {"start": k, "stop": heal, "color": "#a0e8c0"} for k in kinds if k != "reset"},
        options={"interval": options.interval, "faults": ", ".join(kinds), "targets": "one, a minority or all",
                 **({"latency": "delay ± jitter per packet, user-space netfilter queue (no netem here)"} if "latency" in kinds else {})},
    )


# `mixed` (the default): every kind of degradation, one at a time, chosen at random.
network = Family("network", ("mixed", *KINDS), _build)
