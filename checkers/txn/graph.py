"""The dependency graph as integer arrays: edges are appended to flat arrays while the history
is read (`Edges`), then frozen into one compressed sparse row structure (`Graph`) whose edge
kinds are a bitmask (ww, wr, rw, process, realtime). Strongly connected components come from
scipy.sparse.csgraph; the breadth-first searches that find witnesses run in Python, but only
inside nontrivial components. numpy and scipy are imported here lazily, so a process that
never checks a transactional history (a register analysis, say) never loads them."""

from __future__ import annotations

import time
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}


class Edges:
    """Edges as they are found, in order: a -> b of one kind, with the key and value that
    explain a data edge. Duplicates are allowed (they are merged when frozen, the first
    explanation kept); a txn depending on itself is `internal`, not an edge."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.src = array("i")
        self.dst = array("i")
        self.kind = array("B")
        self.key: list[Any] = []
        self.value: list[Any] = []

    def add(self, a: int, b: int, kind: int, key: Any = None, value: Any = None) -> None:
        if a == b:
            return
        self.src.append(a)
        self.dst.append(b)
        self.kind.append(kind)
        self.key.append(key)
        self.value.append(value)

    def add_many(self, src: list[int], dst: list[int], kind: int) -> None:
        """Order edges in bulk, without explanation; the caller makes none from a node to
        itself (a real-time or process successor is always another txn)."""
        self.src.extend(src)
        self.dst.extend(dst)
        self.kind.extend([kind] * len(src))
        nothing = [None] * len(src)
        self.key.extend(nothing)
        self.value.extend(nothing)


class Graph:
    """Frozen edges: CSR arrays with one entry per (a, b) pair, its kinds OR-ed together, the
    neighbours of a node in the order their first edge was found (so searches, and therefore
    the witnesses they return, do not depend on how the arrays were sorted)."""

    def __init__(self, edges: Edges) -> None:
        import numpy as np

        self.n = edges.n
        self._edges = edges
        src = np.frombuffer(edges.src, dtype=np.int32) if len(edges.src) else np.zeros(0, np.int32)
        dst = np.frombuffer(edges.dst, dtype=np.int32) if len(edges.dst) else np.zeros(0, np.int32)
        kind = np.frombuffer(edges.kind, dtype=np.uint8) if len(edges.kind) else np.zeros(0, np.uint8)
        self._src, self._dst, self._kind = src, dst, kind
        if len(src):
            pair = src.astype(np.int64) * self.n + dst
            # group equal pairs with the first-found first, merge their kinds, then put the
            # pairs back in the order they were first found, grouped by source
            order = np.lexsort((np.arange(len(pair)), pair))
            sorted_pair = pair[order]
            starts = np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]])
            kinds = np.bitwise_or.reduceat(kind[order], starts)
            first = order[starts]
            back = np.lexsort((first, src[first]))
            first, kinds = first[back], kinds[back]
            self.src = src[first]
            self.dst = dst[first]
            self.kinds = kinds
        else:
            self.src = self.dst = np.zeros(0, np.int32)
            self.kinds = np.zeros(0, np.uint8)
        self.indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.src, minlength=self.n), out=self.indptr[1:])
        self._lists: tuple[list[int], list[int], list[int]] | None = None

    @property
    def edge_count(self) -> int:
        return len(self.src)

    def components(self, mask: int) -> list[list[int]]:
        """Strongly connected components of more than one node, over edges with a kind in
        `mask`; each component's nodes ascending, components in order of their first node."""
        import numpy as np
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        keep = (self.kinds & mask) != 0
        if not keep.any():
            return []
        src, dst = self.src[keep], self.dst[keep]
        matrix = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(self.n, self.n))
        count, labels = connected_components(matrix, directed=True, connection="strong")
        sizes = np.bincount(labels, minlength=count)
        big = sizes[labels] > 1
        if not big.any():
            return []
        nodes = np.flatnonzero(big)  # ascending
        order = np.argsort(labels[nodes], kind="stable")
        grouped = nodes[order]
        cuts = np.flatnonzero(np.diff(labels[grouped])) + 1
        comps = [c.tolist() for c in np.split(grouped, cuts)]
        comps.sort(key=lambda c: c[0])
        return comps

    def adjacency(self) -> tuple[list[int], list[int], list[int]]:
        """(indptr, neighbours, kinds) as Python lists, for the searches (fast item access)."""
        if self._lists is None:
            self._lists = (self.indptr.tolist(), self.dst.tolist(), self.kinds.tolist())
        return self._lists

    def out(self, a: int) -> list[tuple[int, int]]:
        """(neighbour, kinds) of node a, in the order found."""
        indptr, nbrs, kinds = self.adjacency()
        lo, hi = indptr[a], indptr[a + 1]
        return list(zip(nbrs[lo:hi], kinds[lo:hi]))

    def why(self, a: int, b: int, kind: int) -> tuple[Any, Any]:
        """(key, value) of the first a -> b edge of `kind` found; called only for the edges of
        the cycles reported, so a scan of the arrays is cheap enough."""
        import numpy as np

        hits = np.flatnonzero((self._src == a) & (self._dst == b) & (self._kind == kind))
        if not len(hits):
            return (None, None)
        i = int(hits[0])
        return (self._edges.key[i], self._edges.value[i])


def shortest_path(graph: Graph, start: int, goal: int, mask: int, within: list[int], component: int,
                  deadline: "Deadline") -> list[tuple[int, int]] | None:
    """Breadth-first: the shortest path start -> goal over `mask` edges among the nodes whose
    `within` label is `component`, as [(node, kind of edge leaving it), ...] ending at the node
    before goal; None if none."""
    indptr, nbrs, kinds = graph.adjacency()
    parent: dict[int, tuple[int, int]] = {start: (-1, 0)}
    queue = deque([start])
    steps = 0
    while queue:
        node = queue.popleft()
        for i in range(indptr[node], indptr[node + 1]):
            k = kinds[i] & mask
            if not k:
                continue
            nxt = nbrs[i]
            if within[nxt] != component:
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


def labels_of(n: int, comps: list[list[int]]) -> list[int]:
    """Node -> index of its component in `comps`, -1 for nodes in none."""
    labels = [-1] * n
    for c, comp in enumerate(comps):
        for node in comp:
            labels[node] = c
    return labels


def _lowest(kinds: int) -> int:
    # the data kinds explain best; realtime last
    return kinds & -kinds


class OutOfTime(Exception):
    pass


@dataclass
class Deadline:
    at: float  # time.monotonic() value, or inf

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise OutOfTime()


def kinds_of(mask: int) -> Iterable[str]:
    return [name for bit, name in KIND_NAMES.items() if mask & bit]
