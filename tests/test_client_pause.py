"""Client pauses: a paused client's op completes only after the pause ends, the other clients go
on meanwhile, and nothing stays paused after the run, also after an interrupted one.

The gate tests drive the runner's `Interpreter` with an echo client over a real loopback TCP
server; the end-to-end test runs `faultline test --nemesis pause-client` on raftkv."""

from __future__ import annotations

import _thread
import json
import logging
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from harness.generator.combinators import any_of, clients, nemesis, phases, repeat, sequence, sleep, stagger, time_limit
from harness.history import Op
from harness.history_reader import read_history
from harness.journal import HistoryWriter
from harness.interpreter import Interpreter
from harness.spec import RunStatus, TestSpec
from harness.seams import NemesisOptions
from nemeses.client_pause import PAUSE, RESUME, ClientPauseNemesis
from nemeses.client_pause import pause_client as package

FAULTLINE = str(Path(sys.executable).parent / "faultline")


class EchoHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = EchoServer(("127.0.0.1", 0), EchoHandler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()
        serving.join(timeout=10)


class EchoClient:
    """Sends the op's index and reads it back: a real round trip over loopback."""

    def __init__(self, address: tuple[str, int]):
        self.address = address
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def open(self, cluster: Any, node: Any) -> None:
        self.sock = socket.create_connection(self.address, timeout=10)
        self.reader = self.sock.makefile("rb")

    def invoke(self, op: Op) -> Op:
        assert self.sock is not None
        self.sock.sendall(f"{op.index}\n".encode())
        return op.complete("ok", value=int(self.reader.readline()))

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()


def interpreter_for(tmp_path: Path, address: tuple[str, int], concurrency: int) -> tuple[Interpreter, HistoryWriter]:
    pause = package(NemesisOptions(seed=1, nodes=["n1"], interval=1.0, capabilities=frozenset(), concurrency=concurrency))
    spec = TestSpec(system="echo", workload="echo", concurrency=concurrency, time_limit=30, final_timeout=60)
    cluster = SimpleNamespace(nodes=[SimpleNamespace(name="n1")], run_dir=tmp_path)
    system = SimpleNamespace(client=lambda cluster: EchoClient(address))
    journal = HistoryWriter(tmp_path / "history.jsonl")
    interpreter = Interpreter(spec, cluster, system, [pause], journal, RunStatus(), logging.getLogger("test-client-pause"))
    pause.nemesis.bind_clients(interpreter.gates)
    return interpreter, journal


def echo_ops(seconds: float) -> Any:
    return clients(time_limit(seconds, stagger(0.01, repeat({"f": "echo"}))))


def thread_of(op: Op, concurrency: int) -> Any:
    return op.process % concurrency if isinstance(op.process, int) else op.process


def test_a_paused_client_completes_only_after_resume_while_others_go_on(tmp_path: Path, echo_server) -> None:
    interpreter, journal = interpreter_for(tmp_path, echo_server, concurrency=3)
    # The pause would last a minute; the resume ends it after two seconds.
    faults = nemesis(sequence(sleep(0.3), {"f": PAUSE, "value": {"threads": [1], "seconds": 60}}, sleep(2), {"f": RESUME}))
    interpreter.run(phases(any_of(echo_ops(4.0), faults), nemesis({"f": RESUME})))
    journal.close()
    history = read_history(tmp_path / "history.jsonl")

    pause_done = next(op for op in history if op.f == PAUSE and op.type == "info")
    resume_invoked = next(op for op in history if op.f == RESUME and op.type == "invoke")
    assert pause_done.value["processes"] == [1]
    completion_of = _completions(history)

    # Thread 1 holds an op across the pause: invoked before the resume, completed after it.
    stalled = [op for op in history if op.type == "invoke" and op.process == 1
               and op.index < resume_invoked.index < completion_of[op.index].index]
    assert stalled, "thread 1 should have been stalled in an op until the resume"
    # Nothing thread 1 started after the pause took effect finished before the resume.
    assert not [op for op in history if op.type == "invoke" and op.process == 1
                and pause_done.index < op.index and completion_of[op.index].index < resume_invoked.index]
    # Meanwhile the other threads kept completing ops.
    others = [op for op in history if op.type == "ok" and op.process in (0, 2)
              and pause_done.index < op.index < resume_invoked.index]
    assert len(others) >= 10

    resume_done = next(op for op in history if op.f == RESUME and op.type == "info")
    stalls = resume_done.value["stalls"]
    assert {s["thread"] for s in stalls} == {1}
    assert {s["op"] for s in stalls} <= {op.index for op in stalled}
    assert all(s["where"] in ("before-send", "after-reply") and s["seconds"] > 0 for s in stalls)
    assert_nothing_paused(interpreter)


def _completions(history: list[Op]) -> dict[int, Op]:
    """Invocation index -> its completion (each process runs one op at a time)."""
    open_ops: dict[Any, int] = {}
    out: dict[int, Op] = {}
    for op in history:
        if op.type == "invoke":
            open_ops[op.process] = op.index
        elif op.process in open_ops:
            out[open_ops.pop(op.process)] = op
    return out


def test_a_pause_ends_by_itself_when_its_time_is_up(tmp_path: Path, echo_server) -> None:
    interpreter, journal = interpreter_for(tmp_path, echo_server, concurrency=2)
    # No resume in the schedule: the gate must reopen on its own for the run to end.
    faults = nemesis(sequence(sleep(0.2), {"f": PAUSE, "value": {"threads": [0, 1], "seconds": 0.5}}))
    interpreter.run(phases(any_of(echo_ops(2.0), faults)))
    journal.close()
    history = read_history(tmp_path / "history.jsonl")
    completions = _completions(history)
    invoked = [op for op in history if op.type == "invoke" and op.f == "echo"]
    assert invoked and all(completions[op.index].type == "ok" for op in invoked)
    assert_nothing_paused(interpreter)


def test_an_interrupted_run_releases_every_paused_client(tmp_path: Path, echo_server) -> None:
    interpreter, journal = interpreter_for(tmp_path, echo_server, concurrency=3)
    faults = nemesis(sequence(sleep(0.2), {"f": PAUSE, "value": {"threads": [0, 1, 2], "seconds": 600}}))

    all_stalled = threading.Event()

    def interrupt_once_all_are_stalled() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if interpreter.gates.stalled() == [0, 1, 2]:
                all_stalled.set()
                break
            time.sleep(0.01)
        _thread.interrupt_main()  # what Ctrl-C does to the controller

    interrupter = threading.Thread(target=interrupt_once_all_are_stalled)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            interpreter.run(phases(any_of(echo_ops(600), faults)))
    finally:
        interrupter.join()
        journal.close()
    assert all_stalled.is_set(), "every client should have been held at its gate when Ctrl-C came"
    assert_nothing_paused(interpreter)
    history = read_history(tmp_path / "history.jsonl")
    assert any(op.f == PAUSE and op.type == "info" for op in history)


def test_teardown_opens_every_gate(tmp_path: Path, echo_server) -> None:
    interpreter, journal = interpreter_for(tmp_path, echo_server, concurrency=2)
    nemesis_ = ClientPauseNemesis()
    nemesis_.bind_clients(interpreter.gates)
    nemesis_.invoke(None, None, Op("invoke", PAUSE, {"threads": [0, 1], "seconds": 600}, "nemesis", 0))
    assert interpreter.gates.closed() == [0, 1]
    nemesis_.teardown(None, None)
    assert interpreter.gates.closed() == []
    journal.close()


def assert_nothing_paused(interpreter: Interpreter) -> None:
    assert interpreter.gates.closed() == []
    assert interpreter.gates.stalled() == []
    assert not [t.name for t in interpreter.threads if t.is_alive()], "worker threads outlived the run"


@pytest.mark.slow
@pytest.mark.root
def test_faultline_test_with_pause_client_on_raftkv_ends_valid(tmp_path: Path) -> None:
    run = subprocess.run(
        [FAULTLINE, "test", "--system", "raftkv", "--workload", "register", "--nemesis", "pause-client",
         "--nemesis-interval", "1", "--time-limit", "8", "--rate", "20", "--seed", "5", "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    run_dir = (tmp_path / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True
    history = read_history(run_dir / "history.jsonl")
    pauses = [op for op in history if op.f == PAUSE and op.type == "info"]
    resumes = [op for op in history if op.f == RESUME and op.type == "info"]
    assert pauses and resumes and not [op for op in pauses + resumes if op.error]
    for op in pauses:
        assert len(op.value["threads"]) == 1 and 0 <= op.value["threads"][0] < 5 and op.value["seconds"] > 0
    stalls = [s for op in resumes for s in op.value["stalls"]]
    assert stalls, "some client op should have been held by a pause"
    # The report shades each pause like any other interval fault.
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1))
    drawn = [f for f in data["faults"] if f["name"] == PAUSE]
    assert len(drawn) == len(pauses) and all(f["t1"] > f["t0"] for f in drawn)


def test_faultline_systems_lists_pause_client_with_its_options() -> None:
    from harness.cli import catalogue_of_plugins

    listed = {n["name"]: n for n in catalogue_of_plugins()["nemeses"]}["pause-client"]
    assert listed["fs"] == [PAUSE, RESUME]
    assert {"interval", "targets", "pause"} <= set(listed["options"])


def test_the_schedule_is_seeded_and_alternates_pause_and_resume() -> None:
    from harness.generator.simulate import simulate

    def faults(seed: int) -> list[tuple[str, Any]]:
        options = NemesisOptions(seed=seed, nodes=["n1"], interval=1.0, capabilities=frozenset(), concurrency=4)
        ops = simulate(nemesis(time_limit(20, package(options).generator)), concurrency=4)
        return [(op.f, op.value) for op in ops if op.type == "invoke"]

    first = faults(7)
    assert first == faults(7) and first != faults(8)
    # The time limit may cut the last episode after its pause: the final heal resumes that one.
    assert [f for f, _ in first] == ([PAUSE, RESUME] * len(first))[: len(first)] and len(first) >= 8
    pauses = [v for f, v in first if f == PAUSE]
    assert all(0 <= v["threads"][0] < 4 and 0.5 <= v["seconds"] <= 1.5 for v in pauses)
    assert len({v["threads"][0] for v in pauses}) > 1
