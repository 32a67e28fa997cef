"""For tests that run `faultline test` as a child. When the child has to be SIGKILLed (a test
failing or timing out), its cluster would outlive it: `kill_controller` ends the child and then
removes that run's leftovers by its own prefix, found in the test.json files of its store.
`run_specs` finds those files, also while the child is still writing the store."""

from __future__ import annotations

import glob
import json
import subprocess
from pathlib import Path

from harness.runtime.local import LocalRuntime


def kill_controller(proc: subprocess.Popen, store: Path) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for spec in run_specs(store):
        try:
            prefix = json.loads(spec.read_text())["prefix"]
        except (OSError, ValueError, KeyError):
            continue
        LocalRuntime().cleanup(prefix)  # its controller is gone, so only this run is removed


def run_specs(store: Path) -> list[Path]:
    """Every run's test.json under `store`, safe to call while a run is writing there: the
    glob module skips dot entries (the store's `.latest.tmp`, renamed to `latest` at any moment,
    which pathlib's glob would step into) and ignores entries that vanish as it walks."""
    found = glob.glob(str(Path(store) / "**" / "test.json"), recursive=True)
    return sorted({Path(p).resolve() for p in found})  # once each, not again through `latest`
