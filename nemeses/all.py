"""`--nemesis all`: one default fault mix for any system, and `--nemesis all:adaptive`, the same
faults chosen by what the system just did.

A user testing their own system does not know which fault shows its bug, so `all` runs every
fault family the system and the runtime support, one *round* after another, from the seed:

- **partition** (needs a runtime with a firewall and 2+ nodes): halves, a minority cut off from
  the majority, one node alone, the majorities ring, a bridge, one-way (a majority stops hearing
  a minority), and the primary alone when the system reports one (`ReportsPrimary`).
- **kill** (capability `kill`): one node, a minority, a majority, all of them, the primary, and a
  *flurry* (one node killed and restarted 3-6 times, a second or so apart: crash windows that are
  milliseconds wide, such as between a vote and a commit, need many tries).
- **pause** (capability `pause`): SIGSTOP of one node, a majority, all, the primary.
- **clock** (capability `clock`): a bump of 1/16 s to 4 min either way, a strobe, a drift; on
  one node, a minority or all, each distinct size as likely (on 2-3 nodes: one or all).
- **network** (firewall, 2+ nodes): loss, duplication, latency with jitter, a bandwidth cap,
  connection resets.
- **pause-client** (any system): every client thread but one stalled mid-operation past a
  lease or a timeout, so the holder of a lease is likely among them.

Target sizes that coincide on a small cluster (one = minority = majority on 1 node) are drawn
once, so are partitions into the same two sides (halves = majority on an odd cluster, one =
majority on 4 nodes), and a partition shape that cuts no link there (a ring or a bridge of 2 nodes)
not at all. Each round rotates to the next family in a seeded order (every family comes up once per
cycle, partitions twice and kills three times, so no family waits long), takes the next of its
variants in a seeded pass through all of them (each once before any repeats; killing a majority
and all, and the halves, majority and ring partitions, first in each pass: they take a quorum
away or split it the way quorum systems get wrong, even halves being the edge case of an even
cluster, and a 60 s test meets them in its first cycle; likewise the flurry of kills, for crash
windows milliseconds wide, the stall of all clients but one, which catches a lease holder far
more often than one stalled client, the pause of the primary, and the clock strobe, which moves
a clock forward whatever its sign), and holds the fault for a short (0.2-0.6) or long (0.6-1.5) multiple of `--nemesis-interval` (a stall of nodes or clients
always long: it matters when it outlasts a timeout or a lease); then it heals the fault with
the family's own heal op and lets the system settle for 0.2-0.6 interval. One round in four adds a
second fault of another family halfway through and heals both (a partition with a kill inside
it, say), since many bugs need two faults at once; never with a stall of nodes or clients,
whose bug shows at the waking, which the other fault's heal would disturb. Every start op
records the round's choice in its `choice` field; every fault is healed by its round, and the final heal heals every family
again.

The client load changes too (`NemesisPackage.client_load`): steady phases at `--rate`, bursts of
4-10 s in which the clients go flat out (races between concurrent writes that a throttled load
never produces), and quiet spells of 2-5 s at a tenth of the rate (so timeouts, leases and
anti-entropy can act with little traffic). The phases are drawn from the seed and written to
results.json under `all.load`.

`all:adaptive` draws the same faults but chooses each round's family and variant (the *arm*)
from feedback. After each round it observes the new history lines and node log lines
(`nemeses.feedback`: new outcome and error kinds, info and fail rates, latency buckets, terms or
epochs the clients report, new log-line templates and terms in logs, and near misses: reads of
the value just replaced, stale lock tokens acting, two leaders a moment apart, counter reads
above every acknowledged add) and credits the
arm with the number of behaviours never seen before in the run. The policy is a bandit over
arms, in the spirit of Mallory (Meng et al., "Greybox Fuzzing of Distributed Systems", CCS
2023), which learns with Q-learning which faults lead to new abstract states of the system's
event timeline and so reaches bugs sooner than Jepsen's random schedules. A 60 s test has about
ten rounds, too few to learn values of states, so ours keeps Mallory's reward (new observed
behaviour, which fades as it becomes familiar) and drops the state. In order of precedence:

1. **repeat** (as a fuzzer keeps mutating an input that came close): when a round brought at
   least 3 near misses, and a quarter more per completed op than the rounds before it on
   average (the share, not the count: an unthrottled burst of load makes more of everything),
   the next round runs the same arm again with fresh targets and timing (once; a repeat is not
   repeated). A near miss is what
   a checker sees one step before an anomaly, so it is the most direct evidence that this fault
   can break this system, and unlike novelty it does not fade when the fault comes again.
2. **intensify** (as a fuzzer mutates an input that found new coverage): when a round other than
   the first brought at least 3 new behaviours, more than the rounds before it on average, the
   next round runs the next harder fault of the same family (a kill of one node, then of a
   majority, then of all; a partition of one node, then of a minority, ... up to the ring),
   while there is one. The first round is left out: it brings the run's first errors and
   restarts whatever it is, so its novelty says nothing about its family.
3. otherwise first one round of each family, in the order of the rotation's first cycle (a
   family's second turn skipped; each round takes the first of its family's pass), since a
   family never tried has no reward to be chosen by: following the rotation itself, with its
   double turns of partitions and kills, a lockd run met no clock fault. Then with probability
   0.2 a random arm, otherwise the arm with the best mean reward plus an exploration bonus that
   shrinks as the arm is tried (UCB1; an untried variant is valued at its family's mean). Ties
   go by the seeded rng.

Each decision, with its reason and the leading scores, is in the round's `choice` field, and
each observation is an `observe` op whose completion holds the reward, the near misses and the
new features, so `replay` recomputes the choices of a recorded run from its seed, rewards and
near misses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from harness.generator.combinators import lift, sequence, sleep
from harness.generator.core import PENDING, Context, Generator
from harness.generator.rng import Rng, derive_seed, initial_state
from harness.history import INFO, Op
from harness.seams import (BindsClients, ClientGates, Cluster, HarnessError, NemesisOptions, NemesisPackage,
                           ReportsPrimary, System)
from harness.store import HISTORY_FILE
from nemeses.client_pause import PAUSE, RESUME, ClientPauseNemesis
from nemeses.clock import ClockNemesis, kind_fault, libfaketime_path
from nemeses.feedback import Feedback
from nemeses.kill import KillNemesis, PauseNemesis
from nemeses.network import NetworkNemesis
from nemeses.network import _fault as network_fault
from nemeses.partition import SHAPES, PartitionNemesis
from nemeses.targets import PRIMARY, choose, shuffled, size, spread
from nemeses.variants import Family

VARIANTS: Mapping[str, tuple[str, ...]] = {
    "partition": ("halves", "majority", "one", "ring", "bridge", "one-way", "primary"),
    "kill": ("one", "minority", "majority", "all", "primary", "flurry"),
    "pause": ("one", "majority", "all", "primary"),
    "clock": ("bump", "strobe", "drift"),
    "network": ("loss", "duplicate", "latency", "bandwidth", "reset"),
    "pause-client": ("several",),
}
STOP = {"partition": "heal", "kill": "start", "pause": "resume", "clock": "reset-clock",
        "network": "heal-network", "pause-client": RESUME}
STARTS = {"partition": ("partition",), "kill": ("kill",), "pause": ("pause",), "clock": ("bump", "strobe", "drift"),
          "network": ("loss", "duplicate", "latency", "bandwidth", "reset"), "pause-client": (PAUSE,)}
HEAL_ORDER = ("pause-client", "pause", "partition", "network", "clock", "kill")  # restart last, when nodes can talk
COLORS = {"partition": "#a0c0e8", "kill": "#e8a0a0", "pause": "#e8d0a0", "clock": "#c0a0e8", "network": "#a0e8c0",
          "pause-client": "#b0d8f0"}
OBSERVE = "observe"
EXPLORE = 0.2
INTENSIFY = 3.0  # new behaviours a round must bring before the next round tries a harder fault of its family
EDGE = 3  # near misses a round must bring (and a higher share of its ops than the rounds before) to be run again
# Each family's variants from mild to harsh, for intensifying; the others sit where EQUIVALENT puts them.
LADDERS = {"kill": ("one", "minority", "majority", "all"), "pause": ("one", "majority", "all"),
           "partition": ("one", "majority", "halves", "one-way", "bridge", "ring"), "clock": ("drift", "bump", "strobe"),
           "network": ("latency", "loss", "duplicate", "reset"), "pause-client": ("several",)}
EQUIVALENT = {"kill": {"primary": "one", "flurry": "majority"}, "pause": {"primary": "one"},
              "partition": {"primary": "one"}, "network": {"bandwidth": "latency"}}
COMBO = 0.25
# Faults that take a quorum away (every node down, a majority down) or split it in the ways
# quorum systems get wrong come first in each pass through their family's variants (`deck`).
# Partitions and crashes are behind most published Jepsen findings and behind most of the shipped
# buggy modes (the self-test rows of 26 of 33 use one or both; none uses network degradation),
# so a rotation gives partitions two rounds and kills three, its first three kills being of all
# nodes, of a majority, and the flurry: a crash between two steps of a protocol (a 2PC
# participant killed between its vote and the commit) is a window of milliseconds, which a
# single kill of a 60 s test meets at most one time in a few, and a flurry tries 3-6 times.
ROUNDS_PER_CYCLE = {"partition": 2, "kill": 3}
# So do the faults that break leases, since a 60 s test has one or two rounds of each of those
# families: a pause of the primary (a leader stalled past its lease, as in a GC pause, wakes
# still believing it leads; a pause of all nodes stalls the rival too, and one of another node
# misses the leader), the stall of most clients, and the clock strobe (it moves a clock forward
# whatever its sign, flipping between the offset and the offset plus its delta; a bump goes
# back half the time and a drift of x0.5 slows the clock down).
PASS_LEADERS = frozenset({"kill:all", "kill:majority", "kill:flurry", "partition:halves", "partition:majority",
                          "partition:ring", "pause:primary", "pause-client:several", "clock:strobe"})


@dataclass(frozen=True)
class Arm:
    family: str
    variant: str

    @property
    def name(self) -> str:
        return f"{self.family}:{self.variant}"


def families_for(capabilities: frozenset[str], nodes: int, concurrency: int, firewall: bool = True) -> list[str]:
    """The fault families a system with these capabilities can take on this runtime."""
    out = []
    for family in VARIANTS:
        if family in ("partition", "network") and (not firewall or nodes < 2):
            continue
        if family in ("kill", "pause", "clock") and family not in capabilities:
            continue
        if family == "pause-client" and concurrency < 1:
            continue
        out.append(family)
    return out


def arms_for(families: Sequence[str], nodes: int, has_primary: bool) -> list[Arm]:
    names = [f"n{i}" for i in range(1, nodes + 1)]
    arms = []
    for family in families:
        seen_sizes: set[int] = set()
        same_sides = _same_sides(names) if family == "partition" else set()
        for variant in VARIANTS[family]:
            if variant == "primary" and not has_primary:
                continue
            if family == "partition" and variant in SHAPES:
                grudge = SHAPES[variant](names, Rng(1))
                if not any(grudge.values()):
                    continue  # cuts no link on this cluster (a ring or a bridge of 2 nodes): a round of nothing
                if variant in same_sides:
                    continue
            if family in ("kill", "pause") and variant in ("one", "minority", "majority", "all"):
                count = size(variant, nodes)
                if count in seen_sizes:
                    continue  # the same fault as a smaller name on this cluster
                seen_sizes.add(count)
            arms.append(Arm(family, variant))
    return arms


def _same_sides(names: list[str]) -> set[str]:
    """The two-sided partition variants that cut this cluster into the same sides as another
    one: the side sizes are the shape (each node deaf to the other side). Halves is majority on
    an odd cluster (2|3 of 5), majority is one on 4 nodes (3|1), all three are 1|2 on 3 nodes;
    the same fault under a second name would take a round. Halves, then one, keep their name, so
    `majority` stays (a quorum breaker) only where it is a split of its own (6 nodes and up): on
    4 nodes the quorum-breaking split is 2|2, and 3|1 is one node cut off."""
    seen: set[frozenset[int]] = set()
    dropped = set()
    for variant in ("halves", "one", "majority"):
        sides = frozenset(len(v) for v in SHAPES[variant](names, Rng(1)).values())
        if sides in seen:
            dropped.add(variant)
        seen.add(sides)
    return dropped


# -- the faults of one arm -------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What a round needs to know of the test."""

    nodes: tuple[str, ...]
    concurrency: int
    interval: float


def start_op(arm: Arm, shape: Shape, rng: Rng, hold: float) -> dict[str, Any]:
    nodes, family, variant = list(shape.nodes), arm.family, arm.variant
    if family == "partition":
        grudge = {PRIMARY: [":others"]} if variant == "primary" else SHAPES[variant](nodes, rng)
        return {"f": "partition", "value": grudge}
    if family in ("kill", "pause"):
        return {"f": family, "value": choose(variant, nodes, rng)}
    if family == "clock":
        targets = spread(nodes, rng)
        sign = -1 if rng.random() < 0.5 else 1
        return kind_fault(variant, targets, sign, rng, longest=hold)
    if family == "network":
        return network_fault(variant, nodes, rng)
    if family == "pause-client":
        # Every client but one stalls (a GC storm across a fleet). One stalled client in n is the
        # lease holder about 1 time in n, since the holder is one client of many; all but one
        # makes the holder one of them (n-1)/n of the time, and the one left running takes the
        # lock meanwhile, which is the stale holder's hazard. So there is no variant of one
        # stalled client: a test has one or two client stalls, and each should count.
        count = max(1, shape.concurrency - 1)
        threads = sorted(rng.sample(list(range(shape.concurrency)), count))
        return {"f": PAUSE, "value": {"threads": threads, "seconds": round(hold, 3)}}
    raise HarnessError(f"all: unknown fault family {family!r}")


# A stall shows its bug when it ends: a leader or a lease holder wakes and acts on what it
# believed. So a stall is never one of a round's two faults: the other fault heals at the same
# moment and acts on the waking instead (a network reset beside a pause of electd's leader failed
# the renewal it woke to, which the bug needs to succeed), or, inside a kill, stalled clients
# leave the crash with no load in flight.
STALLS = frozenset({"pause", "pause-client"})


def hold_for(family: str, shape: Shape, rng: Rng) -> float:
    """How long a round holds its fault. A stall is always long: it shows a bug only when it
    outlasts a timer (a client's timeout, a lease, an election timeout), and a long stall
    outlasts the short timers too; in the first benchmark half the node pauses were 1-3 s, under
    counterd's 1.5 s client timeout and its retries, and a seed got no stall that queued them."""
    short = family not in STALLS and rng.random() < 0.5
    return round(shape.interval * (rng.uniform(0.2, 0.6) if short else rng.uniform(0.6, 1.5)), 3)


def round_ops(arm: Arm, partner: Arm | None, shape: Shape, rng: Rng, choice: dict[str, Any], observe: bool) -> list[Any]:
    """One round: the fault (with `choice` recorded on its start op), held, healed, a settling
    pause, and the observation when adaptive."""
    hold = hold_for(arm.family, shape, rng)
    ops: list[Any] = []
    if arm.family == "kill" and arm.variant == "flurry":
        for i in range(3 + rng.randrange(4)):
            op = {"f": "kill", "value": choose("one", list(shape.nodes), rng)}
            if i == 0:
                op["choice"] = choice
            ops += [op, sleep(round(rng.uniform(0.3, 1.0), 3)), {"f": "start"}, sleep(round(rng.uniform(0.3, 1.0), 3))]
    else:
        first = {**start_op(arm, shape, rng, hold), "choice": choice}
        if partner is None:
            ops += [first, sleep(hold), {"f": STOP[arm.family]}]
        else:
            second = {**start_op(partner, shape, rng, hold / 2), "choice": {"arm": partner.name, "with": arm.name}}
            ops += [first, sleep(hold / 2), second, sleep(hold / 2), {"f": STOP[partner.family]}, {"f": STOP[arm.family]}]
    ops.append(sleep(round(shape.interval * rng.uniform(0.2, 0.6), 3)))
    if observe:
        ops.append({"f": OBSERVE, "value": {"round": choice["round"]}})
    return ops


# -- choosing arms ---------------------------------------------------------------------------


@dataclass
class Chooser:
    """Picks each round's arm: `rotate` (the mix) or `adaptive`. Decisions are memoised by round
    number, because a generator may be asked for the same op more than once; so is where the
    random source stood after each, so that a second ask leaves it where the first did (and the
    round's ops, drawn after, are the same), whatever was learnt between the two asks."""

    seed: int
    arms: list[Arm]
    adaptive: bool
    decisions: dict[int, tuple[Arm, Arm | None, dict[str, Any]]] = field(default_factory=dict)
    rewards: dict[int, float] = field(default_factory=dict)  # round -> reward observed after it
    near: dict[int, int] = field(default_factory=dict)  # round -> near misses observed after it
    completions: dict[int, int] = field(default_factory=dict)  # round -> client completions observed after it
    drawn_to: dict[int, int] = field(default_factory=dict)  # round -> the rng's state after deciding it

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(a.family for a in self.arms))

    def cycle(self) -> list[str]:
        """One rotation: every family, the partition family twice and the kill family three times."""
        return [f for f in self.families for _ in range(ROUNDS_PER_CYCLE.get(f, 1))]

    def order(self, cycle: int) -> list[str]:
        return shuffled(self.cycle(), Rng(initial_state(derive_seed(self.seed, "all", "cycle", cycle))))

    def deck(self, family: str, k: int) -> list[Arm]:
        """The `k`-th pass through a family's variants, the order in which its rotation rounds
        take them: every variant once before any comes again, so a family's few rounds in a
        short test reach different shapes; the quorum and lease breakers (PASS_LEADERS) first,
        each part in a seeded order. A 60 s test has three or four kill rounds and two or three
        partition rounds, three and two of them in its first cycle: so it meets a kill of all
        nodes (with the restart of every one of them), of a majority and a flurry, and two of
        the halves, majority and ring partitions, within about 45 s. With the variant drawn at
        random per round (as before), seed 1 of raftkv no-persist drew flurry, one, one and
        never took every node down, and seed 1 of the 4-node majority-excl-self never split 2|2. Drawn from the seed alone, not from
        the round's rng: a pass is the same however often it is asked for."""
        rng = Rng(initial_state(derive_seed(self.seed, "all", "deck", family, k)))
        mine = {a.name: a for a in self.arms if a.family == family}
        breakers = shuffled([n for n in mine if n in PASS_LEADERS], rng)
        others = shuffled([n for n in mine if n not in PASS_LEADERS], rng)
        return [mine[n] for n in breakers + others]

    def decide(self, number: int, rng: Rng) -> tuple[Arm, Arm | None, dict[str, Any]]:
        if number in self.decisions:
            rng.state = self.drawn_to[number]
            return self.decisions[number]
        families = self.families
        rotated = sum(1 for n in range(number) if n in self.decisions and self.decisions[n][2]["how"] == "rotate")
        again = self.again_after(number - 1) if self.adaptive else None
        stronger = self.stronger_after(number - 1) if self.adaptive and again is None else None
        if again is not None:
            arm = again
            choice: dict[str, Any] = {"policy": "adaptive", "how": "repeat", "after": again.name,
                                      "near_misses": self.near[number - 1]}
        elif stronger is not None:
            arm = stronger
            choice = {"policy": "adaptive", "how": "intensify",
                                      "after": self.decisions[number - 1][0].name}
        elif not self.adaptive or rotated < len(families):
            if self.adaptive:  # each family once, in the rotation's order, before any is chosen by reward
                tried = {d[0].family for d in self.decisions.values() if d[2]["how"] == "rotate"}
                family = next(f for f in dict.fromkeys(self.order(0)) if f not in tried)
            else:
                length = len(self.cycle())
                family = self.order(rotated // length)[rotated % length]
            drawn = sum(1 for n in range(number) if n in self.decisions and self.decisions[n][2]["how"] == "rotate"
                        and self.decisions[n][0].family == family)
            deck = self.deck(family, drawn // len(self.deck(family, 0)))
            arm = deck[drawn % len(deck)]
            choice = {"policy": "adaptive" if self.adaptive else "rotate", "how": "rotate"}
        elif rng.random() < EXPLORE:
            arm = rng.choice(self.arms)
            choice = {"policy": "adaptive", "how": "explore"}
        else:
            scores = self.scores()
            ranked = sorted(shuffled([a.name for a in self.arms], rng), key=lambda name: -scores[name])
            arm = next(a for a in self.arms if a.name == ranked[0])
            choice = {"policy": "adaptive", "how": "best", "top": [[n, round(scores[n], 2)] for n in ranked[:3]]}
        partner = None
        others = [a for a in self.arms if a.family != arm.family and a.variant != "flurry" and a.family not in STALLS]
        if arm.variant != "flurry" and arm.family not in STALLS and others and rng.random() < COMBO:
            partner = rng.choice(others)
        choice = {"round": number, "arm": arm.name, **choice, **({"with": partner.name} if partner else {})}
        self.decisions[number] = (arm, partner, choice)
        self.drawn_to[number] = rng.state
        return self.decisions[number]

    def again_after(self, number: int) -> Arm | None:
        """Round `number`'s arm again, with fresh targets and timing, when it left the system at
        the edge of what its checkers allow: at least EDGE near misses, a share of its
        completions a quarter above the rounds before it on average (so neither a system whose
        concurrency alone makes near misses nor a burst of load repeats every round), and round
        `number` was not itself a repeat. A near miss is the
        checker-visible precursor of the anomaly (a read of the value just replaced, a stale
        token acting, two leaders a moment apart), so the same fault rolled again is the likeliest
        to cross the edge; a fault's novelty fades as it is repeated, a near miss does not."""
        if number not in self.near or self.decisions[number][2]["how"] == "repeat":
            return None
        def share(n: int) -> float:
            return self.near[n] / max(1, self.completions.get(n, 0))

        earlier = [share(n) for n in self.near if n < number]
        if self.near[number] < EDGE or (earlier and share(number) <= 1.25 * sum(earlier) / len(earlier)):
            return None
        return self.decisions[number][0]

    def stronger_after(self, number: int) -> Arm | None:
        """The next harder fault of the same family when round `number` paid off: its reward was
        at least INTENSIFY and above the mean of the rounds before it (a kill of one node that
        brought new errors and terms is followed by a kill of a majority, then of all). Never
        after the first round: whatever it was, it brought the run's first errors, timeouts and
        restarts, which is the novelty of any fault, not of its family (in the first benchmark
        every adaptive run intensified there, spending its second round on the first's family)."""
        if number not in self.rewards:
            return None
        earlier = [r for n, r in self.rewards.items() if n < number]
        reward = self.rewards[number]
        if not earlier or reward < INTENSIFY or reward <= sum(earlier) / len(earlier):
            return None
        arm = self.decisions[number][0]
        ladder = LADDERS[arm.family]
        at = ladder.index(arm.variant) if arm.variant in ladder else ladder.index(EQUIVALENT[arm.family][arm.variant])
        names = {a.name for a in self.arms}
        return next((Arm(arm.family, v) for v in ladder[at + 1:] if f"{arm.family}:{v}" in names), None)

    def scores(self) -> dict[str, float]:
        """Mean reward plus a UCB1 bonus per arm; an untried arm counts its family's mean."""
        by_arm: dict[str, list[float]] = {}
        by_family: dict[str, list[float]] = {}
        for number, reward in self.rewards.items():
            arm = self.decisions[number][0]
            by_arm.setdefault(arm.name, []).append(reward)
            by_family.setdefault(arm.family, []).append(reward)
        everything = [r for rs in by_arm.values() for r in rs]
        overall = sum(everything) / len(everything) if everything else 0.0
        total = len(everything)
        scale = max(1.0, overall)
        out = {}
        for arm in self.arms:
            mine = by_arm.get(arm.name, [])
            family = by_family.get(arm.family, [])
            mean = sum(mine) / len(mine) if mine else (sum(family) / len(family) if family else overall)
            out[arm.name] = mean + scale * math.sqrt(2 * math.log(total + 1) / (len(mine) + 1))
        return out

    def learn(self, number: int, reward: float, near_misses: int = 0, completions: int = 0) -> None:
        if number in self.decisions:
            self.rewards[number] = reward
            self.near[number] = near_misses
            self.completions[number] = completions


class Rounds(Generator):
    """Rounds back to back. A round is chosen only while the nemesis is idle, so the observation
    of the round before has completed (in the nemesis's context, all threads free means that)."""

    __slots__ = ("make", "state", "current", "number")

    def __init__(self, make: Callable[[int, Rng], Any], state: int, current: Generator | None, number: int):
        self.make, self.state, self.current, self.number = make, state, current, number

    def op(self, ctx: Context) -> Any:
        state, current, number = self.state, self.current, self.number
        while True:
            if current is None:
                if len(ctx.free) != len(ctx.threads):
                    return PENDING, self
                rng = Rng(state)
                current = lift(self.make(number, rng))
                state, number = rng.state, number + 1
            answer = current.op(ctx)
            if answer is not None:
                op, after = answer
                if after is self.current:
                    return op, self
                return op, Rounds(self.make, state, after, number)
            current = None

    def update(self, ctx: Context, event: Op) -> Generator:
        if self.current is None:
            return self
        after = self.current.update(ctx, event)
        return self if after is self.current else Rounds(self.make, self.state, after, self.number)

    def __repr__(self) -> str:
        return f"Rounds(round {self.number}, {self.current!r})"


def round_maker(chooser: Chooser, shape: Shape) -> Callable[[int, Rng], list[Any]]:
    def make(number: int, rng: Rng) -> list[Any]:
        arm, partner, choice = chooser.decide(number, rng)
        return round_ops(arm, partner, shape, rng, choice, chooser.adaptive)

    return make


def rounds_state(seed: int) -> int:
    return initial_state(derive_seed(seed, "all", "rounds"))


def replay(seed: int, arms: list[Arm], shape: Shape, rewards: Mapping[int, float], count: int, adaptive: bool,
           near_misses: Mapping[int, tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """The choices of the first `count` rounds of a run with this seed, given the rewards and
    near misses its observations recorded (round -> (near misses, completions)): what a
    recorded run's `choice` fields must be."""
    chooser = Chooser(seed, arms, adaptive)
    make = round_maker(chooser, shape)
    state = rounds_state(seed)
    for number in range(count):
        rng = Rng(state)
        make(number, rng)
        state = rng.state
        if number in rewards:
            chooser.learn(number, rewards[number], *(near_misses or {}).get(number, (0, 0)))
    return [chooser.decisions[n][2] for n in range(count)]


# -- the client load -------------------------------------------------------------------------


def client_load(seed: int, seconds: float = 600.0) -> list[tuple[float, float]]:
    """Steady, burst (unthrottled) and quiet (a tenth of the rate) phases from the seed, starting
    steady, covering `seconds` (the generator repeats them after that)."""
    rng = Rng(initial_state(derive_seed(seed, "all", "load")))
    phases: list[tuple[float, float]] = [(round(rng.uniform(5, 12), 3), 1.0)]
    while sum(s for s, _ in phases) < seconds:
        draw = rng.random()
        if draw < 0.35 and phases[-1][1] != math.inf:
            phases.append((round(rng.uniform(4, 10), 3), math.inf))
        elif draw < 0.6 and phases[-1][1] != 0.1:
            phases.append((round(rng.uniform(2, 5), 3), 0.1))
        else:
            phases.append((round(rng.uniform(5, 12), 3), 1.0))
    return phases


# -- the nemesis -----------------------------------------------------------------------------


class AllNemesis:
    """Routes each op to the family's own nemesis; decides which families run at setup (a
    runtime without a firewall gets no partitions or network faults) and observes the run when
    adaptive."""

    def __init__(self, families: Sequence[str], chooser: Chooser, shape: Shape, seed: int, load: list[tuple[float, float]]):
        self.built = list(families)
        self.chooser, self.shape, self.load = chooser, shape, load
        self.inner: dict[str, Any] = {}
        for family in families:
            self.inner[family] = {"partition": lambda: PartitionNemesis("FL-P-ALL"),
                                  "kill": KillNemesis, "pause": PauseNemesis, "clock": ClockNemesis,
                                  "network": lambda: NetworkNemesis("FL-NET-ALL", "heal-network", seed),
                                  "pause-client": ClientPauseNemesis}[family]()
        self.owner = {f: family for family in families for f in (*STARTS[family], STOP[family])}
        self.active: list[str] = []
        self.skipped: dict[str, str] = {}
        self.feedback: Feedback | None = None

    def bind_clients(self, gates: ClientGates) -> None:
        for nemesis in self.inner.values():
            if isinstance(nemesis, BindsClients):
                nemesis.bind_clients(gates)

    def setup(self, cluster: Cluster, system: System) -> None:
        for family, nemesis in self.inner.items():
            try:
                nemesis.setup(cluster, system)
            except HarnessError as e:
                if family not in ("partition", "network"):
                    raise
                try:
                    nemesis.teardown(cluster, system)  # whatever part of the setup was made
                except HarnessError:
                    pass
                self.skipped[family] = str(e)  # no firewall on this runtime: run the other families
                continue
            self.active.append(family)
        families = [f for f in self.built if f in self.active]
        if not families:
            raise HarnessError("--nemesis all: this system and runtime support no fault family")
        self.chooser.arms = arms_for(families, len(self.shape.nodes), isinstance(system, ReportsPrimary))
        if self.chooser.adaptive:
            self.feedback = Feedback(cluster.run_dir / HISTORY_FILE, [n.log_dir for n in cluster.nodes])

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == OBSERVE:
            if self.feedback is None:
                return op.complete(INFO, value={"reward": 0})
            found = self.feedback.observe()
            number = (op.value or {}).get("round")
            if isinstance(number, int):
                self.chooser.learn(number, found.reward, found.near_misses, found.completions)
            return op.complete(INFO, value={**(op.value or {}), **found.describe()})
        family = self.owner.get(op.f)
        if family is None:
            raise HarnessError(f"all nemesis cannot do f={op.f!r}")
        if family not in self.active:
            return op.complete(INFO, value=f"{family} not in use: {self.skipped.get(family, '')}".strip())
        return self.inner[family].invoke(cluster, system, op)

    def teardown(self, cluster: Cluster, system: System) -> None:
        errors = []
        for family in HEAL_ORDER:
            if family in self.active:
                try:
                    self.inner[family].teardown(cluster, system)
                except Exception as e:  # heal the rest before reporting
                    errors.append(f"{family}: {e}")
        if errors:
            raise HarnessError("all nemesis teardown: " + "; ".join(errors))

    def results(self, origin_wall: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        clock = self.inner.get("clock")
        if clock is not None and "clock" in self.active:
            out.update(clock.results(origin_wall))
        out["all"] = {"policy": "adaptive" if self.chooser.adaptive else "rotate", "families": self.active,
                      "skipped": self.skipped, "arms": [a.name for a in self.chooser.arms],
                      "load": [[s, "unthrottled" if math.isinf(f) else f] for s, f in self.load],
                      "rounds": [self.chooser.decisions[n][2] for n in sorted(self.chooser.decisions)],
                      "rewards": {str(n): r for n, r in sorted(self.chooser.rewards.items())},
                      "near_misses": {str(n): m for n, m in sorted(self.chooser.near.items())}}
        return out


def _build(variant: str, name: str, options: NemesisOptions) -> NemesisPackage:
    nodes = tuple(options.nodes)
    families = families_for(options.capabilities, len(nodes), options.concurrency)
    if "clock" in families:
        libfaketime_path()  # a missing libfaketime is reported before anything starts
    adaptive = variant == "adaptive"
    shape = Shape(nodes, options.concurrency, options.interval)
    # Until setup knows the runtime and the system, the arms assume a firewall and no primary.
    chooser = Chooser(options.seed, arms_for(families, len(nodes), False), adaptive)
    load = client_load(options.seed)
    nemesis = AllNemesis(families, chooser, shape, options.seed, load)
    warmup: list[Any] = [sleep(round(options.interval * 0.5, 3))]
    if adaptive:
        warmup.append({"f": OBSERVE, "value": {"round": "baseline"}})  # what the system does unfaulted is not new
    generator = sequence(*warmup, Rounds(round_maker(chooser, shape), rounds_state(options.seed), None, 0))
    fs = frozenset(nemesis.owner) | ({OBSERVE} if adaptive else frozenset())
    return NemesisPackage(
        name=name,
        nemesis=nemesis,
        fs=fs,
        generator=generator,
        final_generator=[{"f": STOP[f]} for f in HEAL_ORDER if f in families],
        draw={start: {"start": start, "stop": STOP[family], "color": COLORS[family]}
              for family in families for start in STARTS[family] if start != "reset"},
        options={"interval": options.interval, "families": ", ".join(families),
                 "policy": "adaptive (bandit on new behaviour)" if adaptive else "rotate through the families",
                 "load": "steady --rate, unthrottled bursts, quiet spells (results.json all.load)"},
        client_load=tuple(load),
    )


all_faults = Family("all", ("rotate", "adaptive"), _build)
