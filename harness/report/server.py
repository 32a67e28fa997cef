"""`faultline serve`: the store over HTTP, with an index of runs at /.

Reports are static files, so everything but the index is served straight from the store
directory; the standard library's handler already refuses paths that climb out of it.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.report.index import render_index
from harness.report.writer import REPORT_NAME, ReportError, write_report


class StoreHandler(SimpleHTTPRequestHandler):
    """Serves files under the store, and the run index at / and /index.html."""

    def __init__(self, *args: Any, store: Path, **kwargs: Any):
        self.store = store
        super().__init__(*args, directory=str(store), **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/", "/index.html"):
            body = render_index(self.store).encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        if not self._ensure_report():
            return
        super().do_GET()

    def _ensure_report(self) -> bool:
        """Runs stored before reports existed (or whose report failed) get one on first view.
        False if building it failed and an error page was sent instead."""
        target = Path(self.translate_path(self.path))
        if target.name != REPORT_NAME or target.exists() or not (target.parent / "history.jsonl").is_file():
            return True
        try:
            write_report(target.parent)
        except (ReportError, OSError) as e:
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "cannot build this run's report", str(e))
            return False
        return True

    def end_headers(self) -> None:
        # Logs and histories are shown as text, never sniffed into HTML that could run scripts.
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def guess_type(self, path: Any) -> str:
        if str(path).endswith((".log", ".jsonl", ".edn")):
            return "text/plain; charset=utf-8"
        return super().guess_type(path)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A server for `store`, bound but not yet serving; port 0 picks a free port."""
    handler = functools.partial(StoreHandler, store=Path(store).resolve())
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
