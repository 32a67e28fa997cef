"""Disk faults: lose what was not fsynced at a crash, and truncate or corrupt the tail of the
files a system keeps.

One op does the whole fault on its target nodes: kill their processes (a crash), damage the files
in each one's data directory while it is down (`nemeses.disk_damage`, run on the node through the
handle), then start them all again and wait within a bound (`harness.startup.restart_nodes`).
Truncate and corrupt aim at the files the system declares durable (`DeclaresDurableFiles`, glob
patterns relative to the data directory; every file when it declares none); lose-unsynced works
on every file, since a crash loses unsynced bytes wherever they are. No system needs code of its
own for this; its checksums are what let a correct one notice a torn or corrupt tail.

Entry point: `disk`, with the variants all (the default: any of the three damages), lose-unsynced
and corrupt (truncate or corrupt): `--nemesis disk:lose-unsynced`.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any, Sequence

from harness.history import INFO, Op
from harness.hooks import durable_files
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, NodeHandle, System
from harness.startup import restart_nodes
from nemeses.schedule import repeated
from nemeses.targets import choose, resolve
from nemeses.variants import Family, schedule_key

DAMAGES = ("lose-unsynced", "truncate", "corrupt")


def damage_node(node: NodeHandle, kind: str, seed: int, patterns: Sequence[str] = ("**/*",)) -> dict[str, Any]:
    """Run the damage tool on the node's data directory; the node must be down. `patterns`
    choose the files truncate and corrupt may touch."""
    argv = [sys.executable, "-m", "nemeses.disk_damage", kind, str(node.data_dir), "--seed", str(seed)]
    for pattern in patterns:
        argv += ["--file-glob", pattern]
    result = node.exec(argv, timeout=60)
    if result.returncode != 0:
        raise HarnessError(f"`{shlex.join(argv)}` on {node.name} failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


class DiskNemesis:
    def setup(self, cluster: Cluster, system: System) -> None:
        pass

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f != "disk":
            raise HarnessError(f"disk nemesis cannot do f={op.f!r}")
        value = dict(op.value)
        names = resolve(value["nodes"], cluster, system)
        nodes = [cluster.node(name) for name in names]
        patterns = durable_files(system)
        files: dict[str, Any] = {}
        try:
            for node in nodes:
                node.kill()
            for node in nodes:
                files[node.name] = damage_node(node, value["damage"], value.get("seed", 0), patterns)
        finally:
            restarted = restart_nodes(cluster, system, nodes).describe()
        return op.complete(INFO, value={**value, "nodes": names, "files": files, **restarted})

    def teardown(self, cluster: Cluster, system: System) -> None:
        # Each op restarts what it killed; this only covers an op cut short before its restart.
        restart_nodes(cluster, system, [node for node in cluster.nodes if not node.is_running()])


def _build(variant: str, name: str, options: NemesisOptions) -> NemesisPackage:
    if "disk" not in options.capabilities:
        raise HarnessError(f"--nemesis {name}: this system does not declare the `disk` capability "
                           "(it must keep what it stores under each node's data directory)")
    damages: Sequence[str] = {"all": DAMAGES, "lose-unsynced": ("lose-unsynced",), "corrupt": ("truncate", "corrupt")}[variant]
    nodes = list(options.nodes)

    def make(rng: Any) -> dict[str, Any]:
        return {"f": "disk", "value": {"nodes": choose(["one", "minority"][rng.randrange(2)], nodes, rng),
                                       "damage": damages[rng.randrange(len(damages))], "seed": rng.randrange(2**31)}}

    return NemesisPackage(
        name=name,
        nemesis=DiskNemesis(),
        fs=frozenset({"disk"}),
        generator=repeated(schedule_key(name), options.seed, options.interval, make),
        final_generator=None,
        draw={},
        options={"interval": options.interval, "damage": ", ".join(damages), "targets": "one or a minority",
                 "how": "kill, damage the data dir (truncate and corrupt: the system's durable files), restart"},
    )


disk = Family("disk", ("all", "lose-unsynced", "corrupt"), _build)
