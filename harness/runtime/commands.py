"""`faultline docker up|down` and `faultline ssh-lab up N|down`: what the docker and ssh runtimes
need on one machine, started and stopped by hand (and by the test suite)."""

from __future__ import annotations

import click


@click.group("docker")
def docker_group() -> None:
    """A private Docker engine for `--runtime docker` (no registry, host firewall untouched)."""


@docker_group.command("up")
@click.option("--build", is_flag=True, help="Also build the node image now (cached by its inputs).")
def docker_up(build: bool) -> None:
    from harness.runtime import dockerd

    click.echo(f"dockerd answers at {dockerd.up()}")
    if build:
        click.echo(f"node image {dockerd.ensure_image(dockerd.client())}")


@docker_group.command("down")
def docker_down() -> None:
    from harness.runtime import dockerd

    click.echo("dockerd stopped" if dockerd.down() else "no faultline dockerd was running")


@click.group("ssh-lab")
def ssh_lab_group() -> None:
    """SSH hosts on this machine (one sshd per network namespace) for `--runtime ssh`."""


@ssh_lab_group.command("up")
@click.argument("count", type=click.IntRange(1, 50))
def ssh_lab_up(count: int) -> None:
    """Start COUNT hosts and print the hosts file (give it to `faultline test --runtime ssh --hosts`)."""
    from harness.runtime import ssh_lab

    click.echo(str(ssh_lab.up(count)))


@ssh_lab_group.command("down")
@click.option("--prefix", default=None, help="Only this lab; default: every lab.")
def ssh_lab_down(prefix: str | None) -> None:
    from harness.runtime import ssh_lab

    removed = ssh_lab.down(prefix)
    for line in removed:
        click.echo(f"removed {line}")
    click.echo(f"{len(removed)} removed" if removed else "no ssh lab was running")
