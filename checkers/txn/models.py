"""The consistency-model lattice: what each model forbids, and which models are stronger.

A model is ruled out when the history shows an anomaly it forbids; Elle's `:not` are the
weakest models ruled out, `:also-not` the stronger ones that fall with them."""

from __future__ import annotations

from checkers.txn.graph import PROCESS, REALTIME

NONSENSE = ["internal", "garbage", "duplicate-elements", "duplicate-appends", "incompatible-order"]
CYCLES = ["G0", "G1c", "G-single", "G-nonadjacent", "G2-item"]


def _variants(names: list[str], *suffixes: str) -> set[str]:
    return {n + s for n in names for s in suffixes}


_RU = {"G0", *NONSENSE}
# future-read implies G1c, dirty-update G1a (Elle)
_RC = _RU | {"G1a", "G1b", "G1c", "future-read", "dirty-update"}
# SI forbids every cycle whose rw edges are never adjacent (Cerone and Gotsman; Elle), G-single
# being the one-rw case; and lost updates, which first-committer-wins aborts
_SI = _RC | {"G-single", "G-nonadjacent", "lost-update"}
_SER = _SI | {"G2-item"}
# every cycle with an item rw edge is G2-item (Adya), so repeatable read forbids all three
_RR = _RC | {"G-single", "G-nonadjacent", "G2-item", "lost-update"}
_SI_CYCLES = ["G0", "G1c", "G-single", "G-nonadjacent"]
FORBIDS: dict[str, set[str]] = {
    "read-uncommitted": _RU,
    "read-committed": _RC,
    "repeatable-read": _RR,
    "snapshot-isolation": _SI,
    "serializable": _SER,
    "strong-session-snapshot-isolation": _SI | _variants(_SI_CYCLES, "-process"),
    "strong-snapshot-isolation": _SI | _variants(_SI_CYCLES, "-process", "-realtime"),
    "strong-session-serializable": _SER | _variants(CYCLES, "-process"),
    "strict-serializable": _SER | _variants(CYCLES, "-process", "-realtime"),
}
# model -> the models directly weaker than it
WEAKER: dict[str, list[str]] = {
    "read-uncommitted": [],
    "read-committed": ["read-uncommitted"],
    "repeatable-read": ["read-committed"],
    "snapshot-isolation": ["read-committed"],
    "serializable": ["repeatable-read", "snapshot-isolation"],
    "strong-session-snapshot-isolation": ["snapshot-isolation"],
    "strong-snapshot-isolation": ["strong-session-snapshot-isolation"],
    "strong-session-serializable": ["serializable", "strong-session-snapshot-isolation"],
    "strict-serializable": ["strong-session-serializable", "strong-snapshot-isolation"],
}
ALIASES = {"strong-serializable": "strict-serializable", "si": "snapshot-isolation",
           "strong-si": "strong-snapshot-isolation", "strong-session-si": "strong-session-snapshot-isolation"}
# anomaly classes named as Elle does: G1 = G1a, G1b, G1c; G2, the general class of cycles with
# an rw edge, = G-single, G-nonadjacent and G2-item (no predicates here, so G2 is G2-item)
GROUPS = {"G1": ["G1a", "G1b", "G1c"], "G2": ["G-single", "G-nonadjacent", "G2-item"]}


def model_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in FORBIDS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(FORBIDS))}")
    return name


def expand_anomalies(names: list[str]) -> set[str]:
    """Anomaly names a user gave (G1, G2, G-single, G0-realtime...) -> the classes they cover."""
    out: set[str] = set()
    for n in names:
        base = GROUPS.get(n, [n])
        out.update(base)
    return out


def extras_needed(forbidden: set[str]) -> list[int]:
    """Which extra edge kinds the cycle search must add to see the forbidden variants."""
    extras = [0]
    if any(a.endswith("-process") for a in forbidden):
        extras.append(PROCESS)
    if any(a.endswith("-realtime") for a in forbidden):
        extras.append(REALTIME)
    return extras


def stronger_than(model: str) -> set[str]:
    return {m for m in FORBIDS if model in _all_weaker(m)}


def _all_weaker(model: str) -> set[str]:
    out: set[str] = set()
    todo = list(WEAKER[model])
    while todo:
        m = todo.pop()
        if m not in out:
            out.add(m)
            todo.extend(WEAKER[m])
    return out


def ruled_out(anomalies: set[str]) -> tuple[list[str], list[str]]:
    """(not, also-not): the weakest models the anomalies rule out, and every stronger one."""
    out = {m for m, forbids in FORBIDS.items() if forbids & anomalies}
    for m in list(out):
        out |= stronger_than(m)
    weakest = sorted(m for m in out if not (_all_weaker(m) & out))
    return weakest, sorted(out - set(weakest))
