"""The dependency graph: nodes are transaction ids, edges carry a bitmask of kinds (ww, wr, rw,
process, realtime) and, for the data edges, the key and value that explain them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}


@dataclass
class Graph:
    n: int
    out: list[dict[int, int]] = field(default_factory=list)
    # (a, b, kind) -> (key, value) that makes the edge; for the sentence explaining it
    why: dict[tuple[int, int, int], tuple[Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.out:
            self.out = [dict() for _ in range(self.n)]

    def add(self, a: int, b: int, kind: int, key: Any = None, value: Any = None) -> None:
        if a == b:  # a txn depending on itself is "internal", not a cycle
            return
        edges = self.out[a]
        old = edges.get(b, 0)
        if not old & kind:
            edges[b] = old | kind
            if key is not None:
                self.why[(a, b, kind)] = (key, value)


def strongly_connected(graph: Graph, mask: int, deadline: "Deadline") -> list[list[int]]:
    """Tarjan's algorithm, iterative (histories have chains far deeper than Python's stack),
    over edges whose kind is in `mask`. Components of one node are left out."""
    index = [-1] * graph.n
    low = [0] * graph.n
    on_stack = [False] * graph.n
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(graph.n):
        if index[root] != -1:
            continue
        work = [(root, iter(graph.out[root].items()))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, it = work[-1]
            advanced = False
            for nxt, kinds in it:
                if not kinds & mask:
                    continue
                if index[nxt] == -1:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, iter(graph.out[nxt].items())))
                    advanced = True
                    break
                if on_stack[nxt] and index[nxt] < low[node]:
                    low[node] = index[nxt]
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack[x] = False
                    comp.append(x)
                    if x == node:
                        break
                if len(comp) > 1:
                    comps.append(comp)
        deadline.check()
    return comps


def shortest_path(graph: Graph, start: int, goal: int, mask: int, within: set[int],
                  deadline: "Deadline") -> list[tuple[int, int]] | None:
    """Breadth-first: the shortest path start -> goal over `mask` edges inside `within`, as
    [(node, kind of edge leaving it), ...] ending at the node before goal; None if none."""
    parent: dict[int, tuple[int, int]] = {start: (-1, 0)}
    queue = deque([start])
    steps = 0
    while queue:
        node = queue.popleft()
        for nxt, kinds in graph.out[node].items():
            k = kinds & mask
            if not k or nxt not in within:
                continue
            if nxt == goal:
                path = [(node, _lowest(k))]
                while parent[node][0] != -1:
                    prev, kind = parent[node]
                    path.append((prev, kind))
                    node = prev
                path.reverse()
                return path
            if nxt not in parent:
                parent[nxt] = (node, _lowest(k))
                queue.append(nxt)
        steps += 1
        if steps & 1023 == 0:
            deadline.check()
    return None


def _lowest(kinds: int) -> int:
    # the data kinds explain best; realtime last
    return kinds & -kinds


class OutOfTime(Exception):
    pass


@dataclass
class Deadline:
    at: float  # time.monotonic() value, or inf

    def check(self) -> None:
        import time
        if time.monotonic() > self.at:
            raise OutOfTime()


def kinds_of(mask: int) -> Iterable[str]:
    return [name for bit, name in KIND_NAMES.items() if mask & bit]
