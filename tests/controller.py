"""For tests that run `faultline test` as a child: when the child has to be SIGKILLed (a test
failing or timing out), its cluster would outlive it. `kill_controller` ends the child and then
removes that run's leftovers by its own prefix, found in the test.json files of its store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.runtime.local import LocalRuntime


def kill_controller(proc: subprocess.Popen, store: Path) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for spec in Path(store).rglob("test.json"):
        try:
            prefix = json.loads(spec.read_text())["prefix"]
        except (OSError, ValueError, KeyError):
            continue
        LocalRuntime().cleanup(prefix)  # its controller is gone, so only this run is removed
