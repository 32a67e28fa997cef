"""The click commands `faultline report` and `faultline serve`; the CLI adds them to its group."""

from __future__ import annotations

import math
from pathlib import Path

import click

from harness.report.server import IDLE_TIMEOUT_S, make_server
from harness.report.writer import ReportError, write_report

_EXIT_HARNESS_FAILED = 3


@click.command("report")
@click.argument("path", type=click.Path(path_type=Path))
def report_command(path: Path) -> None:
    """Rebuild report.html for the run directory PATH (store/<test>/<time>)."""
    try:
        target = write_report(path)
    except ReportError as e:
        click.echo(f"faultline report: {e}", err=True)
        raise SystemExit(_EXIT_HARNESS_FAILED) from None
    click.echo(str(target))


def _finite(param: click.Parameter, value: float) -> float:
    """FloatRange lets nan through (every comparison with it is false)."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", param=param)
    return value


@click.command("serve")
@click.option("--store", "store", type=click.Path(path_type=Path), default=Path("store"), show_default=True,
              help="The store directory to serve.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; the default keeps the store on this machine.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one.")
@click.option("--idle-timeout", default=IDLE_TIMEOUT_S, show_default=True, type=click.FloatRange(0.1, 3600),
              callback=lambda ctx, param, value: _finite(param, value),
              help="Seconds a connection may stay silent before the server closes it.")
def serve_command(store: Path, host: str, port: int, idle_timeout: float) -> None:
    """Serve the store: an index of runs at /, each linking to its report."""
    if not store.is_dir():
        click.echo(f"faultline serve: {store} is not a directory; pass --store with the directory `faultline test` writes to", err=True)
        raise SystemExit(_EXIT_HARNESS_FAILED)
    try:
        server = make_server(store, host, port, idle_timeout)
    except OSError as e:
        click.echo(f"faultline serve: cannot listen on {host}:{port} ({e.strerror}); choose another --port", err=True)
        raise SystemExit(_EXIT_HARNESS_FAILED) from None
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"serving {store.resolve()} at http://{bound_host}:{bound_port}/ (Ctrl-C to stop)", err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
