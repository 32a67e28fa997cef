"""Disk faults for systems that store through the shared storage layer
(`systems_under_test.storage`): lose what was not fsynced at a crash, and truncate or corrupt
the log tail.

One op does the whole fault on each target node: kill the process (a crash), damage the files in
its data directory while it is down (`nemeses.disk_damage`, run on the node through the handle),
and start it again through the system's own `start`. No system needs code of its own for this;
the storage layer's checksums are what let a correct one notice a torn or corrupt tail.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any, Sequence

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, NodeHandle, System
from nemeses.schedule import repeated
from nemeses.targets import choose, resolve

DAMAGES = ("lose-unsynced", "truncate", "corrupt")


def damage_node(node: NodeHandle, kind: str, seed: int) -> dict[str, Any]:
    """Run the damage tool on the node's data directory; the node must be down."""
    argv = [sys.executable, "-m", "nemeses.disk_damage", kind, str(node.data_dir), "--seed", str(seed)]
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
        files: dict[str, Any] = {}
        for name in names:
            node = cluster.node(name)
            node.kill()
            try:
                files[name] = damage_node(node, value["damage"], value.get("seed", 0))
            finally:
                system.start(cluster, node)
        return op.complete(INFO, value={**value, "nodes": names, "files": files})

    def teardown(self, cluster: Cluster, system: System) -> None:
        # Each op restarts what it killed; this only covers an op cut short before its restart.
        for node in cluster.nodes:
            if not node.is_running():
                system.start(cluster, node)


def _package(damages: Sequence[str], name: str, options: NemesisOptions) -> NemesisPackage:
    if "disk" not in options.capabilities:
        raise HarnessError(f"--nemesis {name}: this system does not declare the `disk` capability "
                           "(it must keep its data through systems_under_test.storage)")
    nodes = list(options.nodes)

    def make(rng: Any) -> dict[str, Any]:
        return {"f": "disk", "value": {"nodes": choose(["one", "minority"][rng.randrange(2)], nodes, rng),
                                       "damage": damages[rng.randrange(len(damages))], "seed": rng.randrange(2**31)}}

    return NemesisPackage(
        name=name,
        nemesis=DiskNemesis(),
        fs=frozenset({"disk"}),
        generator=repeated(name, options.seed, options.interval, make),
        final_generator=None,
        draw={},
        options={"interval": options.interval, "damage": ", ".join(damages), "targets": "one or a minority",
                 "how": "kill, damage the data dir, restart"},
    )


def package(options: NemesisOptions) -> NemesisPackage:
    return _package(DAMAGES, "disk", options)


def lose_unsynced(options: NemesisOptions) -> NemesisPackage:
    return _package(("lose-unsynced",), "disk-lose-unsynced", options)


def corrupt(options: NemesisOptions) -> NemesisPackage:
    return _package(("truncate", "corrupt"), "disk-corrupt", options)
