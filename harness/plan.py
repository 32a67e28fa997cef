"""From a spec to the plug-ins that run it, checked before anything starts: the system in its
mode, the workload, the runtime and the nemesis packages, and the schedule that ties them.

Composition is checked here. The interpreter routes a fault op to the package that handles its
`f`, so two packages that handle the same `f` (`partition` and `partition:ring`, `kill` and
`kill:minority`) would send both schedules into one of them; like Jepsen's compose, such a
combination is refused with the clash named.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

from harness import plugins
from harness.hooks import node_packages
from harness.generator.combinators import any_of, clients, nemesis, paced, phases, stagger, time_limit
from harness.seams import HarnessError, NemesisOptions, NemesisPackage, Runtime, System, Workload, WorkloadOptions
from harness.spec import TestSpec


@dataclass
class Plan:
    system: System
    workload: Workload
    runtime: Runtime
    packages: list[NemesisPackage]


def plan_test(spec: TestSpec) -> Plan:
    """Load and check everything the spec names; sets `spec.mode` to the default when unset.
    Raises HarnessError, naming the option, for anything wrong."""
    system_cls = plugins.load("system", spec.system)
    mode = spec.mode or system_cls.modes[0]
    if mode not in system_cls.modes:
        raise HarnessError(f"--mode {mode!r}: {spec.system} has modes {', '.join(system_cls.modes)}")
    spec.mode = mode
    if spec.workload not in system_cls.workloads:
        raise HarnessError(f"--workload {spec.workload!r}: {spec.system} supports {', '.join(system_cls.workloads)}")
    if spec.nodes < 1 or spec.concurrency < 1:
        raise HarnessError("--nodes and --concurrency must be at least 1")
    for option, value, low in (("--time-limit", spec.time_limit, 0.0), ("--rate", spec.rate, 0.0),
                               ("--nemesis-interval", spec.nemesis_interval, 0.0),
                               ("final_timeout", spec.final_timeout, 0.0)):
        if not math.isfinite(value) or value < low or (value == 0 and option != "--rate"):
            raise HarnessError(f"{option} {value!r}: give a finite number of seconds above 0"
                               if option != "--rate" else f"--rate {value!r}: give a finite rate, 0 or more")
    workload = plugins.load("workload", spec.workload)()
    system = system_cls(mode, tuple(spec.server_args))
    options = NemesisOptions(seed=spec.seed, nodes=spec.node_names(), interval=spec.nemesis_interval,
                             capabilities=frozenset(system.capabilities), concurrency=spec.concurrency)
    packages = nemesis_packages(spec.nemesis, options)
    runtime = make_runtime(spec, node_packages(system))
    runtime.check_prerequisites()  # last: every mistake in the spec is reported before a missing privilege
    return Plan(system, workload, runtime, packages)


RUNTIME_OPTIONS = ("hosts", "insecure_host_keys")


def make_runtime(spec: TestSpec, packages: Sequence[str] = ()) -> Runtime:
    """The spec's runtime, given the runtime options the spec sets; one its constructor does
    not take is refused, so a --hosts meant for ssh never silently runs a local cluster. A
    runtime that takes `node_packages` (docker: its image) gets the system's."""
    cls = plugins.load("runtime", spec.runtime)
    given: dict[str, Any] = {name: getattr(spec, name) for name in RUNTIME_OPTIONS if getattr(spec, name) not in (None, False)}
    takes = inspect.signature(cls).parameters
    for name in given:
        if name not in takes:
            raise HarnessError(f"--{name.replace('_', '-')}: the {spec.runtime} runtime takes no such option")
    if packages and "node_packages" in takes:
        given["node_packages"] = tuple(packages)
    return cls(**given)


def nemesis_packages(names: Sequence[str], options: NemesisOptions) -> list[NemesisPackage]:
    """Build each named package (`family` or `family:variant`), refusing two that handle the
    same fault op."""
    packages: list[NemesisPackage] = []
    owner: dict[str, str] = {}
    for name in names:
        factory, variant = plugins.load_nemesis(name)
        package = factory(replace(options, variant=variant))
        clashes = sorted(f for f in package.fs if f in owner)
        if clashes:
            other = owner[clashes[0]]
            raise HarnessError(
                f"--nemesis {','.join(names)}: {other} and {name} both handle the fault op "
                f"{', '.join(repr(f) for f in clashes)}, so one would receive both schedules; "
                "run one package per fault family (for several shapes at random use a `mixed` variant)")
        owner.update({f: name for f in package.fs})
        if package.client_load and any(p.client_load for p in packages):
            raise HarnessError(f"--nemesis {','.join(names)}: two packages each shape the client load; run one of them")
        packages.append(package)
    return packages


def schedule(spec: TestSpec, workload: Workload, options: WorkloadOptions, packages: Sequence[NemesisPackage]) -> Any:
    """Main phase (clients alongside faults, for the time limit), then every package's final
    heal, then the workload's final reads."""
    client_ops = workload.generator(options)
    load = next((p.client_load for p in packages if p.client_load), ())
    if load:
        client_ops = paced([(seconds, load_rate(spec.rate, factor)) for seconds, factor in load], client_ops, seed=spec.seed)
    elif spec.rate > 0:
        client_ops = stagger(1.0 / spec.rate, client_ops, seed=spec.seed)
    main = [clients(time_limit(spec.time_limit, client_ops))]
    if packages:
        main.append(nemesis(time_limit(spec.time_limit, any_of(*[p.generator for p in packages]))))
    stages = [any_of(*main)]
    heals = [p.final_generator for p in packages if p.final_generator is not None]
    if heals:
        stages.append(nemesis(heals))
    final = workload.final_generator(options)
    if final is not None:
        stages.append(clients(final))
    return phases(*stages)


def load_rate(rate: float, factor: float) -> float:
    """Ops/s for a phase of a package's client load (0 = unthrottled). With `--rate 0` the
    clients already go flat out, so only the quiet phases (factor below 1) slow them, to a
    factor of 100 ops/s."""
    if math.isinf(factor) or (rate == 0 and factor >= 1):
        return 0.0
    return (rate or 100.0) * factor
