"""Client pauses: a client stalls in the middle of an operation for a while, then carries on, as
a client process stopped by SIGSTOP or a long GC pause does. Lock and lease tests need this: the
client holds its lease and says nothing past the lease's expiry, then wakes and acts on it.

Clients are threads of the controller, so the pause is a gate in the runner
(`harness.client_gates`) that this nemesis reaches through `bind_clients`; nothing touches the
nodes, and it works the same on every runtime. Each `pause-client` op names the client thread it
stalls (a seeded choice) and for how many seconds; its completion adds the process that thread
runs. The matching `resume-client` comes that many seconds later and its completion lists every
stalled op (thread, process, op index, where it stalled, for how long). The gate also reopens by
itself when the pause's time is up, so a nemesis thread busy with another fault cannot stretch a
pause; `resume-client` is then a record. The final heal and teardown reopen every gate.

Entry point: `pause-client`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from harness.generator.combinators import lift, sequence, sleep
from harness.generator.core import Context, Generator
from harness.generator.rng import Rng, derive_seed, initial_state
from harness.history import INFO, Op
from harness.seams import ClientGates, Cluster, HarnessError, NemesisOptions, NemesisPackage, System
from nemeses.variants import Family

PAUSE, RESUME = "pause-client", "resume-client"


class ClientPauseNemesis:
    def __init__(self) -> None:
        self.gates: ClientGates | None = None

    def bind_clients(self, gates: ClientGates) -> None:
        self.gates = gates

    def setup(self, cluster: Cluster, system: System) -> None:
        pass

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if self.gates is None:
            raise HarnessError("pause-client needs the runner's client gates (it was not bound with bind_clients)")
        if op.f == PAUSE:
            value = op.value or {}
            try:
                processes = self.gates.close(value["threads"], float(value["seconds"]))
            except (KeyError, TypeError, ValueError) as e:
                raise HarnessError(f"pause-client op {value!r}: {e}; give {{'threads': [int, ...], 'seconds': float}}") from None
            return op.complete(INFO, value={**value, "processes": [processes[t] for t in value["threads"]]})
        if op.f == RESUME:
            return op.complete(INFO, value={"stalls": self.gates.open()})
        raise HarnessError(f"client pause nemesis cannot do f={op.f!r}")

    def teardown(self, cluster: Cluster, system: System) -> None:
        if self.gates is not None:
            self.gates.open()


class Episodes(Generator):
    """Fault episodes back to back, each a fresh generator that `make(rng)` builds from the seeded
    rng: like `cycle`, but every round draws new targets and lengths. The rng state moves on only
    when an episode is made, so asking again gives the same episode."""

    __slots__ = ("make", "state", "current")

    def __init__(self, make: Callable[[Rng], Any], state: int, current: Generator | None):
        self.make = make
        self.state = state
        self.current = current

    def op(self, ctx: Context) -> tuple[Any, Generator] | None:
        state, current = self.state, self.current
        while True:
            if current is None:
                rng = Rng(state)
                current = lift(self.make(rng))
                state = rng.state
            answer = current.op(ctx)
            if answer is not None:
                op, after = answer
                if after is self.current:
                    return op, self
                return op, Episodes(self.make, state, after)
            current = None

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.current is None:
            return self
        after = self.current.update(ctx, event)
        return self if after is self.current else Episodes(self.make, self.state, after)

    def __repr__(self) -> str:
        return f"Episodes({self.current!r})"


def pause_episode(concurrency: int, interval: float, rng: Rng) -> Generator:
    """A gap, then one client thread paused for about an interval, then its resume."""
    gap = round(rng.uniform(0.5, 1.5) * interval, 3)
    seconds = round(rng.uniform(0.5, 1.5) * interval, 3)
    threads = [rng.randrange(concurrency)]
    pause: Mapping[str, Any] = {"f": PAUSE, "value": {"threads": threads, "seconds": seconds}}
    # In a sequence a sleep counts from the op before it: the resume comes `seconds` after the pause.
    return sequence(sleep(gap), pause, sleep(seconds), {"f": RESUME})


def _build(variant: str, name: str, options: NemesisOptions) -> NemesisPackage:
    if options.concurrency < 1:
        raise HarnessError(f"--nemesis {name} needs at least one client (--concurrency)")
    concurrency, interval = options.concurrency, options.interval
    return NemesisPackage(
        name=name,
        nemesis=ClientPauseNemesis(),
        fs=frozenset({PAUSE, RESUME}),
        generator=Episodes(
            lambda rng: pause_episode(concurrency, interval, rng), initial_state(derive_seed(options.seed, "pause-client")), None
        ),
        final_generator={"f": RESUME},
        draw={PAUSE: {"start": PAUSE, "stop": RESUME, "color": "#a0c0e8"}},
        options={"interval": interval, "targets": "one client thread, chosen from the seed",
                 "pause": "0.5..1.5 intervals, mid-operation (before send or after reply)",
                 "back after": "resume-client, when the pause's time is up"},
    )


pause_client = Family("pause-client", (), _build)
