"""Cycle search and classification.

Classes are decided through strongly connected components rather than by enumerating cycles:
- G0: a ww edge inside a component of the ww graph (one search decides it);
- G1c: a wr edge inside a component of the ww+wr graph (one search decides it);
- G-single: an rw edge a->b inside a component of the whole graph with a ww/wr path b -> a
  (one breadth-first search per rw edge, until one is found: the costly search, bounded
  by the deadline);
- G-nonadjacent: an rw edge with no such path, but one whose rw edges are never adjacent;
- G2-item: an rw edge whose every path back has two rw edges in a row (or one next to it).
The witness is the edge plus a breadth-first shortest path back, so cycles are short.
`-process` / `-realtime` variants are the same searches with those edges added, reported
when the plain search found nothing of that class."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from checkers.txn.graph import PROCESS, REALTIME, RW, WR, WW, Deadline, Graph, shortest_path, strongly_connected

VARIANTS = {0: "", PROCESS: "-process", REALTIME: "-realtime"}


@dataclass
class Cycle:
    anomaly: str
    steps: list[tuple[int, int, int]]  # (from txn id, kind, to txn id)


def _component_of(comps: list[list[int]]) -> dict[int, int]:
    return {node: c for c, comp in enumerate(comps) for node in comp}


def _witness(graph: Graph, name: str, extra: int, edge_kind: int, inner: dict[int, int],
             outer_mask: int, outer: dict[int, int], path_mask: int, comps: list[list[int]],
             same_inner: bool | None, deadline: Deadline) -> Cycle | None:
    """The first `edge_kind` edge a->b with a, b in one `outer` component (and, when
    `same_inner` is given, in the same / different `inner` component), closed by a shortest
    path b -> a over `path_mask` edges."""
    for a in range(graph.n):
        ca = outer.get(a)
        if ca is None:
            continue
        for b, kinds in graph.out[a].items():
            if not kinds & edge_kind or outer.get(b) != ca:
                continue
            if same_inner is not None:
                together = inner.get(a) is not None and inner.get(a) == inner.get(b)
                if together != same_inner:
                    continue
            path = shortest_path(graph, b, a, path_mask, set(comps[ca]), deadline)
            if path is None:
                continue
            steps = [(a, edge_kind, b)]
            for i, (node, kind) in enumerate(path):
                to = path[i + 1][0] if i + 1 < len(path) else a
                steps.append((node, kind, to))
            used = 0
            for _, kind, _ in steps:
                used |= kind
            suffix = "-realtime" if used & REALTIME else "-process" if used & PROCESS else ""
            return Cycle(name + suffix, steps)
        deadline.check()
    return None


def find_cycles(graph: Graph, extras: list[int], deadline: Deadline) -> tuple[list[Cycle], list[str]]:
    """One witness per anomaly class found, for each set of extra edges in `extras` (0 first).
    Returns (cycles, classes not searched because time ran out)."""
    from checkers.txn.graph import OutOfTime
    found: dict[str, Cycle] = {}
    unfinished: list[str] = []
    everything = WW | WR | RW
    for extra in extras:
        everything |= extra
    try:
        if not strongly_connected(graph, everything, deadline):
            return [], []  # no cycle of any kind: the common case, one pass over the graph
    except OutOfTime:
        return [], [n + VARIANTS[e] for e in extras for n in ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")]
    # process order lies inside real-time order, so no real-time cycle means no process cycle
    extras = sorted(extras, key=lambda e: (e != 0, e != REALTIME))
    for extra in extras:
        if extra == PROCESS and REALTIME in extras and not any(c.anomaly.endswith("-realtime") for c in found.values()):
            continue
        plan = [("G0",), ("G1c",), ("G-single",), ("G-nonadjacent",), ("G2-item",)]
        try:
            ww = strongly_connected(graph, WW | extra, deadline)
            wwr = strongly_connected(graph, WW | WR | extra, deadline)
            full = strongly_connected(graph, WW | WR | RW | extra, deadline)
        except OutOfTime:
            unfinished.extend(name + VARIANTS[extra] for name, in plan)
            continue
        maps = {"ww": _component_of(ww), "wwr": _component_of(wwr), "full": _component_of(full)}
        searches = [
            ("G0", WW, maps["ww"], ww, WW | extra, None),
            ("G1c", WR, maps["wwr"], wwr, WW | WR | extra, None),
        ]
        for name, kind, outer, comps, path_mask, same_inner in searches:
            if name in found:
                continue  # the plain class already has a witness
            try:
                cycle = _witness(graph, name, extra, kind, maps["wwr"], 0, outer, path_mask, comps,
                                     same_inner, deadline)
            except OutOfTime:
                unfinished.append(name + VARIANTS[extra])
                continue
            if cycle is not None and cycle.anomaly not in found:
                found[cycle.anomaly] = cycle
        rw_classes = ("G-single", "G-nonadjacent", "G2-item")
        if all(n in found for n in rw_classes):
            continue
        try:
            witnesses = _rw_cycles(graph, maps["full"], full, extra, deadline)
        except OutOfTime:
            unfinished.extend(n + VARIANTS[extra] for n in rw_classes if n not in found)
            continue
        for base, cycle in witnesses.items():
            if base not in found and cycle.anomaly not in found:
                found[cycle.anomaly] = cycle
    return list(found.values()), unfinished


def _rw_cycles(graph: Graph, full: dict[int, int], comps: list[list[int]], extra: int,
               deadline: Deadline) -> dict[str, Cycle]:
    """G-single, G-nonadjacent and G2-item witnesses. Until a G-single is found, each rw edge
    a->b inside a component gives the most specific class it closes: a ww/wr path back b -> a
    makes a G-single cycle; else a path back whose rw edges are never adjacent (to each other
    or to a->b) a G-nonadjacent one; else any path back (it then has two rw edges in a row) a
    G2-item one. Once a G-single is found every model these classes rule out is ruled out, so
    the other classes are only named: one breadth-first search per edge, its cycle classified
    by its edges. Stops once all three are found."""
    found: dict[str, Cycle] = {}
    members = [set(c) for c in comps]
    plain = WW | WR | extra
    for a in range(graph.n):
        ca = full.get(a)
        if ca is None:
            continue
        for b, kinds in graph.out[a].items():
            if not kinds & RW or full.get(b) != ca:
                continue
            if "G-single" in found:
                path = shortest_path(graph, b, a, plain | RW, members[ca], deadline)
                if path is not None:
                    cycle = _cycle("G2-item", a, b, path)
                    found.setdefault(_rw_class(cycle), cycle)
            elif (path := shortest_path(graph, b, a, plain, members[ca], deadline)) is not None:
                found["G-single"] = _cycle("G-single", a, b, path)
            elif (path := _nonadjacent_path(graph, b, a, plain, members[ca], deadline)) is not None:
                found.setdefault("G-nonadjacent", _cycle("G-nonadjacent", a, b, path))
            elif "G2-item" not in found:
                path = shortest_path(graph, b, a, plain | RW, members[ca], deadline)
                if path is not None:
                    found["G2-item"] = _cycle("G2-item", a, b, path)
            if len(found) == 3:
                return found
        deadline.check()
    return found


def _rw_class(cycle: Cycle) -> str:
    """G-single (one rw edge), G-nonadjacent (no two rw edges in a row, cyclically) or
    G2-item; the cycle is renamed to match, keeping its -process / -realtime suffix."""
    rw = [kind == RW for _, kind, _ in cycle.steps]
    name = "G-single" if sum(rw) == 1 else (
        "G2-item" if any(rw[i] and rw[i - 1] for i in range(len(rw))) else "G-nonadjacent")
    cycle.anomaly = name + cycle.anomaly[len("G2-item"):]
    return name


def _nonadjacent_path(graph: Graph, start: int, goal: int, plain: int, within: set[int],
                      deadline: Deadline) -> list[tuple[int, int]] | None:
    """Breadth-first over (node, whether the edge into it was rw): the shortest path start ->
    goal, entered by an rw edge (the one the cycle starts with), whose rw edges never follow one
    another and whose last edge is not rw. Same shape as `shortest_path`'s answer."""
    begin = (start, True)
    parent: dict[tuple[int, bool], tuple[tuple[int, bool] | None, int]] = {begin: (None, 0)}
    queue = deque([begin])
    steps = 0
    while queue:
        state = queue.popleft()
        node, after_rw = state
        for nxt, kinds in graph.out[node].items():
            if nxt not in within:
                continue
            moves = []
            if kinds & plain:
                moves.append(((nxt, False), kinds & plain & -(kinds & plain)))
            if kinds & RW and not after_rw and nxt != goal:
                moves.append(((nxt, True), RW))
            for target, kind in moves:
                if target in parent:
                    continue
                parent[target] = (state, kind)
                if target == (goal, False):
                    path = []
                    at = target
                    while parent[at][0] is not None:
                        prev, k = parent[at]
                        path.append((prev[0], k))
                        at = prev
                    path.reverse()
                    return path
                queue.append(target)
        steps += 1
        if steps & 1023 == 0:
            deadline.check()
    return None


def _cycle(name: str, a: int, b: int, path: list[tuple[int, int]]) -> Cycle:
    steps = [(a, RW, b)]
    for i, (node, kind) in enumerate(path):
        to = path[i + 1][0] if i + 1 < len(path) else a
        steps.append((node, kind, to))
    used = 0
    for _, kind, _ in steps:
        used |= kind
    suffix = "-realtime" if used & REALTIME else "-process" if used & PROCESS else ""
    return Cycle(name + suffix, steps)
