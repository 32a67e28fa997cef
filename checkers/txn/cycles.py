"""Cycle search and classification.

Classes are decided through strongly connected components rather than by enumerating cycles:
- G0: a ww edge inside a component of the ww graph (one search decides it);
- G1c: a wr edge inside a component of the ww+wr graph (one search decides it);
- G-single: an rw edge a->b inside a component of the whole graph with a ww/wr path b -> a
  (one breadth-first search per rw edge, until one is found: the costly search, bounded
  by the deadline);
- G2-item: an rw edge whose every path back has another rw edge.
The witness is the edge plus a breadth-first shortest path back, so cycles are short.
`-process` / `-realtime` variants are the same searches with those edges added, reported
when the plain search found nothing of that class. G-nonadjacent is not told apart from
G2-item (a G-nonadjacent cycle is reported as G2-item)."""

from __future__ import annotations

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
        give_up([n + VARIANTS[e] for e in extras for n in ("G0", "G1c", "G-single", "G2-item")], None)
        return [], unfinished, left
    # process order lies inside real-time order, so no real-time cycle means no process cycle
    extras = sorted(extras, key=lambda e: (e != 0, e != REALTIME))
    for extra in extras:
        if extra == PROCESS and REALTIME in extras and not any(c.anomaly.endswith("-realtime") for c in found.values()):
            continue
        plan = [("G0",), ("G1c",), ("G-single",), ("G2-item",)]
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
        if "G-single" in found and "G2-item" in found:
            continue
        try:
            single, item = _rw_cycles(graph, maps["full"], full, extra, deadline)
        except OutOfTime:
            give_up([n + VARIANTS[extra] for n in ("G-single", "G2-item") if n not in found], full)
            continue
        for cycle in (single, item):
            base = cycle.anomaly.split("-realtime")[0].split("-process")[0] if cycle else None
            if cycle is not None and base not in found and cycle.anomaly not in found:
                found[cycle.anomaly] = cycle
    return list(found.values()), unfinished, left


def _rw_cycles(graph: Graph, full: list[int], comps: list[list[int]], extra: int,
               deadline: Deadline) -> tuple[Cycle | None, Cycle | None]:
    """(G-single, G2-item) witnesses: for each rw edge a->b inside a component, a ww/wr path
    back b -> a makes a G-single cycle; when there is none, any path back has another rw edge,
    a G2-item cycle. Stops once both are found."""
    single = item = None
    for a, b, ca in _edges_inside(graph, RW, full, comps, deadline):
        if single is None:
            path = shortest_path(graph, b, a, WW | WR | extra, full, ca, deadline)
            if path is not None:
                single = _cycle("G-single", a, b, path)
                continue
        elif item is not None:
            return single, item
        if item is None and (single is not None or path is None):
            if single is not None and shortest_path(graph, b, a, WW | WR | extra, full, ca, deadline):
                continue
            path = shortest_path(graph, b, a, WW | WR | RW | extra, full, ca, deadline)
            if path is not None:
                item = _cycle("G2-item", a, b, path)
        if single is not None and item is not None:
            return single, item
    return single, item


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
