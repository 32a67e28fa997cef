"""Consistent hashing with virtual nodes: which N nodes replicate a key.

Every node builds the same ring from the same membership list, so all of them agree on each
key's preference list without talking to each other (membership is fixed for a test).
"""

from __future__ import annotations

import bisect
import hashlib
from typing import Sequence


def _position(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big")


class Ring:
    def __init__(self, nodes: Sequence[str], replicas: int, vnodes: int = 16):
        if not nodes:
            raise ValueError("a ring needs at least one node")
        self.nodes = sorted(set(nodes))
        self.replicas = min(replicas, len(self.nodes))
        self._tokens = sorted((_position(f"{node}#{i}"), node) for node in self.nodes for i in range(vnodes))
        self._positions = [position for position, _ in self._tokens]

    def preference_list(self, key: str) -> list[str]:
        """The key's replicas: the first `replicas` distinct nodes clockwise from its hash."""
        start = bisect.bisect(self._positions, _position(key))
        owners: list[str] = []
        for step in range(len(self._tokens)):
            node = self._tokens[(start + step) % len(self._tokens)][1]
            if node not in owners:
                owners.append(node)
                if len(owners) == self.replicas:
                    break
        return owners
