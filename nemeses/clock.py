"""Clock faults per node: bump by an offset, strobe (jump back and forth), drift (run fast or
slow), reset; through libfaketime loaded into each node's process.

Setup puts libfaketime into every node's `spawn_env` (LD_PRELOAD plus a control file) and restarts
the running nodes so the library is loaded. Only the wall clock is faked: `DONT_FAKE_MONOTONIC`
keeps monotonic time real, so timeouts and sleeps behave (the build from the PyPI package
`libfaketime` does this right; Debian's 0.9.10 breaks `time.sleep` in that setting).

When the node reads the control file: at its first clock call after each whole second of real
time (`FAKETIME_CACHE_DURATION=0`), not on every call. Re-reading on every call
(`FAKETIME_NO_CACHE`) races in a process whose threads read the clock at once: libfaketime
parses the line into unguarded globals, so other threads see it half-parsed. Measured with four
threads: a node bumped by +30 s read its true time now and then, and one drifting at x2 ran at
x0.05, its reference restarted over and over. So a setting is written for the next whole second
(a drift's reference is that second, so it starts from the current offset without a jump), and
an op returns once that second has come: when it ends, the fault holds. A strobe flips at most
once a second for the same reason.

Cost: a drifting node pays more than an offset one: libfaketime scales the deadlines of the
interpreter's GIL waits by the rate against a faked clock, so at a rate below 1 they all lie in
the past and the node runs many times slower while the drift lasts (above 1 they lie far in the
future, so a thread that computes without blocking is not preempted). `benchmarks/clock_overhead.py`
prints the figures.

Control-file lines, in libfaketime's syntax: `+3.5 x1` (offset), `@<epoch seconds> x1.5` (from
that wall time, run 1.5 times as fast; libfaketime restarts its reference when it reads a
changed line). Every op's value says which nodes moved and to what offset; the nemesis keeps
every setting in memory and hands each node's offsets over time to the run's results
(`KeepsResults`: `results.json` under `clock`), which the report draws.

Setup restarts the nodes that already run, so the library is loaded; like every restart by a
nemesis it starts them all before it waits for any (`harness.startup.restart_nodes`).

Files libfaketime leaves: the first process of each node that loads it (the node's server,
whose pid `ip netns exec` keeps) makes a semaphore and a shared memory segment named by its pid,
`/dev/shm/sem.faketime_sem_<pid>` and `/dev/shm/faketime_shm_<pid>`, and removes them only if
it exits normally, which a node stopped or killed by a signal never does. Teardown stops the
nodes (the run is ending; the system's teardown would next) and removes the files made since
setup by processes that are gone: every incarnation of the nodes. A file whose process still
runs is never touched, so another run's are safe. `remove_orphaned_files` is what
`faultline cleanup` does for crashed runs.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.history import INFO, Op
from harness.runtime.faketime_files import REMOVE_DEAD, SHM_PATTERNS
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, NodeHandle, System
from harness.startup import restart_nodes
from nemeses.schedule import start_stop
from nemeses.targets import choose, resolve, spread
from nemeses.variants import Family, schedule_key

CONTROL_FILE = "faketime.rc"  # in the node's log dir, beside (not in) its data dir
SHM_DIR = Path("/dev/shm")


def libfaketime_path() -> Path:
    """The shared library shipped in the `libfaketime` Python package."""
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("clock faults need the Python package `libfaketime`: run `bash scripts/setup.sh`")
    lib = Path(list(spec.submodule_search_locations)[0]) / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    if not lib.exists():
        raise HarnessError(f"libfaketime's library is missing at {lib}; reinstall the `libfaketime` package")
    return lib


def control_path(node: NodeHandle) -> Path:
    return Path(node.log_dir) / CONTROL_FILE


def faketime_env(node: NodeHandle) -> dict[str, str]:
    return {
        "LD_PRELOAD": str(libfaketime_path()),
        "FAKETIME_TIMESTAMP_FILE": str(control_path(node)),
        "FAKETIME_CACHE_DURATION": "0",  # re-read once a second: see the module docstring
        # libfaketime wraps pthread_cond_timedwait, which the interpreter's GIL waits on with a
        # monotonic deadline. With glibc >= 2.30 its "monotonic fix" rebuilds that deadline
        # from the faked monotonic time, which in offset mode is a wall-clock value: every GIL
        # wait then times out at once, waiting threads force a GIL switch on every check, and
        # a raftkv node runs ~50x slower even at offset 0. Without the fix the wrapper hands
        # the deadline on unchanged whenever the rate is 1 (see the module docstring for x!=1).
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        "DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_FMT": "%s",  # `@` lines give epoch seconds, whatever the node's time zone
    }


@dataclass
class NodeClock:
    """One node's fake clock: wall = real + offset(t), offset(t) = offset + (rate - 1) * (t - since)."""

    offset: float = 0.0
    rate: float = 1.0
    since: float = 0.0  # real time from which offset and rate hold

    def offset_at(self, now: float) -> float:
        return self.offset + (self.rate - 1.0) * (now - self.since)


def offset_points(timeline: Mapping[str, Sequence[NodeClock]], origin_wall: float) -> dict[str, list[list[float]]]:
    """Each node's clock offset over the run, `{node: [[t, offset_s], ...]}` with t in seconds
    since the history's time zero (wall time `origin_wall`), from the settings the nemesis made
    (each: from wall time `since`, the offset was `offset` and grew by `rate - 1` per second).
    Every setting also gets a point where the next one takes over, so straight lines through the
    points are the offset at every t: flat while it holds, sloped while it drifts, a vertical step
    at a bump. Settings made before the clients started are placed at t = 0."""
    out: dict[str, list[list[float]]] = {}
    for node, settings in timeline.items():
        settings = sorted(settings, key=lambda s: s.since)
        points: list[list[float]] = []
        for i, setting in enumerate(settings):
            ends = [(setting.since, setting.offset)]
            if i + 1 < len(settings):
                until = settings[i + 1].since
                ends.append((until, setting.offset_at(until)))
            for wall, value in ends:
                point = [round(max(0.0, wall - origin_wall), 6), round(value, 6)]
                if not points or points[-1] != point:
                    points.append(point)
        out[node] = points
    return out


class ClockNemesis:
    def __init__(self) -> None:
        self.clocks: dict[str, NodeClock] = {}
        self.timeline: dict[str, list[NodeClock]] = {}  # node -> every setting, in order
        self.set_up_at: float | None = None  # wall time of setup: libfaketime's files are newer

    def setup(self, cluster: Cluster, system: System) -> None:
        self.set_up_at = time.time()
        for node in cluster.nodes:
            self._set(node, NodeClock(since=time.time()))
            node.spawn_env.update(faketime_env(node))
        # The library is loaded at exec time: restart what already runs.
        running = [node for node in cluster.nodes if node.is_running()]
        for node in running:
            node.stop()
        report = restart_nodes(cluster, system, running)
        if report.not_ready:
            raise HarnessError("clock fault setup: restarting with libfaketime, " + "; ".join(
                f"{name} {why}" for name, why in sorted(report.not_ready.items())))

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        value = op.value or {}
        now = _next_second()
        names = resolve(value.get("nodes", [n.name for n in cluster.nodes]), cluster, system)
        if op.f == "bump":
            for name in names:
                current = self.clocks[name].offset_at(now)
                self._set(cluster.node(name), NodeClock(current + value["delta"], 1.0, now))
        elif op.f == "drift":
            for name in names:
                current = self.clocks[name].offset_at(now)
                self._set(cluster.node(name), NodeClock(current, value["rate"], now))
        elif op.f == "strobe":
            self._strobe(cluster, names, value["delta"], value["period"], value["duration"])
        elif op.f == "reset-clock":
            for name in names:
                self._set(cluster.node(name), NodeClock(0.0, 1.0, now))
        else:
            raise HarnessError(f"clock nemesis cannot do f={op.f!r}")
        if op.f != "strobe":
            _sleep_until(now + READ_MARGIN)
        done = time.time()
        offsets = {name: round(self.clocks[name].offset_at(done), 6) for name in names}
        rates = {name: self.clocks[name].rate for name in names}
        return op.complete(INFO, value={**value, "nodes": names, "offsets": offsets, "rates": rates})

    def _strobe(self, cluster: Cluster, names: Sequence[str], delta: float, period: float, duration: float) -> None:
        """Flip between the current offset and offset + delta every `period` seconds, in whole
        seconds (at least one): a node reads a new setting once a second."""
        step = max(1, round(period))
        start = _next_second()
        base = {name: self.clocks[name].offset_at(start) for name in names}
        flips = 0
        at = start
        while at - start < duration or flips % 2:
            shift = 0.0 if flips % 2 else delta
            flips += 1
            for name in names:
                self._set(cluster.node(name), NodeClock(base[name] + shift, 1.0, at))
            _sleep_until(at + READ_MARGIN)
            at += step
            _sleep_until(at - WRITE_AHEAD)
        for name in names:
            self._set(cluster.node(name), NodeClock(base[name], 1.0, at))
        _sleep_until(at + READ_MARGIN)

    def _set(self, node: NodeHandle, clock: NodeClock) -> None:
        if clock.rate == 1.0:
            line = f"{clock.offset:+.6f} x1"
        else:
            line = f"@{clock.since + clock.offset:.6f} x{clock.rate:g}"
        _write_atomically(node, control_path(node), line)
        self.clocks[node.name] = clock
        self.timeline.setdefault(node.name, []).append(clock)

    def teardown(self, cluster: Cluster, system: System) -> None:
        """The run's end: stop the nodes (the system's own teardown would, next), so their
        clocks are true again and libfaketime's files can go: those of a process can only be
        removed once it is gone, as one starting meanwhile makes them again."""
        now = time.time()
        for node in cluster.nodes:
            node.stop()
            if node.name in self.clocks:
                self.timeline[node.name].append(NodeClock(0.0, 1.0, now))
                node.exec(["rm", "-f", str(control_path(node))])
            for key in faketime_env(node):
                node.spawn_env.pop(key, None)
        self.clocks.clear()
        if self.set_up_at is not None:
            since = str(int(self.set_up_at) - 1)  # whole seconds, as `stat -c %Y` gives
            for node in cluster.nodes:
                node.exec(["sh", "-c", REMOVE_DEAD, "sh", since])  # files of gone processes made since

    def results(self, origin_wall: float) -> dict[str, Any]:
        """`{"clock": {node: [[t, offset], ...]}}` for results.json; nothing if no clock moved."""
        return {"clock": offset_points(self.timeline, origin_wall)} if self.timeline else {}


READ_MARGIN = 0.05  # past a whole second, when the nodes have read a line written for it
WRITE_AHEAD = 0.2  # before a whole second, when the strobe writes the line for it


def _next_second() -> float:
    """The next whole second of real time, when the nodes next read their control files; the
    line written now is for then (one written late, past the second, waits a second more)."""
    return float(int(time.time()) + 1)


def _sleep_until(wall: float) -> None:
    while (left := wall - time.time()) > 0:
        time.sleep(left)


def _gone(pid: int) -> bool:
    """No such process, or a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].startswith("Z")


def remove_orphaned_files(directory: Path = SHM_DIR) -> list[str]:
    """Remove libfaketime's files on this host whose process is gone (crashed runs left them);
    returns what was removed, one line per process. One whose pid runs is left alone, whoever
    it belongs to."""
    gone: dict[int, list[str]] = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    for name in names:
        for start in SHM_PATTERNS:
            pid = name[len(start):]
            if name.startswith(start) and pid.isdigit() and _gone(int(pid)):
                try:
                    os.unlink(directory / name)
                except OSError:
                    continue
                gone.setdefault(int(pid), []).append(name)
    return [f"libfaketime files {', '.join(files)} in {directory} (pid {pid} is gone)" for pid, files in sorted(gone.items())]


def _write_atomically(node: NodeHandle, path: Path, line: str) -> None:
    """Through the handle, so it works on remote nodes; rename, so a reader never sees half."""
    result = node.exec(["sh", "-c", 'printf "%s\\n" "$1" > "$2.tmp" && mv "$2.tmp" "$2"', "sh", line, str(path)])
    if result.returncode != 0:
        raise HarnessError(f"could not write the clock control file on {node.name}: {result.stderr.strip()}")


def clock_fault(nodes: Sequence[str], rng: Any) -> dict[str, Any]:
    """One seeded clock fault on a random subset of nodes."""
    targets = spread(nodes, rng)
    kind = ["bump", "bump", "strobe", "drift"][rng.randrange(4)]
    sign = -1 if rng.random() < 0.5 else 1
    return kind_fault(kind, targets, sign, rng)


def kind_fault(kind: str, targets: Sequence[str], sign: int, rng: Any, longest: float = 6.0) -> dict[str, Any]:
    """A bump of ±1/16..256 s, a strobe of ±1/4..64 s flipping every 1 or 2 s (a node reads its
    clock setting once a second) for 2..6 s or `longest`, or a drift at x0.5..x2."""
    if kind == "bump":
        return {"f": "bump", "value": {"nodes": targets, "delta": round(sign * 2 ** rng.uniform(-4, 8), 3)}}
    if kind == "strobe":
        return {"f": "strobe", "value": {"nodes": targets, "delta": round(sign * 2 ** rng.uniform(-2, 6), 3),
                                         "period": 1 if rng.random() < 2 / 3 else 2,
                                         "duration": round(min(longest, rng.uniform(2, 6)), 2)}}
    return {"f": "drift", "value": {"nodes": targets, "rate": round(2 ** rng.uniform(-1, 1), 3)}}


def forward_fault(nodes: Sequence[str], rng: Any) -> dict[str, Any]:
    """The `forward` variant: every node's clock jumps 2..16 s ahead at once, so a timer on the
    wall clock (a lease, a timeout) ends early for certain, whichever node keeps it."""
    return {"f": "bump", "value": {"nodes": list(nodes), "delta": round(2 ** rng.uniform(1, 4), 3)}}


def _build(variant: str, name: str, options: NemesisOptions) -> NemesisPackage:
    if "clock" not in options.capabilities:
        raise HarnessError(f"--nemesis {name}: this system does not declare the `clock` capability")
    libfaketime_path()
    nodes = list(options.nodes)
    return NemesisPackage(
        name=name,
        nemesis=ClockNemesis(),
        fs=frozenset({"bump", "strobe", "drift", "reset-clock"}),
        generator=start_stop(schedule_key(name), options.seed, options.interval,
                             lambda rng: (forward_fault if variant == "forward" else clock_fault)(nodes, rng), {"f": "reset-clock"}),
        final_generator={"f": "reset-clock"},
        draw={f: {"start": f, "stop": "reset-clock", "color": "#c0a0e8"} for f in ("bump", "strobe", "drift")},
        options={"interval": options.interval,
                 "faults": "bump +2..16 s, reset" if variant == "forward" else "bump ±1/16..256 s, strobe, drift x0.5..x2, reset",
                 "targets": "all" if variant == "forward" else "one, a minority or all", "timeline": "results.json `clock`: each node's offset over time"},
    )


# `clock` (mixed faults) or `clock:forward` (forward jumps on every node, a targeted schedule).
clock = Family("clock", ("mixed", "forward"), _build)
