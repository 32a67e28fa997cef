"""faultline in a user's own pytest suite (registered through pytest's `pytest11` entry point,
so installing faultline is enough).

    import pytest

    @pytest.mark.faultline(system="seedkv", mode="fixed", workload="set", nemesis="kill", time_limit=10)
    def test_fixed_keeps_every_add(faultline):
        assert faultline.result.valid is True      # the marked test already ran and met "valid"

    def test_seed_mode_is_caught(faultline):
        faultline.run(system="seedkv", mode="seed", workload="set", nemesis="kill", expect="invalid:lost")

    @pytest.mark.parametrize("row", faultline_rows("nightly.toml"))   # a campaign's tests, by id
    def test_nightly(faultline, row):
        faultline.run_test(row)

A test that does not meet its expectation fails with the checker's summary and the report path.
Each run is a child `faultline test` in the test's own tmp_path store (see
harness/campaign/runner.py), so `pytest -k` selects runs like any test and pytest-xdist workers
run side by side without sharing anything: prefixes and subnets are claimed per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faultline(expect='valid', **options): run this faultline test "
                                       "(`faultline test` options as keywords) before the test body; "
                                       "the `faultline` fixture holds its result")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A marked test need not ask for the fixture: the fixture is what runs the marked test.
    for item in items:
        if item.get_closest_marker("faultline") is not None and "faultline" not in getattr(item, "fixturenames", ["faultline"]):
            item.fixturenames.append("faultline")


def faultline_rows(path: str | Path) -> list[Any]:
    """A campaign file's tests as pytest parameters named by test id (for `parametrize`)."""
    from harness.campaign import plan

    return [pytest.param(test, id=test.id) for test in plan.load(Path(path)).tests]


class FaultlineRunner:
    """Runs faultline tests for one pytest test, each in its own store under tmp_path."""

    def __init__(self, store_dir: Path):
        self.store_dir = store_dir
        self.result: Any = None  # the last run's TestResult (harness.campaign.runner)

    def run(self, expect: str = "valid", **options: Any) -> Any:
        """Run one test (`faultline test` options as keywords, e.g. nemesis="kill,partition");
        fail the pytest test unless it ends as `expect` says (valid, invalid, invalid:ANOMALY, any)."""
        from harness.campaign.plan import Expectation, make_test

        return self.run_test(make_test(options, Expectation.parse(expect, "faultline marker"), "faultline marker"))

    def run_test(self, test: Any) -> Any:
        """Run one campaign test (a `CampaignTest`, e.g. from `faultline_rows`)."""
        from harness.campaign.outputs import verdict_word
        from harness.campaign.runner import Budget, run_tests, read_state

        finished = run_tests(self.store_dir, [test], Budget(cpus=1, memory=1 << 40))
        self.result = read_state(self.store_dir)[test.id]
        if not finished:
            raise KeyboardInterrupt
        if not self.result.as_expected:
            report = Path(self.result.run_dir) / "report.html" if self.result.run_dir else "no report"
            pytest.fail(f"faultline {test.id}: expected {test.expect}, got {verdict_word(self.result)}: {self.result.reason}\n"
                        f"anomalies: {', '.join(self.result.anomalies) or 'none'}\nreport: {report}", pytrace=False)
        return self.result


@pytest.fixture
def faultline(tmp_path: Path) -> FaultlineRunner:
    """Runs faultline tests from a pytest test; with `@pytest.mark.faultline(...)` the marked
    test runs first and its result is in `.result`."""
    return FaultlineRunner(tmp_path / "faultline")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    # The marked run belongs to the test's call phase, so a missed expectation is a failure of
    # the test (not an error in setting it up).
    marker = item.get_closest_marker("faultline")
    if marker is not None:
        item.funcargs["faultline"].run(**marker.kwargs)  # type: ignore[attr-defined]
    return (yield)
