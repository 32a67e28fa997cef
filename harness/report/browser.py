"""Headless Chromium for looking at reports the way a person would (tests and benchmarks).

Uses Debian's chromium through Playwright; Playwright never downloads a browser here. Every
request other than a file:// or loopback URL is aborted and recorded, so a report that tries
to fetch anything from outside is caught rather than sent.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class PageWatch:
    """What a page did that a test cares about: console errors, script errors, dialogs, and
    requests it was not allowed to make."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + [f"dialog: {d}" for d in self.dialogs] + [
            f"blocked request: {u}" for u in self.blocked_requests
        ]


def chromium_available() -> str | None:
    """None if a browser can be driven here, else why not (for a test's skip message)."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run `bash scripts/setup.sh --test` to install Debian's chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing: run `bash scripts/setup.sh --test` to install the test extra"
    return None


@contextlib.contextmanager
def open_browser(user_data_dir: Path | None = None, viewport: tuple[int, int] = (1400, 1000)) -> Iterator[Any]:
    """A Playwright browser context on a fresh profile; closed (and the browser ended) on exit."""
    from playwright.sync_api import sync_playwright

    with contextlib.ExitStack() as stack:
        if user_data_dir is None:
            user_data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="faultline-chromium-")))
        playwright = stack.enter_context(sync_playwright())
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]},
            accept_downloads=False,
        )
        stack.callback(context.close)
        yield context


def watch_page(page: Any) -> PageWatch:
    """Record the page's errors and dialogs, and confine it to local files and loopback."""
    watch = PageWatch()
    page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("file", "data", "about") or (parsed.hostname or "") in _LOCAL_HOSTS:
            request_route.continue_()
        else:
            watch.blocked_requests.append(url)
            request_route.abort()

    page.route("**/*", route)
    return watch


def wait_for(page: Any, expression: str, timeout_s: float = 120.0) -> Any:
    """Poll a JavaScript expression until it is truthy; returns its value.

    Playwright's own wait_for_function compiles its predicate inside the page, which a report's
    content security policy (no eval) refuses; page.evaluate goes through the debugging protocol
    instead, which the policy does not cover, so the page keeps its real policy under test.
    """
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = page.evaluate(expression)
        except PlaywrightError as e:
            # A page navigating (a clicked link) drops the context an evaluation ran in.
            if "context was destroyed" not in str(e) and "navigat" not in str(e):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {expression!r} in {page.url}")
        page.wait_for_timeout(25)
