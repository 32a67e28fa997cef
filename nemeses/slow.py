"""Slow node: the node's processes get a fraction of one CPU through a cgroup's CPU quota.

cgroup v2 (`cpu.max`) when the node's /sys/fs/cgroup is the unified hierarchy with the cpu
controller; otherwise cgroup v1's cpu controller (`cpu.cfs_quota_us`), which is what this
machine has (a hybrid mount: v1 controllers, an empty v2 tree). Both are the same scheduler
knob. Everything is done with a shell on the node (`exec`); the node's process group is found
from the handle's `pid`, so later children of the server are throttled too (they inherit the
cgroup). Healing moves the processes back to the root group and removes ours; a node restarted
while slowed comes back at full speed, since its new process starts outside the group.
"""

from __future__ import annotations

from typing import Any

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, NodeHandle, System
from nemeses.schedule import start_stop
from nemeses.targets import choose, resolve
from nemeses.variants import Family

PERIOD_US = 100_000

# Sets $v (cgroup version) and $root, or exits 3 if the node has no cpu controller. `ip netns
# exec` gives the command a fresh /sys without the cgroup file systems, so when none is found
# there, one is mounted privately (that mount ends with the command).
_FIND_ROOT = """
if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then v=2; root=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then v=1; root=/sys/fs/cgroup/cpu
else
  mnt=$(mktemp -d); trap 'umount "$mnt" 2>/dev/null; rmdir "$mnt"' EXIT
  if mount -t cgroup2 none "$mnt" 2>/dev/null && grep -qw cpu "$mnt/cgroup.controllers"; then v=2; root=$mnt
  else
    umount "$mnt" 2>/dev/null
    if mount -t cgroup -o cpu none "$mnt" 2>/dev/null; then v=1; root=$mnt; else exit 3; fi
  fi
fi
if [ $v = 2 ]; then grep -qw cpu "$root/cgroup.subtree_control" || echo +cpu > "$root/cgroup.subtree_control"; fi
"""


def _sh(node: NodeHandle, script: str, *args: str) -> str:
    result = node.exec(["sh", "-c", script, "sh", *args])
    if result.returncode == 3:
        raise HarnessError(f"{node.name} has no cgroup cpu controller (neither cgroup v2 cpu.max nor v1 "
                           "cpu.cfs_quota_us), so it cannot be slowed")
    if result.returncode != 0:
        raise HarnessError(f"cgroup command on {node.name} failed: {result.stderr.strip()}")
    return result.stdout


# $1 = group name, $2 = process group id, $3 = quota in microseconds per PERIOD_US
THROTTLE = _FIND_ROOT + f"""
g="$root/$1"; mkdir -p "$g"
if [ $v = 2 ]; then echo "$3 {PERIOD_US}" > "$g/cpu.max"; else echo {PERIOD_US} > "$g/cpu.cfs_period_us"; echo "$3" > "$g/cpu.cfs_quota_us"; fi
for p in $(pgrep -g "$2"); do echo "$p" > "$g/cgroup.procs" 2>/dev/null || true; done
cat "$g/cgroup.procs"
"""

# $1 = group name
RELEASE = _FIND_ROOT + """
g="$root/$1"; [ -d "$g" ] || exit 0
for p in $(cat "$g/cgroup.procs"); do echo "$p" > "$root/cgroup.procs" 2>/dev/null || true; done
rmdir "$g"
"""


def group_name(run_id: str, node: str) -> str:
    """The cgroup of a slowed node. It lives on the node's host, outside the node, so it carries
    the run's id: the runtime's `cleanup` removes the empty ones a crashed run left behind (the
    local runtime: `faultline-<run_id>-*` in /sys/fs/cgroup and /sys/fs/cgroup/cpu)."""
    return f"faultline-{run_id}-{node}"


class SlowNemesis:
    def __init__(self) -> None:
        self.groups: dict[str, str] = {}  # node -> cgroup name

    def setup(self, cluster: Cluster, system: System) -> None:
        pass

    def _group(self, cluster: Cluster, node: NodeHandle) -> str:
        return group_name(cluster.run_id, node.name)

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == "heal-slow":
            return op.complete(INFO, value={"released": self._release(cluster)})
        if op.f != "slow":
            raise HarnessError(f"slow nemesis cannot do f={op.f!r}")
        value = dict(op.value)
        names = resolve(value["nodes"], cluster, system)
        quota = max(1000, int(value["cpu"] * PERIOD_US))
        moved = {}
        for name in names:
            node = cluster.node(name)
            pid = node.pid
            if not node.is_running() or pid is None:
                continue
            group = self._group(cluster, node)
            self.groups[name] = group
            moved[name] = [int(p) for p in _sh(node, THROTTLE, group, str(pid), str(quota)).split()]
        return op.complete(INFO, value={**value, "nodes": names, "pids": moved})

    def _release(self, cluster: Cluster) -> list[str]:
        released = []
        for name, group in sorted(self.groups.items()):
            _sh(cluster.node(name), RELEASE, group)
            released.append(name)
        self.groups.clear()
        return released

    def teardown(self, cluster: Cluster, system: System) -> None:
        self._release(cluster)


def _build(variant: str, name: str, options: NemesisOptions) -> NemesisPackage:
    nodes = list(options.nodes)

    def make(rng: Any) -> dict[str, Any]:
        return {"f": "slow", "value": {"nodes": choose(["one", "minority"][rng.randrange(2)], nodes, rng),
                                       "cpu": rng.choice([0.02, 0.05, 0.1, 0.25])}}

    return NemesisPackage(
        name=name,
        nemesis=SlowNemesis(),
        fs=frozenset({"slow", "heal-slow"}),
        generator=start_stop("slow", options.seed, options.interval, make, {"f": "heal-slow"}),
        final_generator={"f": "heal-slow"},
        draw={"slow": {"start": "slow", "stop": "heal-slow", "color": "#d0d0d0"}},
        options={"interval": options.interval, "cpu": "2%, 5%, 10% or 25% of one CPU", "targets": "one or a minority",
                 "how": "cgroup cpu quota (v2 cpu.max, else v1 cfs_quota_us)"},
    )


slow = Family("slow", (), _build)
