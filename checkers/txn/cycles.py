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
from typing import Any, Iterator

from checkers.txn.graph import PROCESS, REALTIME, RW, WR, WW, Deadline, Graph, labels_of, shortest_path

VARIANTS = {0: "", PROCESS: "-process", REALTIME: "-realtime"}


@dataclass
class Cycle:
    anomaly: str
    steps: list[tuple[int, int, int]]  # (from txn id, kind, to txn id)


def _members(comps: list[list[int]]) -> list[int]:
    """The nodes of all nontrivial components, ascending: the only places a cycle can be."""
    return sorted(node for comp in comps for node in comp)


def _witness(graph: Graph, name: str, extra: int, edge_kind: int, inner: list[int],
             outer_mask: int, outer: list[int], path_mask: int, comps: list[list[int]],
             same_inner: bool | None, deadline: Deadline) -> Cycle | None:
    """The first `edge_kind` edge a->b with a, b in one `outer` component (and, when
    `same_inner` is given, in the same / different `inner` component), closed by a shortest
    path b -> a over `path_mask` edges."""
    for a, b, ca in _edges_inside(graph, edge_kind, outer, comps, deadline):
        if same_inner is not None:
            together = inner[a] != -1 and inner[a] == inner[b]
            if together != same_inner:
                continue
        path = shortest_path(graph, b, a, path_mask, outer, ca, deadline)
        if path is not None:
            return _cycle(name, a, b, path, edge_kind)
    return None


def _edges_inside(graph: Graph, kind: int, labels: list[int], comps: list[list[int]],
                  deadline: Deadline) -> Iterator[tuple[int, int, int]]:
    """(a, b, component) for every `kind` edge a -> b inside one of `comps`, by ascending a
    and then in the order the edges were found; the deadline is checked after each node."""
    indptr, nbrs, kinds = graph.adjacency()
    for a in _members(comps):
        ca = labels[a]
        for i in range(indptr[a], indptr[a + 1]):
            b = nbrs[i]
            if kinds[i] & kind and labels[b] == ca:
                yield a, b, ca
        deadline.check()


@dataclass
class Unfinished:
    """Anomaly classes whose search ran out of time, and the components (txn ids) it had not
    finished searching them in (None: not even the components were computed)."""

    classes: list[str]
    components: list[list[int]] | None


def find_cycles(graph: Graph, extras: list[int], deadline: Deadline) -> tuple[list[Cycle], list[str], list[Unfinished]]:
    """One witness per anomaly class found, for each set of extra edges in `extras` (0 first).
    Returns (cycles, classes not searched because time ran out, where each was left off)."""
    from checkers.txn.graph import OutOfTime
    found: dict[str, Cycle] = {}
    unfinished: list[str] = []
    left: list[Unfinished] = []

    def give_up(classes: list[str], comps: list[list[int]] | None) -> None:
        unfinished.extend(classes)
        left.append(Unfinished(classes, comps))

    everything = WW | WR | RW
    for extra in extras:
        everything |= extra
    try:
        if not graph.components(everything):
            return [], [], []  # no cycle of any kind: the common case, one pass over the graph
    except OutOfTime:
        give_up([n + VARIANTS[e] for e in extras for n in ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")], None)
        return [], unfinished, left
    # process order lies inside real-time order, so no real-time cycle means no process cycle
    extras = sorted(extras, key=lambda e: (e != 0, e != REALTIME))
    for extra in extras:
        if extra == PROCESS and REALTIME in extras and not any(c.anomaly.endswith("-realtime") for c in found.values()):
            continue
        plan = [("G0",), ("G1c",), ("G-single",), ("G-nonadjacent",), ("G2-item",)]
        try:
            ww = graph.components(WW | extra)
            wwr = graph.components(WW | WR | extra)
            full = graph.components(WW | WR | RW | extra)
            deadline.check()
        except OutOfTime:
            give_up([name + VARIANTS[extra] for name, in plan], None)
            continue
        maps = {"ww": labels_of(graph.n, ww), "wwr": labels_of(graph.n, wwr), "full": labels_of(graph.n, full)}
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
                give_up([name + VARIANTS[extra]], comps)
                continue
            if cycle is not None and cycle.anomaly not in found:
                found[cycle.anomaly] = cycle
        rw_classes = ("G-single", "G-nonadjacent", "G2-item")
        if all(n in found for n in rw_classes):
            continue
        try:
            witnesses = _rw_cycles(graph, maps["full"], full, extra, deadline)
        except OutOfTime:
            give_up([n + VARIANTS[extra] for n in rw_classes if n not in found], full)
            continue
        for base, cycle in witnesses.items():
            if base not in found and cycle.anomaly not in found:
                found[cycle.anomaly] = cycle
    return list(found.values()), unfinished, left


def _rw_cycles(graph: Graph, full: list[int], comps: list[list[int]], extra: int,
               deadline: Deadline) -> dict[str, Cycle]:
    """G-single, G-nonadjacent and G2-item witnesses. Until a G-single is found, each rw edge
    a->b inside a component gives the most specific class it closes: a ww/wr path back b -> a
    makes a G-single cycle; else a path back whose rw edges are never adjacent (to each other
    or to a->b) a G-nonadjacent one; else any path back (it then has two rw edges in a row) a
    G2-item one. Once a G-single is found every model these classes rule out is ruled out, so
    the other classes are only named: one breadth-first search per edge, its cycle classified
    by its edges. Stops once all three are found."""
    found: dict[str, Cycle] = {}
    plain = WW | WR | extra
    for a, b, ca in _edges_inside(graph, RW, full, comps, deadline):
        if "G-single" in found:
            path = shortest_path(graph, b, a, plain | RW, full, ca, deadline)
            if path is not None:
                cycle = _cycle("G2-item", a, b, path)
                found.setdefault(_rw_class(cycle), cycle)
        elif (path := shortest_path(graph, b, a, plain, full, ca, deadline)) is not None:
            found["G-single"] = _cycle("G-single", a, b, path)
        elif (path := _nonadjacent_path(graph, b, a, plain, full, ca, deadline)) is not None:
            found.setdefault("G-nonadjacent", _cycle("G-nonadjacent", a, b, path))
        elif "G2-item" not in found:
            path = shortest_path(graph, b, a, plain | RW, full, ca, deadline)
            if path is not None:
                found["G2-item"] = _cycle("G2-item", a, b, path)
        if len(found) == 3:
            return found
    return found


def _rw_class(cycle: Cycle) -> str:
    """G-single (one rw edge), G-nonadjacent (no two rw edges in a row, cyclically) or
    G2-item; the cycle is renamed to match, keeping its -process / -realtime suffix."""
    rw = [kind == RW for _, kind, _ in cycle.steps]
    name = "G-single" if sum(rw) == 1 else (
        "G2-item" if any(rw[i] and rw[i - 1] for i in range(len(rw))) else "G-nonadjacent")
    cycle.anomaly = name + cycle.anomaly[len("G2-item"):]
    return name


def _nonadjacent_path(graph: Graph, start: int, goal: int, plain: int, within: list[int],
                      component: int, deadline: Deadline) -> list[tuple[int, int]] | None:
    """Breadth-first over (node, whether the edge into it was rw), among the nodes whose
    `within` label is `component`: the shortest path start -> goal, entered by an rw edge (the
    one the cycle starts with), whose rw edges never follow one another and whose last edge is
    not rw. Same shape as `shortest_path`'s answer."""
    indptr, nbrs, kinds = graph.adjacency()
    begin = (start, True)
    parent: dict[tuple[int, bool], tuple[tuple[int, bool] | None, int]] = {begin: (None, 0)}
    queue = deque([begin])
    steps = 0
    while queue:
        state = queue.popleft()
        node, after_rw = state
        for i in range(indptr[node], indptr[node + 1]):
            nxt = nbrs[i]
            if within[nxt] != component:
                continue
            k = kinds[i]
            moves = []
            if k & plain:
                moves.append(((nxt, False), k & plain & -(k & plain)))
            if k & RW and not after_rw and nxt != goal:
                moves.append(((nxt, True), RW))
            for target, kind in moves:
                if target in parent:
                    continue
                parent[target] = (state, kind)
                if target == (goal, False):
                    path = []
                    at = target
                    while parent[at][0] is not None:
                        prev, k_in = parent[at]
                        path.append((prev[0], k_in))
                        at = prev
                    path.reverse()
                    return path
                queue.append(target)
        steps += 1
        if steps & 1023 == 0:
            deadline.check()
    return None


def _cycle(name: str, a: int, b: int, path: list[tuple[int, int]], first_kind: int = RW) -> Cycle:
    """The cycle a -first_kind-> b, then `path` back to a; named with the variant its edges make."""
    steps = [(a, first_kind, b)]
    for i, (node, kind) in enumerate(path):
        to = path[i + 1][0] if i + 1 < len(path) else a
        steps.append((node, kind, to))
    used = 0
    for _, kind, _ in steps:
        used |= kind
    suffix = "-realtime" if used & REALTIME else "-process" if used & PROCESS else ""
    return Cycle(name + suffix, steps)
