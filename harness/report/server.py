"""`faultline serve`: the store over HTTP, with an index of runs at /.

A store holds files faultline did not write (whatever a node left in its directory, links
included), so the server trusts none of it: every path is resolved, symlinks and all, and must
stay under the store's own resolved path; only faultline's pages (the index and run reports) are
sent as HTML, under a policy that runs just their own inline script and style; everything else
is plain text the browser may neither sniff nor run. A connection that says nothing is dropped
after an idle timeout, so it cannot hold a thread for ever.
"""

from __future__ import annotations

import functools
import os
import stat
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from harness.campaign.outputs import PAGE_FILE as CAMPAIGN_PAGE, page_policy as campaign_page_policy
from harness.report.index import index_policy, render_index
from harness.report.page import report_policy
from harness.report.writer import REPORT_NAME, ReportError, write_report

IDLE_TIMEOUT_S = 30.0
NODES_DIR = "nodes"
# Files the server may itself turn into a report must not be links out of the store.
_REPORT_INPUTS = ("history.jsonl", "test.json", "results.json")
# What a file that is not a faultline page is sent as: text, in a sandbox, in case a browser
# renders it anyway.
_TEXT_TYPE = "text/plain; charset=utf-8"
_FILE_POLICY = "default-src 'none'; sandbox"
_LISTING_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def inside(path: str, root: str) -> bool:
    """Whether the resolved `path` is `root` or lies under it (both already real paths)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve_url_path(root: str, url_path: str) -> str | None:
    """The real path a URL path names under the store `root`, or None for a path that is
    malformed (NUL, backslash, `..`) or that resolves, through any link, outside the store."""
    name = unquote(url_path, errors="surrogateescape")
    if "\x00" in name or "\\" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    real = os.path.realpath(os.path.join(root, *parts))
    return real if inside(real, root) else None


def is_page(root: str, real: str) -> bool:
    """A faultline report: named report.html and not among a run's node files, which any
    system under test may write."""
    parts = Path(os.path.relpath(real, root)).parts
    return parts[-1] in (REPORT_NAME, CAMPAIGN_PAGE) and NODES_DIR not in parts[:-1]


class StoreHandler(SimpleHTTPRequestHandler):
    """Serves files under the store, and the run index at / and /index.html."""

    def __init__(self, *args: Any, store: Path, idle_timeout: float, **kwargs: Any):
        self.store = store
        self.root = os.path.realpath(store)
        # Read by StreamRequestHandler.setup(): the socket's timeout for every read and write.
        self.timeout = idle_timeout
        self.policy = _FILE_POLICY
        super().__init__(*args, directory=self.root, **kwargs)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        self.policy = _FILE_POLICY
        url_path = urlsplit(self.path).path
        if url_path in ("/", "/index.html"):
            self.policy = index_policy() + "; frame-ancestors 'none'"
            self._send_bytes(render_index(self.store).encode("utf-8"), "text/html; charset=utf-8", body)
            return
        if not url_path.startswith("/"):
            self.send_error(HTTPStatus.BAD_REQUEST, "a path must start with /")
            return
        real = resolve_url_path(self.root, url_path)
        if real is None:
            self.send_error(HTTPStatus.NOT_FOUND, "no such file in the store")
            return
        if os.path.isdir(real):
            self._directory(real, url_path, body)
            return
        page = is_page(self.root, real)
        if page and not os.path.lexists(real) and not self._build_report(real):
            return
        self._file(real, page, body)

    def _directory(self, real: str, url_path: str, body: bool) -> None:
        if not url_path.endswith("/"):
            # Rebuilt from the cleaned path, so the redirect cannot point off the server.
            rel = os.path.relpath(real, self.root)
            location = "/" + ("" if rel == "." else quote(os.fsencode(rel)) + "/")
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.policy = _LISTING_POLICY
        listing = self.list_directory(real)  # names are escaped; the page has no script
        if listing is not None:
            try:
                if body:
                    self.copyfile(listing, self.wfile)
            finally:
                listing.close()

    def _file(self, real: str, page: bool, body: bool) -> None:
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "no such file in the store")
            return
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            # What was opened, not what was checked: a link swapped in meanwhile is caught here.
            opened = os.path.realpath(f"/proc/self/fd/{fd}")
            if not stat.S_ISREG(info.st_mode) or not inside(opened, self.root):
                self.send_error(HTTPStatus.NOT_FOUND, "no such file in the store")
                return
            if page:
                own = campaign_page_policy() if os.path.basename(real) == CAMPAIGN_PAGE else report_policy()
                self.policy = own + "; frame-ancestors 'none'"
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8" if page else _TEXT_TYPE)
            self.send_header("Content-Length", str(info.st_size))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.copyfile(f, self.wfile)

    def _send_bytes(self, data: bytes, content_type: str, body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _build_report(self, real: str) -> bool:
        """Runs stored before reports existed (or whose report failed) get one on first view.
        The only write a GET makes, so it is refused unless the run directory, the files it
        reads and the files it writes are all inside the store and not links. False if an
        error page was sent instead."""
        run_dir = os.path.dirname(real)
        if not os.path.isfile(os.path.join(run_dir, "history.jsonl")):
            self.send_error(HTTPStatus.NOT_FOUND, "no such file in the store")
            return False
        inputs_inside = all(
            inside(os.path.realpath(os.path.join(run_dir, name)), self.root) for name in _REPORT_INPUTS
        )
        partial = os.path.join(run_dir, REPORT_NAME + ".partial")
        if not inputs_inside or os.path.islink(partial) or (os.path.exists(partial) and os.stat(partial).st_nlink > 1):
            self.send_error(HTTPStatus.FORBIDDEN, "this run's files lead out of the store; no report is built for it")
            return False
        try:
            write_report(Path(run_dir))
        except (ReportError, OSError) as e:
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "cannot build this run's report", str(e))
            return False
        return True

    def end_headers(self) -> None:
        # Sent on every answer, error pages included.
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", self.policy)
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


class StoreServer(ThreadingHTTPServer):
    """One thread per connection; a client that hangs up or goes quiet is not an error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        # One line, never a traceback: a hostile request must not fill the terminal.
        print(f"faultline serve: could not answer {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr)


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8080,
                idle_timeout: float = IDLE_TIMEOUT_S) -> ThreadingHTTPServer:
    """A server for `store`, bound but not yet serving; port 0 picks a free port. A connection
    idle for `idle_timeout` seconds (nothing sent, or nothing read) is closed."""
    handler = functools.partial(StoreHandler, store=Path(store).resolve(), idle_timeout=idle_timeout)
    return StoreServer((host, port), handler)
