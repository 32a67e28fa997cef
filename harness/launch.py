"""The `faultline` command's entry point: a quick path for the commonest re-check, then the
full command line (harness/cli.py).

`faultline analyze FILE --checker linearizable --keyed ...` of a keyed register journal is
answered by the C reader in milliseconds; importing click and the harness to get there took
longer than the check (about 50 ms of a 10k-op history's 70). The same holds, less starkly, for
Porcupine's kv logs (`--model kv`, checkers/linearizable/kv_log.py). So this module, which imports
only the standard library's `os`, `sys` and `time`, looks at the arguments first. When they are
that command in a form it reads exactly as click would (one plain history file, only the options
below, each once), it asks the C reader (checkers/linearizable/journal.py) and, if the history
is linearizable, prints the line `faultline analyze` prints and exits 0. Anything else, any
other answer and every error goes to the full command line with the arguments untouched, which
then decides as it always has: so an invalid or unusual history costs one quick pass more,
never another verdict or message. tests/test_cli.py holds the two paths' output equal.
"""

from __future__ import annotations

import os
import sys
import time

# No `typing` here (2 ms of imports): the hints below need only builtins.

# option -> the checker option it sets; each may be given once, as `--opt value` or `--opt=value`
_VALUED = {"--checker": "checker", "--model": "model", "--time-limit": "time_limit",
           "--memory-limit": "memory_limit", "--engine": "engine", "--failed-cas": "failed_cas"}
_FLAGS = {"--keyed": "keyed"}


def main() -> None:
    """`faultline`: the quick path when it applies, else the full command line."""
    code = quick_analyze(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from harness.cli import main as full
    full()


def quick_analyze(argv: list[str]) -> int | None:
    """The exit code when `argv` is an `analyze` the quick path answered (it printed the verdict
    line); None to leave everything to the full command line."""
    started = time.monotonic()  # where harness.cli._analyze_one starts its clock
    given = _parse(argv)
    if given is None:
        return None
    path, options = given
    if not _plain_file(path):
        return None
    from harness.builtin_checkers import outside_claims
    if outside_claims("linearizable"):
        return None  # the full command line names the clash
    if options.get("model") == "kv":
        # Porcupine's kv logs: the lean kv path (checkers/linearizable/kv_log.py) through the
        # checker's own from_file hook, with the options the full command line would give it.
        from checkers.linearizable.checker import check_file
        try:
            answer = check_file(path, options)
        except Exception:
            return None  # bad options and the like: the full command line says what
    else:
        from checkers.linearizable import journal
        answer = journal.check(path, options.get("model", "cas-register"), options.get("failed_cas", "absent"),
                               options.get("time_limit"), options.get("memory_limit"))
    if not isinstance(answer, tuple):
        return None
    # harness.cli._print_file_verdict's line for a valid bare file; judge._from_file's reason
    sys.stdout.write(f"{path}: valid ({time.monotonic() - started:.3f} s) every checker passed\n")
    sys.stdout.flush()
    return 0


def _parse(argv: list[str]) -> tuple[str, dict] | None:
    if len(argv) < 2 or argv[0] != "analyze":
        return None
    path, options = None, {}
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if not arg.startswith("-"):
            if path is not None:
                return None  # several files: the full command line
            path = arg
            continue
        name, has_value, value = arg.partition("=")
        if name in _FLAGS and not has_value and _FLAGS[name] not in options:
            options[_FLAGS[name]] = True
            continue
        if name not in _VALUED or _VALUED[name] in options:
            return None  # --json, --out, --initial, --debug, -h, a repeated option, ...
        if not has_value:
            if not args:
                return None
            value = args.pop(0)
        options[_VALUED[name]] = value
    if path is None or options.pop("checker", None) != "linearizable":
        return None
    keyed = options.pop("keyed", False)
    if options.get("model") == "kv":
        if keyed or options.get("engine", "c") not in ("c", "python"):
            return None  # the kv model is not keyed: a key is a field of its ops
    elif not keyed or options.get("model", "cas-register") not in ("cas-register", "register"):
        return None
    elif options.get("engine", "c") != "c":
        return None
    if options.get("failed_cas", "absent") not in ("absent", "observed"):
        return None
    if "time_limit" in options:
        limit = options["time_limit"]
        if not all(c.isdigit() or c == "." for c in limit) or limit.count(".") > 1 or limit.strip(".") == "":
            return None  # what click's float would read otherwise ("inf", "1e3", "-1") is for it to judge
        options["time_limit"] = float(limit)
    if "memory_limit" in options:
        if not (options["memory_limit"].isascii() and options["memory_limit"].isdigit()):
            return None
        options["memory_limit"] = int(options["memory_limit"])
    return path, options


def _plain_file(path: str) -> bool:
    """A regular file named as click's Path would print it (no empty or "." parts, no trailing
    slash), with no results.json beside it (whose run facts the full path would carry over)."""
    if path.endswith("/") or "//" in path or any(part == "." for part in path.split("/")):
        return False
    if not os.path.isfile(path):
        return False
    return not os.path.exists(os.path.join(os.path.dirname(path) or ".", "results.json"))
