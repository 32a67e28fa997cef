"""The lock workload: clients contend for one lease lock and write through a fenced store.

Each client process loops: `acquire {name, ttl}`, then `write` three times (the client sends
`(owner, token, seq)` to the fenced store with the token it holds) with an `extend` (a fresh
`ttl` for the lease it holds) after the first, then `release`, whether or
not the acquire was granted (a client holding nothing fails its writes and release without
sending them). So every client spends most of its ops holding or acting as if it held, and a
client pause lands on a holder about as often as there are holders; a retry loop after a
failed acquire would put nearly every pause on a waiting client. The time between a client's
ops (the rate limit) is how long it holds. Ops and values are the contract with clients (see `systems_under_test.lockd.client`):
an ok acquire completes with `{name, ttl, token, owner}`, an ok extend with `{name, ttl, token,
owner}`, an ok write with `{token, owner, seq}`.

Parameters (`System.workload_params["lock"]`): `ttl` (seconds, default 1), `name` (default "L").
Checked by `mutex` (no two holders) and `fencing` (the store never takes an older token after a
newer one).
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.core import PENDING, Context, Generator, invocation
from harness.seams import WorkloadOptions

CYCLE = ("acquire", "write", "extend", "write", "write", "release")


class LockOps(Generator):
    """Each process's place in its acquire-write-release cycle; pure, like every generator."""

    __slots__ = ("name", "ttl", "places")

    def __init__(self, name: str, ttl: float, places: tuple = ()):
        self.name, self.ttl, self.places = name, ttl, places  # places: ((process, step), ...)

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        process = ctx.workers[thread]
        places = dict(self.places)
        step = places.get(process, 0)
        f = CYCLE[step]
        value = {"name": self.name, "ttl": self.ttl} if f in ("acquire", "extend") else None
        places[process] = (step + 1) % len(CYCLE)
        return invocation(f, value, process, ctx.time), LockOps(self.name, self.ttl, tuple(places.items()))


class LockWorkload:
    name = "lock"
    description = "clients loop acquire, fenced writes, release on one lease lock; checked for mutual exclusion and fencing"

    def generator(self, options: WorkloadOptions) -> Any:
        params = options.params
        return LockOps(str(params.get("name", "L")), float(params.get("ttl", 1.0)))

    def final_generator(self, options: WorkloadOptions) -> Any:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"mutex": {}, "fencing": {}}
