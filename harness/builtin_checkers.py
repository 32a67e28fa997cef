"""The checkers faultline ships, and who else registers their names, found without
`importlib.metadata`.

`plugins.load("checker", name)` of a built-in name imports it straight away: scanning every
installed distribution's entry points through `importlib.metadata` costs about 25 ms, a large
part of `faultline analyze` on a small history. But an outside package may register a checker
under a built-in name, and then that name must not quietly mean faultline's own: `outside_claims`
finds such packages by reading each distribution's entry_points.txt on sys.path directly (a
directory listing and a few small files, about a millisecond), and the caller makes it an error
naming the package. This module imports nothing heavy, so the quick path of `faultline
analyze` (harness/launch.py) can ask it too.
"""

from __future__ import annotations

import os
import sys

GROUP = "faultline.checkers"

# The same targets as faultline's own "faultline.checkers" entry points in pyproject.toml
# (tests/test_plugins.py holds them equal).
BUILT_IN_CHECKERS = {
    "set": "checkers.set:check",
    "convergence": "checkers.convergence:check",
    "stale-reads": "checkers.stale_reads:check",
    "election-safety": "checkers.election_safety:check",
    "log-agreement": "checkers.log_agreement:check",
    "linearizable": "checkers.linearizable:check",
    "queue": "checkers.queue:check",
    "counter": "checkers.counter:check",
    "list-append": "checkers.txn:check_list_append",
    "rw-register": "checkers.txn:check_rw_register",
    "bank": "checkers.bank:check",
    "mutex": "checkers.mutex:check",
    "fencing": "checkers.fencing:check",
    "leader": "checkers.leader:check",
}

OWN_DISTRIBUTION = "faultline"


def outside_claims(name: str) -> list[tuple[str, str]]:
    """(distribution, entry point target) for each installed distribution other than faultline
    that registers a checker called `name`, in sys.path order. Reads *.dist-info and *.egg-info
    directories on sys.path, as importlib.metadata finds distributions there (zipped eggs and
    other importers' distributions are not seen)."""
    claims = []
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except OSError:
            continue  # a zip file, a folder that is gone
        with listing:
            for item in listing:
                if not item.name.endswith((".dist-info", ".egg-info")):
                    continue
                distribution = _distribution_name(item.name)
                if distribution == OWN_DISTRIBUTION:
                    continue
                target = _registered(os.path.join(item.path, "entry_points.txt"), name)
                if target is not None:
                    claims.append((distribution, target))
    return claims


def _distribution_name(folder: str) -> str:
    """`Faultline_Redis-0.1.0.dist-info` -> `faultline-redis` (PEP 503's normal form)."""
    stem = folder.rsplit(".", 1)[0].split("-", 1)[0]
    return "-".join(stem.replace("_", "-").replace(".", "-").lower().split("-"))


def _registered(path: str, name: str) -> str | None:
    """The target `name` has in the faultline.checkers section of an entry_points.txt, if any."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    if GROUP not in text:
        return None
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == GROUP and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            if key.strip() == name:
                return value.strip()
    return None
