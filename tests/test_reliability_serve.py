"""`faultline serve` under hostile use: traversal, links out of the store, hostile files a node
left behind, silent connections, junk paths.

The first tests pin each defect of issue 11 on an in-process server; the reliability tests run
the real `faultline serve` command and probe it as a careless or hostile user would, counting
attempts and leaks, and open the hostile files in real headless Chromium to count scripts run.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness.report import write_report
from harness.report.browser import chromium_available, open_browser, wait_for, watch_page
from harness.report.index import index_policy
from harness.report.page import report_policy
from harness.report.server import make_server
from harness.report.synthetic import make_run

STAMP = "20261121T190000"
RUN = f"seedkv-set/{STAMP}"
HOSTILE_HTML = (
    "<!DOCTYPE html><html><body><h1>hostile</h1>"
    "<script>window.__pwned = 1; alert('script ran'); fetch('/ran-script');</script>"
    "<img src=x onerror=\"window.__pwned = 1; alert('onerror ran')\">"
    "</body></html>"
)
HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned = 1; alert(\'svg onload ran\')">'
    "<script>window.__pwned = 1; alert('svg script ran');</script></svg>"
)


# --- helpers -------------------------------------------------------------------------------

def raw_get(port: int, target: bytes, method: bytes = b"GET", timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """Send the request line exactly as given (no client-side clean-up of the path) and return
    status (0 if the server hung up without answering), headers (lower-case names) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(method + b" " + target + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    if not data:
        return 0, {}, b""  # the server hung up without an answer
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@contextlib.contextmanager
def serving(store: Path, idle_timeout: float = 30.0) -> Iterator[int]:
    """An in-process server on an ephemeral loopback port; stopped on exit."""
    server = make_server(store, "127.0.0.1", 0, idle_timeout)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=60)


class Served:
    """A `faultline serve` process: its port while it runs, what it printed to stderr after."""

    def __init__(self, process: subprocess.Popen, port: int):
        self.process, self.port, self.stderr = process, port, ""


@contextlib.contextmanager
def serve_command(store: Path, idle_timeout: float) -> Iterator[Served]:
    """The real `faultline serve` in its own process, on port 0; stopped on exit."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from harness.report.commands import serve_command; serve_command()",
         "--store", str(store), "--port", "0", "--idle-timeout", str(idle_timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    served = Served(process, 0)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"serve said {line!r}"
        served.port = int(match.group(1))
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        served.stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root (links not followed) with its size and mtime: what a write changes."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            state[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return state


class Hostile:
    """A store salted with everything a hostile node or user could leave in it, beside an
    `outside` directory whose contents must never be served or written."""

    def __init__(self, tmp_path: Path):
        self.marker = "OUTSIDE-" + secrets.token_hex(8)
        self.store = tmp_path / "store"
        self.outside = tmp_path / "outside"
        run = make_run(self.store, calls=60, stamp=STAMP)
        write_report(run.run_dir)
        self.run_dir = run.run_dir
        (self.store / "latest").symlink_to(RUN)

        self.outside.mkdir()
        (self.outside / "secret.txt").write_text(f"{self.marker}\n")
        (self.outside / f"{self.marker}-listed.txt").write_text("its name is the marker\n")
        outside_run = self.outside / STAMP
        outside_run.mkdir()
        shutil.copy(run.run_dir / "history.jsonl", outside_run / "history.jsonl")
        (outside_run / "test.json").write_text(f'{{"name": "{self.marker}"}}\n')
        (self.outside / "target.txt").write_text("must stay as it is\n")

        node = run.run_dir / "nodes" / "n1"
        (node / "passwd").symlink_to("/etc/passwd")
        (node / "secret").symlink_to(self.outside / "secret.txt")
        (node / "outdir").symlink_to(self.outside)
        (node / "relative-secret").symlink_to(os.path.relpath(self.outside / "secret.txt", node))
        (node / "evil.html").write_text(HOSTILE_HTML)
        (node / "evil.svg").write_text(HOSTILE_SVG)
        (node / "report.html").write_text(HOSTILE_HTML)
        (node / "sub").mkdir()
        (node / "sub" / "index.html").write_text(HOSTILE_HTML)
        (self.store / "evil.html").write_text(HOSTILE_HTML)  # not a report, though not in nodes/

        # A test folder that is a link out of the store, holding a run with no report yet.
        (self.store / "linked-test").symlink_to(self.outside)
        # A run whose history is a link out of the store, and one whose report's temporary
        # file is: building either report on GET would read or write outside.
        linked_history = self.store / "t2" / STAMP
        linked_history.mkdir(parents=True)
        (linked_history / "history.jsonl").symlink_to(outside_run / "history.jsonl")
        linked_partial = self.store / "t3" / STAMP
        linked_partial.mkdir(parents=True)
        shutil.copy(run.run_dir / "history.jsonl", linked_partial / "history.jsonl")
        (linked_partial / "report.html.partial").symlink_to(self.outside / "target.txt")
        # A report.html that faultline did not write: its script is not the report's.
        forged = self.store / "forged" / STAMP
        forged.mkdir(parents=True)
        (forged / "report.html").write_text(HOSTILE_HTML)

    def leaked(self, body: bytes) -> bool:
        return self.marker.encode() in body or b"root:x:0:0" in body


# --- the defects, pinned -------------------------------------------------------------------

def test_a_link_in_a_node_directory_to_a_file_outside_is_not_followed(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    with serving(h.store) as port:
        for name in ("passwd", "secret", "relative-secret"):
            status, _, body = raw_get(port, f"/{RUN}/nodes/n1/{name}".encode())
            assert status == 404 and not h.leaked(body), name
        # A link that stays inside the store still works.
        status, _, body = raw_get(port, b"/latest/harness.log")
        assert status == 200 and body == b"run finished\n"


def test_a_linked_directory_out_of_the_store_is_neither_listed_nor_read(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    with serving(h.store) as port:
        for target in (f"/{RUN}/nodes/n1/outdir/", f"/{RUN}/nodes/n1/outdir/secret.txt", f"/linked-test/{STAMP}/history.jsonl"):
            status, _, body = raw_get(port, target.encode())
            assert status == 404 and not h.leaked(body), target


def test_a_get_under_a_linked_directory_writes_nothing_outside(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    before = tree_state(h.outside)
    with serving(h.store) as port:
        for target in (f"/linked-test/{STAMP}/report.html", f"/t2/{STAMP}/report.html", f"/t3/{STAMP}/report.html"):
            status, _, body = raw_get(port, target.encode())
            assert status in (403, 404) and not h.leaked(body), target
    assert tree_state(h.outside) == before
    assert not (h.store / "t2" / STAMP / "report.html").exists()


def test_a_missing_report_is_still_built_on_first_view(tmp_path: Path) -> None:
    run = make_run(tmp_path / "store", calls=40)
    with serving(tmp_path / "store") as port:
        status, headers, body = raw_get(port, f"/{RUN}/report.html".encode())
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert (run.run_dir / "report.html").read_bytes() == body


def test_node_files_and_other_non_pages_are_plain_text_that_cannot_be_sniffed(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    with serving(h.store) as port:
        for target in ("nodes/n1/evil.html", "nodes/n1/evil.svg", "nodes/n1/report.html", "nodes/n1/sub/index.html",
                       "nodes/n1/server.log", "history.jsonl", "results.json"):
            status, headers, _ = raw_get(port, f"/{RUN}/{target}".encode())
            assert status == 200, target
            assert headers["content-type"] == "text/plain; charset=utf-8", target
            assert headers["x-content-type-options"] == "nosniff", target
            assert "sandbox" in headers["content-security-policy"], target
        status, headers, _ = raw_get(port, b"/evil.html")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        # A directory with an index.html is listed, not answered with that file.
        status, headers, body = raw_get(port, f"/{RUN}/nodes/n1/sub/".encode())
        assert status == 200 and b"<script>" not in body and b"index.html" in body
        assert headers["content-security-policy"].startswith("default-src 'none'")


def test_pages_are_sent_with_a_policy_that_admits_only_their_own_script_and_style(tmp_path: Path) -> None:
    h = Hostile(tmp_path)
    with serving(h.store) as port:
        status, headers, body = raw_get(port, f"/{RUN}/report.html".encode())
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        policy = headers["content-security-policy"]
        assert policy.startswith(report_policy()) and "unsafe-inline" not in policy and "'sha256-" in policy
        assert report_policy().encode() in body  # the page carries the same policy for file:// use
        _, headers, _ = raw_get(port, b"/")
        assert headers["content-security-policy"].startswith(index_policy())
        assert "unsafe-inline" not in headers["content-security-policy"]


def test_junk_in_the_path_answers_400_or_404_without_a_traceback(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    h = Hostile(tmp_path)
    with serving(h.store) as port:
        for target in (b"/%00", b"/seedkv-set/%00/x", b"/a\x00b", b"/%ff%fe", b"/..%5c..%5cetc%5cpasswd", b"*",
                       b"/" + b"a" * 5000):
            status, _, body = raw_get(port, target)
            assert status in (400, 404, 414), target
            assert not h.leaked(body)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ValueError" not in err, err


def test_a_silent_connection_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    with serving(tmp_path / "store", idle_timeout=0.5) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as idle:
            # recv returns b"" once the server has closed its end; before the fix it never did.
            assert idle.recv(1024) == b""
        status, _, _ = raw_get(port, b"/")
        assert status == 200


# --- the reliability suite -----------------------------------------------------------------

def traversal_probes(h: Hostile) -> list[bytes]:
    """Ways out of the store by the URL alone: plain, encoded and double-encoded `..`, absolute
    paths, backslashes, NUL, overlong UTF-8, the absolute request form."""
    abs_secret = str(h.outside / "secret.txt")
    ups = ["../", "%2e%2e/", "%2E%2E%2F", "..%2f", "%252e%252e/", "%252e%252e%252f", "..\\", "..%5c",
           "%c0%ae%c0%ae/", ".%2e/", "%2e./", "....//", "..;/"]
    probes = []
    for up in ups:
        probes.append(f"/{up * 8}etc/passwd")
        probes.append(f"/{RUN}/nodes/n1/{up * 12}etc/passwd")
        probes.append(f"/{up}outside/secret.txt")  # the store's neighbour, one level up
        probes.append(f"/latest/{up * 3}outside/secret.txt")
    probes += [
        "/etc/passwd", "//etc/passwd", "///etc/passwd", abs_secret, "/" + abs_secret, "/%2F" + abs_secret.lstrip("/"),
        "http://127.0.0.1/../../../../etc/passwd", "http://127.0.0.1//etc/passwd", "http://127.0.0.1/../outside/secret.txt",
        "/%00", "/%00/../../etc/passwd", f"/{RUN}/nodes/n1/passwd%00.log", "/\x00../etc/passwd",
        "/proc/self/environ", "/../../../proc/self/environ", "/dev/zero",
    ]
    return [p.encode("latin-1") for p in probes]


def symlink_probes() -> list[bytes]:
    node = f"/{RUN}/nodes/n1"
    probes = [f"{node}/passwd", f"{node}/secret", f"{node}/relative-secret", f"{node}/outdir", f"{node}/outdir/",
              f"{node}/outdir/secret.txt", f"{node}/outdir/{STAMP}/history.jsonl", "/latest/nodes/n1/secret",
              "/latest/nodes/n1/outdir/", "/linked-test/", "/linked-test/secret.txt", f"/linked-test/{STAMP}/",
              f"/linked-test/{STAMP}/report.html", f"/linked-test/{STAMP}/history.jsonl", f"/t2/{STAMP}/report.html",
              f"/t2/{STAMP}/history.jsonl", f"/t3/{STAMP}/report.html", f"/t3/{STAMP}/report.html.partial",
              f"{node}/%70asswd", f"{node}/outdir%2fsecret.txt"]
    return [p.encode() for p in probes]


@pytest.mark.reliability
def test_serve_probed_with_traversal_links_and_hostile_files(tmp_path: Path) -> None:
    if chromium_available() is not None:
        pytest.skip(str(chromium_available()))
    h = Hostile(tmp_path)
    before = tree_state(h.outside)
    attempts, leaks, bad_answers = 0, [], []
    with serve_command(h.store, idle_timeout=30) as served:
        port, process = served.port, served.process
        for method in (b"GET", b"HEAD"):
            for target in traversal_probes(h) + symlink_probes():
                attempts += 1
                status, _, body = raw_get(port, target, method)
                if h.leaked(body):
                    leaks.append(target)
                if status not in (301, 400, 403, 404, 414):
                    bad_answers.append((method, target, status))
        after = tree_state(h.outside)
        written = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
        scripts_run, report_problems = _open_in_chromium(h, port, tmp_path)
        assert process.poll() is None, "the server died under the probes"
    print(f"traversal and symlink attempts: {attempts}, served from outside the store: {len(leaks)}, "
          f"scripts run: {scripts_run}")
    print(f"files written outside the store by a GET: {len(written)}")
    assert leaks == []
    assert bad_answers == []
    assert written == []
    assert scripts_run == 0
    assert report_problems == []
    assert "Traceback" not in served.stderr, served.stderr


def _open_in_chromium(h: Hostile, port: int, tmp_path: Path) -> tuple[int, list[str]]:
    """Open every hostile file through the server as a person would; count scripts that ran
    (a dialog, a request to /ran-*, or the flag they set). Also check the genuine report and the
    index still work under the server's policy. Returns (scripts run, the pages' problems)."""
    base = f"http://127.0.0.1:{port}"
    hostile = [f"/{RUN}/nodes/n1/{name}" for name in ("evil.html", "evil.svg", "report.html", "sub/index.html", "sub/", "server.log")]
    hostile += ["/evil.html", f"/forged/{STAMP}/report.html"]
    runs = 0
    problems: list[str] = []
    with open_browser(tmp_path / "chromium-profile") as browser:
        for target in hostile:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            watch = watch_page(page)
            beacons: list[str] = []
            page.on("request", lambda request, b=beacons: b.append(request.url) if "/ran-" in request.url else None)
            page.goto(base + target)
            page.wait_for_load_state("load")
            try:
                flagged = bool(page.evaluate("window.__pwned === 1"))
            except Exception:  # a sandboxed page may refuse even the debugger's script; nothing ran there
                flagged = False
            if watch.dialogs or beacons or flagged:
                runs += 1
            page.close()
        # The real report and the index, under the server's header policy.
        page = browser.new_page()
        page.set_default_timeout(120_000)
        watch = watch_page(page)
        page.goto(f"{base}/{RUN}/report.html")
        wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
        if page.evaluate("window.faultlineReport.drawn") < 1:
            problems.append("the report drew nothing")
        page.goto(base + "/")
        wait_for(page, "document.getElementById('shown').textContent.includes('of')")
        page.fill("#filter", "seedkv")
        wait_for(page, "document.querySelectorAll('#runs tbody tr:not([hidden])').length >= 1")
        problems += watch.problems
        runs += len(watch.dialogs)
        page.close()
    return runs, problems


@pytest.mark.reliability
def test_serve_drops_silent_and_half_sent_connections_and_keeps_answering(tmp_path: Path) -> None:
    """Slowloris-style: connections that send nothing or half a request must each be closed by
    the server (recv sees the end), while other clients are answered meanwhile."""
    make_run(tmp_path / "store", calls=20)
    openings = [b"", b"GET / HTTP/1.1\r\n", b"GET /", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "]
    closed = 0
    started = time.monotonic()
    with serve_command(tmp_path / "store", idle_timeout=1.0) as served:
        port, process = served.port, served.process
        conns = []
        for opening in openings * 3:
            conn = socket.create_connection(("127.0.0.1", port), timeout=120)
            conn.sendall(opening)
            conns.append(conn)
        status, _, _ = raw_get(port, b"/")  # answered while a dozen connections sit idle
        assert status == 200
        for conn in conns:
            with conn:
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                closed += 1
        assert process.poll() is None
    print(f"idle connections: {len(openings) * 3}, closed by the server: {closed} "
          f"(in {time.monotonic() - started:.1f} s)")
    assert closed == len(openings) * 3
