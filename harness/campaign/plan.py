"""A campaign file (TOML) and the tests it declares.

    [campaign]
    name = "nightly"                      # the store folder's default name; default: the file's stem
    [defaults]                            # any `faultline test` option, for every test
    time_limit = 30
    [matrix]                              # axes: every combination is one test
    system = ["seedkv"]
    mode = ["seed", "fixed"]
    workload = ["set"]
    nemesis = ["kill,partition", "partition"]
    seed = [1, 2]
    [[exclude]]                           # drop every combination matching all these keys
    mode = "fixed"
    nemesis = "partition"
    [[include]]                           # one more test (defaults apply, then these)
    system = "seedkv"
    mode = "seed"
    workload = "set"
    nemesis = "kill"
    seed = 7
    expect = "invalid:lost"
    [[expect]]                            # the verdict the tests matching these keys must get
    mode = "seed"
    verdict = "invalid:lost"              # valid, invalid, invalid:A|B (one of these anomalies), any
    [selftest]                            # add the rows systems declare (`selftest` on a System)
    rows = "all"                          # or "quick"; system = "...", mode = "...", buggy = true narrow it
    seeds = [1]

Without an `expect`, a test must be valid. A test's id is made from its options, so the same
test keeps its id (and its finished result) when the file changes around it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.seams import HarnessError
from harness.spec import TestSpec

# What a campaign may set: every `faultline test` option; where each test goes is the runner's.
OPTIONS = tuple(f.name for f in dataclasses.fields(TestSpec) if f.name not in ("store", "name"))
_LIST_OPTIONS = ("nemesis", "server_args")


@dataclass(frozen=True)
class Expectation:
    """What a test must end with: `valid`, `invalid` (with one of `anomalies`, when named), or `any`."""

    verdict: str = "valid"
    anomalies: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, where: str) -> Expectation:
        word, _, names = str(text).partition(":")
        if word not in ("valid", "invalid", "any") or (names and word != "invalid"):
            raise HarnessError(f"{where}: expect {text!r}: say valid, invalid, invalid:ANOMALY|ANOMALY or any")
        return cls(word, tuple(n for n in names.split("|") if n))

    def met_by(self, valid: Any, anomalies: Iterable[str]) -> bool:
        if self.verdict == "any":
            return valid in (True, False)
        if self.verdict == "valid":
            return valid is True
        return valid is False and (not self.anomalies or any(a in self.anomalies for a in anomalies))

    def __str__(self) -> str:
        return self.verdict + (":" + "|".join(self.anomalies) if self.anomalies else "")


@dataclass(frozen=True)
class CampaignTest:
    """One test of a campaign: `faultline test` options and the verdict it must get."""

    options: Mapping[str, Any]
    expect: Expectation = Expectation()
    row: str = ""  # the seed-less part of the id: tests that differ only by seed share it

    @property
    def id(self) -> str:
        return f"{self.row}-s{self.options.get('seed', 0)}"

    @property
    def system(self) -> str:
        return str(self.options["system"])

    @property
    def mode(self) -> str:
        return str(self.options.get("mode") or "default")

    @property
    def nemesis(self) -> str:
        return ",".join(self.options.get("nemesis") or ()) or "none"

    @property
    def nodes(self) -> int:
        return int(self.options.get("nodes", 3))

    def with_seed(self, seed: int) -> CampaignTest:
        return dataclasses.replace(self, options={**self.options, "seed": seed})

    def argv(self, store: Path) -> list[str]:
        """The `faultline test` command line of this test, its runs kept under `store`."""
        argv = ["test", "--store", str(store), "--name", self.id]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if key == "nemesis":
                argv += [flag, ",".join(value)]
            elif key == "server_args":
                argv += [f"--server-arg={v}" for v in value]
            elif isinstance(value, bool):
                argv += [flag] if value else []
            elif value is not None and key != "final_timeout":
                argv += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return argv

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "row": self.row, "options": dict(self.options), "expect": str(self.expect)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignTest:
        return cls(dict(data["options"]), Expectation.parse(data["expect"], "campaign.json"), data["row"])


def make_test(options: Mapping[str, Any], expect: Expectation, where: str) -> CampaignTest:
    """A test from raw options: checked against `faultline test`'s, nemesis as a list, and an id
    from the system, mode and a hash of every option but the seed."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise HarnessError(f"{where}: unknown option {unknown[0]!r} (known: {', '.join(OPTIONS)})")
    for needed in ("system", "workload"):
        if needed not in options:
            raise HarnessError(f"{where}: a test needs {needed!r} (in [defaults], [matrix] or the row)")
    clean = dict(options)
    for key in _LIST_OPTIONS:
        value = clean.get(key, [])
        clean[key] = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else [str(v) for v in value]
    clean.setdefault("seed", 1)
    if not isinstance(clean["seed"], int):
        raise HarnessError(f"{where}: seed {clean['seed']!r} is not a whole number")
    try:
        TestSpec(**{k: v for k, v in clean.items()})  # types as the runner will take them
    except TypeError as e:
        raise HarnessError(f"{where}: {e}") from None
    key = json.dumps({k: v for k, v in sorted(clean.items()) if k != "seed"}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:6]
    row = f"{clean['system']}-{clean.get('mode') or 'default'}-{digest}"
    return CampaignTest(clean, expect, row)


@dataclass
class Campaign:
    name: str
    tests: list[CampaignTest] = field(default_factory=list)

    def shard(self, k: int, n: int) -> list[CampaignTest]:
        """Shard k of n (1-based): every n-th test in id order, so N shards cover the matrix
        exactly once whatever order the file lists it in."""
        ordered = sorted(self.tests, key=lambda t: t.id)
        return [t for i, t in enumerate(ordered) if i % n == k - 1]


def load(path: Path) -> Campaign:
    """Read and check a campaign file; HarnessError names the file and what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such campaign file") from None
    except tomllib.TOMLDecodeError as e:
        raise HarnessError(f"{path}: not valid TOML ({e})") from None
    return from_data(data, str(path), Path(path).stem)


def from_data(data: Mapping[str, Any], where: str, default_name: str) -> Campaign:
    known = {"campaign", "defaults", "matrix", "include", "exclude", "expect", "selftest"}
    for key in data:
        if key not in known:
            raise HarnessError(f"{where}: unknown table [{key}] (known: {', '.join(sorted(known))})")
    name = str(data.get("campaign", {}).get("name") or default_name)
    defaults = dict(data.get("defaults", {}))
    expects = [(dict(e), Expectation.parse(e.get("verdict", "valid"), f"{where} [[expect]]")) for e in data.get("expect", [])]
    for rule, _ in expects:
        rule.pop("verdict", None)
    tests: list[CampaignTest] = []

    def expectation(options: Mapping[str, Any]) -> Expectation:
        found = Expectation()
        for rule, expected in expects:
            if _matches(options, rule):
                found = expected  # the last rule that matches wins
        return found

    axes = dict(data.get("matrix", {}))
    if axes:
        for key, values in axes.items():
            if not isinstance(values, list) or not values:
                raise HarnessError(f"{where} [matrix]: {key} must be a non-empty list")
        for combo in itertools.product(*axes.values()):
            options = {**defaults, **dict(zip(axes, combo))}
            if any(_matches(options, rule) for rule in data.get("exclude", [])):
                continue
            tests.append(make_test(options, expectation(options), f"{where} [matrix]"))
    for i, row in enumerate(data.get("include", []), 1):
        row = dict(row)
        expect = row.pop("expect", None)
        options = {**defaults, **row}
        tests.append(make_test(options, Expectation.parse(expect, f"{where} [[include]] {i}") if expect else expectation(options),
                               f"{where} [[include]] {i}"))
    if "selftest" in data:
        tests += _selftest_table(dict(data["selftest"]), defaults, f"{where} [selftest]")
    seen: set[str] = set()
    unique = [t for t in tests if not (t.id in seen or seen.add(t.id))]
    if not unique:
        raise HarnessError(f"{where}: the campaign declares no test ([matrix], [[include]] or [selftest])")
    return Campaign(name, unique)


def _matches(options: Mapping[str, Any], rule: Mapping[str, Any]) -> bool:
    def norm(key: str, value: Any) -> Any:
        if key in _LIST_OPTIONS and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
    return all(norm(k, options.get(k)) == norm(k, v) for k, v in rule.items())


def _selftest_table(table: dict[str, Any], defaults: Mapping[str, Any], where: str) -> list[CampaignTest]:
    """[selftest]: rows = "all" or "quick", seeds, and optionally system, mode, buggy = true."""
    from harness import selftest

    known = {"rows", "seeds", "system", "mode", "buggy"}
    if set(table) - known:
        raise HarnessError(f"{where}: unknown key {sorted(set(table) - known)[0]!r} (known: {', '.join(sorted(known))})")
    if table.get("rows", "all") not in ("all", "quick"):
        raise HarnessError(f"{where}: rows must be \"all\" or \"quick\"")
    cases = selftest.select(selftest.matrix(), table.get("system"), table.get("mode"),
                            table.get("rows", "all") == "quick", bool(table.get("buggy")))
    if not cases:
        raise HarnessError(f"{where}: no row of the self-test matrix matches")
    return selftest_tests(table.get("seeds", [1]), defaults, cases)


def selftest_tests(seeds: Iterable[int], overrides: Mapping[str, Any], cases: Iterable[Any]) -> list[CampaignTest]:
    """Self-test rows (harness.selftest.Case: what each system declares) as campaign tests,
    row by row, each with every seed; `overrides` (a campaign's [defaults]) on top."""
    tests = []
    for case in cases:
        expect = Expectation("valid") if case.valid else Expectation("invalid", tuple(case.anomalies))
        spec = case.spec(1, "unused")
        where_run = ("runtime", "hosts", "insecure_host_keys")  # the campaign's to say, not the row's
        options = {k: getattr(spec, k) for k in OPTIONS if k not in (*where_run, "final_timeout", "server_args")}
        options.update(overrides or {})
        base = make_test(options, expect, f"selftest row {case.label}")
        tests += [base.with_seed(int(s)) for s in seeds]
    return tests
