"""`faultline new-system NAME`: a plug-in package skeleton that passes its own tests.

A newcomer should not have to read faultline's source to plug in a system. The skeleton is a
complete outside package, registered through its own entry point exactly as a real plug-in is:
a toy key-value server (the part the author replaces with their system), the `System` that
starts it and says when a node is ready, the register workload's `Client`, and tests that run
a 3-node cluster on the loopback runtime, without root, including one short `faultline test`
under kills. Each file's docstring says what to change.

The templates are plain text in `plugin_templates` and `server_template`, filled in with
`string.Template` (`$name`, `$pkg`, `$system_class`, `$client_class`, `$port`), so they read
like the files they become.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

import click

from harness import plugins
from harness.scaffold.plugin_templates import CLIENT, INIT, PYPROJECT, README, SYSTEM, TEST
from harness.scaffold.server_template import SERVER
from harness.seams import HarnessError

NAME_RULE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
PORT = 7300  # the skeleton server's port; every node has an address of its own, so one port serves all

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "$pkg/__init__.py": INIT,
    "$pkg/server.py": SERVER,
    "$pkg/client.py": CLIENT,
    "$pkg/system.py": SYSTEM,
    "tests/test_$pkg.py": TEST,
}


def names_for(name: str) -> dict[str, str]:
    """What the templates are filled with: `my-db` -> package `faultline_my_db`, classes
    `MyDbSystem` and `MyDbClient`."""
    camel = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    return {
        "name": name,
        "pkg": "faultline_" + name.replace("-", "_"),
        "system_class": f"{camel}System",
        "client_class": f"{camel}Client",
        "port": str(PORT),
    }


def write_skeleton(name: str, target: Path) -> list[Path]:
    """Write the plug-in package for system `name` into `target/name/`; returns the files
    written. Refuses a bad name, a name an installed package already registers, and a
    non-empty folder (nothing is overwritten)."""
    if not NAME_RULE.fullmatch(name):
        raise HarnessError(f"invalid system name {name!r}: use lower-case letters and digits, starting with a letter, "
                           "with single - or _ between words (e.g. mydb, my-db)")
    if name in plugins.names("system"):
        raise HarnessError(f"a system named {name!r} is already installed; pick another name")
    root = Path(target) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise HarnessError(f"{root} already exists and is not empty; pick another name or --dir")
    values = names_for(name)
    written = []
    for relative, template in FILES.items():
        path = root / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
        written.append(path)
    return written


@click.command("new-system")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to make the package's folder NAME/.")
def new_system_command(name: str, directory: Path) -> None:
    """Write a plug-in package for a new system NAME: pyproject with the entry point, System,
    Client, a toy server to replace, and tests on the loopback runtime that pass as written."""
    written = write_skeleton(name, directory)
    root = Path(directory) / name
    click.echo(f"wrote {root}/:")
    for path in written:
        click.echo(f"  {path.relative_to(root)}")
    click.echo("next:")
    click.echo(f"  pip install -e {root}")
    click.echo(f"  pytest {root}")
    click.echo(f"  faultline test --runtime loopback --system {name} --workload register --nemesis kill")
    click.echo(f"then follow {root / 'README.md'}: start your own server in system.py, speak its protocol in client.py")
