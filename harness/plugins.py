"""Finds systems, workloads, nemeses, checkers and runtimes through entry points, and checks
each against its seam (`harness.seams`) when it is loaded, before any cluster starts.

The shipped plug-ins are registered in pyproject.toml exactly as an outside package registers
its own, so nothing here knows any plug-in by name. A plug-in that breaks its contract (a
missing attribute, a constructor of the wrong shape, an unknown capability, a name another
package registered too) is reported as one HarnessError naming its package and entry point.

One exception, for start-up time: the checkers faultline ships are also listed in
BUILT_IN_CHECKERS (harness/builtin_checkers.py), and `load("checker", name)` of one of those
imports it straight away, without `importlib.metadata` (which with `inspect` is a large part of
`faultline analyze`'s start-up on a small history). An outside package that registers a checker
under a built-in name is an error naming the package (found by a cheap read of the installed
distributions' entry_points.txt), not a plug-in that silently loses. An outside package's
checker is found through its entry point, under any name that is not built in.
tests/test_plugins.py checks that the list equals the entry points and that each built-in
checker keeps its contract.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable

from harness.builtin_checkers import BUILT_IN_CHECKERS, outside_claims
from harness.seams import CAPABILITIES, HarnessError

GROUPS = {
    "system": "faultline.systems",
    "workload": "faultline.workloads",
    "nemesis": "faultline.nemeses",
    "checker": "faultline.checkers",
    "runtime": "faultline.runtimes",
}

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    from importlib.metadata import entry_points
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])})


def load(kind: str, name: str) -> Any:
    """The object an entry point names, checked against its seam; an unknown name is a
    HarnessError listing the known ones."""
    if kind == "checker" and name in BUILT_IN_CHECKERS:
        claims = outside_claims(name)
        if claims:
            raise HarnessError(clash_message(name, claims))
        module, attribute = BUILT_IN_CHECKERS[name].split(":")
        return getattr(import_module(module), attribute)
    from importlib.metadata import entry_points
    found = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == name]
    if not found:
        known = ", ".join(names(kind)) or "none"
        raise HarnessError(f"unknown {kind} {name!r}; known: {known}")
    if len({(_package(ep), ep.value) for ep in found}) > 1:
        sources = " and ".join(f"package {_package(ep)} ({ep.value})" for ep in found)
        raise HarnessError(f"the {kind} name {name!r} is registered twice, by {sources}; uninstall one of them")
    ep = found[0]
    try:
        obj = ep.load()
    except Exception as e:  # a broken plug-in must not look like an unknown name
        raise HarnessError(f"{_where(kind, ep)} failed to load: {type(e).__name__}: {e}") from e
    problems = CHECKS[kind](obj)
    if problems:
        raise HarnessError(f"{_where(kind, ep)} breaks the {kind} contract (harness/seams.py): {'; '.join(problems)}")
    return obj


def clash_message(name: str, claims: list[tuple[str, str]]) -> str:
    """Why a built-in checker name that an outside package registers too is an error."""
    sources = " and ".join(f"package {distribution} ({target})" for distribution, target in claims)
    return (f"the checker name {name!r} is faultline's own built-in checker, and {sources} registers it too; "
            "a plug-in's checker needs a name of its own: rename it in that package's entry points, or uninstall it")


def load_nemesis(text: str) -> tuple[Any, str]:
    """A `--nemesis` name -> (factory, variant). `kill:minority` is the factory `kill` with the
    variant `minority`; the older `kill-minority` spelling is read the same way when no package
    registers that whole name."""
    family, _, variant = text.partition(":")
    registered = names("nemesis")
    if not variant and family not in registered:
        family, variant = _older_spelling(family, registered)
    factory = load("nemesis", family)
    variants = list(getattr(factory, "variants", ()) or ())
    if variant and variant not in variants:
        offered = f"variants {', '.join(variants)}" if variants else "no variants"
        raise HarnessError(f"--nemesis {text}: {family} has {offered}")
    return factory, variant


def _older_spelling(name: str, registered: list[str]) -> tuple[str, str]:
    """`kill-minority` -> (kill, minority); a bare variant that one family alone offers, such as
    `latency`, -> (network, latency). Anything else is returned unchanged, to fail as unknown."""
    for i, char in enumerate(name):
        if char == "-" and name[:i] in registered:
            return name[:i], name[i + 1:]
    offering = []
    for family in registered:
        try:
            if name in (getattr(load("nemesis", family), "variants", ()) or ()):
                offering.append(family)
        except HarnessError:
            continue  # a broken family is reported when it is asked for by name
    return (offering[0], name) if len(offering) == 1 else (name, "")


def _package(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "(unknown package)"


def _where(kind: str, ep: EntryPoint) -> str:
    return f"the {kind} plug-in {ep.name!r} (package {_package(ep)}, entry point {ep.value})"


# ---- what each kind must provide -------------------------------------------------------------


def _accepts(fn: Callable[..., Any], *args: Any) -> bool:
    import inspect
    try:
        inspect.signature(fn).bind(*args)
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): give it the benefit of the doubt
        return True
    return True


def _missing(obj: Any, attributes: tuple[str, ...], methods: tuple[str, ...]) -> list[str]:
    problems = [f"no attribute `{a}`" for a in attributes if not hasattr(obj, a)]
    problems += [f"no method `{m}`" for m in methods if not callable(getattr(obj, m, None))]
    return problems


def _check_system(cls: Any) -> list[str]:
    import inspect
    if not inspect.isclass(cls):
        return [f"the entry point must name a class, not {type(cls).__name__}"]
    problems = _missing(cls, ("name", "modes", "workloads", "capabilities", "description"),
                        ("setup", "start", "client", "teardown"))
    modes = getattr(cls, "modes", None)
    if modes is not None and (isinstance(modes, str) or not list(modes) or not all(isinstance(m, str) for m in modes)):
        problems.append(f"`modes` must be a non-empty sequence of names, not {modes!r}")
    workloads = getattr(cls, "workloads", None)
    if workloads is not None and (isinstance(workloads, str) or not all(isinstance(w, str) for w in workloads)):
        problems.append(f"`workloads` must be a sequence of workload names, not {workloads!r}")
    capabilities = getattr(cls, "capabilities", None)
    if capabilities is not None:
        unknown = sorted(set(capabilities) - CAPABILITIES) if not isinstance(capabilities, str) else [capabilities]
        if unknown:
            problems.append(f"unknown capabilities {', '.join(map(repr, unknown))} (known: {', '.join(sorted(CAPABILITIES))})")
    if not _accepts(cls, "mode", ()):
        problems.append(f"the constructor must accept (mode, server_args); it is {cls.__name__}{inspect.signature(cls)}")
    for hook in ("ready", "primary", "collect", "checkers"):
        if hasattr(cls, hook) and not callable(getattr(cls, hook)):
            problems.append(f"the optional hook `{hook}` must be a method")
    return problems


def _check_workload(cls: Any) -> list[str]:
    import inspect
    if not inspect.isclass(cls):
        return [f"the entry point must name a class, not {type(cls).__name__}"]
    problems = _missing(cls, ("name", "description"), ("generator", "final_generator", "checkers"))
    if not _accepts(cls):
        problems.append("the constructor must work without arguments (runtime options such as `hosts` are keywords with defaults)")
    return problems


def _check_nemesis(factory: Any) -> list[str]:
    if not callable(factory) or not _accepts(factory, object()):
        return ["the entry point must name a factory `(NemesisOptions) -> NemesisPackage`"]
    variants = getattr(factory, "variants", ())
    if isinstance(variants, str) or not all(isinstance(v, str) and v for v in variants):
        return [f"`variants` must be a sequence of non-empty names, not {variants!r}"]
    return []


def _check_checker(check: Any) -> list[str]:
    if not callable(check) or not _accepts(check, [], {}):
        return ["the entry point must name a function `(history, options) -> result`"]
    return []


def _check_runtime(cls: Any) -> list[str]:
    import inspect
    if not inspect.isclass(cls):
        return [f"the entry point must name a class, not {type(cls).__name__}"]
    problems = _missing(cls, ("name",), ("check_prerequisites", "new_prefix", "create", "lost", "destroy", "cleanup"))
    if not _accepts(cls):
        problems.append("the constructor must work without arguments (runtime options such as `hosts` are keywords with defaults)")
    return problems


CHECKS: dict[str, Callable[[Any], list[str]]] = {
    "system": _check_system,
    "workload": _check_workload,
    "nemesis": _check_nemesis,
    "checker": _check_checker,
    "runtime": _check_runtime,
}
