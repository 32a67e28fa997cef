"""Hostile input to `faultline analyze`: histories of the wrong shape, cut, mangled or huge.

Every outcome must be a verdict on input that is a history, or exit 3 with a message naming
the file and line of the problem: never a traceback, never "checker crashed" (exit 2) or
"internal error" for bad input. The first tests pin the cases found by hand (issue 11, defect
5); the fuzz at the end mutates real and synthetic histories and counts wrong outcomes.
The CLI's `main` runs in-process, so a thousand files take seconds.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.cli import main

CORPORA = Path(__file__).parents[2] / "shared" / "corpora"


def analyze(capsys: pytest.CaptureFixture, *args: str) -> tuple[int | str, str]:
    """Run `faultline analyze ARGS` in-process: (exit code, or the exception that escaped; output)."""
    try:
        main(["analyze", *args])
        code: int | str = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 3
    except BaseException as e:  # noqa: BLE001  (a traceback is exactly what we look for)
        code = f"{type(e).__name__}: {e}"
    out = capsys.readouterr()
    return code, out.out + out.err


def jsonl(*ops: dict[str, Any]) -> str:
    return "".join(json.dumps({"index": i, "time": 10 * i, **op}) + "\n" for i, op in enumerate(ops))


def call(process: int, f: str, value: Any, outcome: str = "ok", result: Any = ...) -> list[dict[str, Any]]:
    return [{"type": "invoke", "process": process, "f": f, "value": value},
            {"type": outcome, "process": process, "f": f, "value": value if result is ... else result}]


SET_HISTORY = [*call(0, "add", 1), *call(1, "add", 2), *call(0, "read", None, result=[1, 2])]


# --- the cases of issue 11, defect 5 ---------------------------------------------------------


@pytest.mark.parametrize("value, shown", [("0123", "'0123'"), ({"a": 1}, "{'a': 1}"), ([[1], [2]], "[[1], [2]]"), (7, "7")])
def test_a_final_read_of_the_wrong_shape_is_bad_input_naming_file_and_line(tmp_path, capsys, value, shown) -> None:
    # "0123" was read as the elements 0, 1, 2, 3 (a false INVALID); a dict or a list of lists
    # made the checker crash (exit 2).
    path = tmp_path / "h.jsonl"
    path.write_text(jsonl(*call(0, "add", 1), *call(0, "read", None, result=value)))
    code, out = analyze(capsys, "--checker", "set", str(path))
    assert code == 3, out
    assert f"checker set: {path}:4: op 3: a read's value must be a list of elements" in out and shown in out


def test_a_reversed_history_is_bad_input_naming_its_first_line(tmp_path, capsys) -> None:
    path = tmp_path / "reversed.jsonl"
    path.write_text("".join(reversed(jsonl(*SET_HISTORY).splitlines(keepends=True))))
    code, out = analyze(capsys, "--checker", "set", str(path))
    assert code == 3 and f"{path}:1: a completion (ok) of process 0 with no open invocation" in out, out


def test_a_missing_index_names_its_line(tmp_path, capsys) -> None:
    lines = jsonl(*SET_HISTORY).splitlines(keepends=True)
    lines[2] = re.sub(r'"index": 2, ', "", lines[2])
    path = tmp_path / "h.jsonl"
    path.write_text("".join(lines))
    code, out = analyze(capsys, "--checker", "set", str(path))
    assert code == 3 and f"{path}:3: this op has no index though the ops before it have one" in out, out


def test_an_empty_file_is_an_empty_history_not_unknown(tmp_path, capsys) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    code, out = analyze(capsys, "--checker", "set", str(path))
    assert code == 3 and f"{path}: empty history" in out, out


@pytest.mark.parametrize("fmt", ["jsonl", "edn"])
def test_a_huge_integer_or_deep_nesting_names_file_and_line(tmp_path, capsys, fmt) -> None:
    for name, value, words in (("huge", "1" * 5000, "number too long"),
                               ("deep", "[" * 100_000 + "]" * 100_000, "nested too deep")):
        path = tmp_path / f"{name}.{fmt}"
        first = '{"type": "invoke", "process": 0, "f": "add", "value": 1}' if fmt == "jsonl" else "{:type :invoke :process 0 :f :add :value 1}"
        second = (f'{{"type": "ok", "process": 0, "f": "add", "value": {value}}}' if fmt == "jsonl"
                  else f"{{:type :ok :process 0 :f :add :value {value}}}")
        path.write_text(f"{first}\n{second}\n")
        code, out = analyze(capsys, "--checker", "set", str(path))
        assert code == 3 and f"{path}:2: " in out and words in out and "internal error" not in out, out


def test_a_json_array_and_a_byte_order_mark_are_read(tmp_path, capsys) -> None:
    ops = [json.loads(line) for line in jsonl(*SET_HISTORY).splitlines()]
    array = tmp_path / "array.json"
    array.write_text(json.dumps(ops, indent=1))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + jsonl(*SET_HISTORY).encode())
    for path in (array, bom):
        code, out = analyze(capsys, "--checker", "set", str(path))
        assert code == 0 and "valid" in out, out


def test_a_bad_op_in_a_json_array_names_its_line(tmp_path, capsys) -> None:
    ops = [json.loads(line) for line in jsonl(*SET_HISTORY).splitlines()]
    ops[3]["type"] = "done"
    path = tmp_path / "array.json"
    path.write_text("[\n" + ",\n".join(json.dumps(op) for op in ops) + "\n]\n")
    code, out = analyze(capsys, "--checker", "set", str(path))
    assert code == 3 and f"{path}:5: op type must be one of" in out, out


def test_a_journal_cut_mid_line_is_judged_on_the_ops_before_the_cut(tmp_path, capsys) -> None:
    text = jsonl(*SET_HISTORY, *call(2, "add", 3, outcome="info"))
    path = tmp_path / "history.jsonl"
    path.write_text(text[: len(text) - 25])  # a full disk cut the last op mid-line
    code, out = analyze(capsys, "--checker", "set", str(path))
    assert code == 0 and "valid" in out, out


def test_a_register_read_that_is_not_a_key_value_pair_names_its_line(tmp_path, capsys) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(jsonl(*call(0, "write", ["x", 1]), *call(1, "read", ["x", None], result=5)))
    code, out = analyze(capsys, "--checker", "stale-reads", str(path))
    assert code == 3 and f"checker stale-reads: {path}:4: op 3: a read of key 'x' must complete with [key, value]" in out, out


# --- the fuzz --------------------------------------------------------------------------------


def _set_history(rng: random.Random) -> list[dict[str, Any]]:
    ops, element = [], 0
    for _ in range(rng.randrange(4, 16)):
        process = rng.randrange(4)
        ops += call(process, "add", element, outcome=rng.choice(["ok", "ok", "ok", "fail", "info"]))
        element += 1
    # the info ones' processes went on issuing ops here; give each final read its own process
    for p in range(2):
        ops += call(10 + p, "read", None, result=sorted(rng.sample(range(element + 1), k=rng.randrange(element + 1))))
    return ops


def _register_history(rng: random.Random) -> list[dict[str, Any]]:
    ops, written = [], 0
    for _ in range(rng.randrange(4, 16)):
        process, key = rng.randrange(4) + 100 * len(ops), rng.randrange(2)
        if rng.random() < 0.5:
            written += 1
            ops += call(process, "write", [key, written], outcome=rng.choice(["ok", "ok", "info", "fail"]))
        else:
            ops += call(process, "read", [key, None], result=[key, rng.choice([None, written])])
    return ops


def _edn(ops: list[dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if v is None:
            return "nil"
        if isinstance(v, list):
            return "[" + " ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    keyword = {"type", "f"}
    return "".join("{" + ", ".join(f":{k} {':' + v if k in keyword else value(v)}" for k, v in op.items()) + "}\n"
                   for op in ops)


def _seeds(tmp_path: Path) -> list[tuple[str, bytes, list[str]]]:
    """(name, file content, checker arguments) for each history the fuzz starts from."""
    rng = random.Random(11)
    seeds = []
    for i in range(3):
        ops = _set_history(rng)
        text = jsonl(*ops)
        seeds.append((f"set-{i}.jsonl", text.encode(), ["--checker", "set"]))
        seeds.append((f"set-{i}.edn", _edn([json.loads(line) for line in text.splitlines()]).encode(), ["--checker", "set"]))
        ops = _register_history(rng)
        seeds.append((f"register-{i}.jsonl", jsonl(*ops).encode(),
                      ["--checker", "linearizable", "--checker", "stale-reads", "--model", "register", "--keyed"]))
    corpus = [("knossos/cas-register/bad/cas-register-bug.edn", "cas-register"),
              ("knossos/cas-register/bad/rethink-fail-minimal.edn", "cas-register"),
              ("knossos/cas-register/bad/bad-analysis.edn", "cas-register"),
              ("knossos/cas-register/good/memstress3-33.edn", "cas-register"),
              ("porcupine-kv/c01-ok.txt", "kv"), ("porcupine-kv/c01-bad.txt", "kv")]
    for name, model in corpus:
        if (CORPORA / name).is_file():
            seeds.append((Path(name).name, (CORPORA / name).read_bytes(), ["--checker", "linearizable", "--model", model]))
    return seeds


_ODD_VALUES = ['"0123"', '{"a": 1}', "[[1], [2]]", "true", "1.5", "-3", "null", "9" * 30, '"invoke"', "[]", "{}"]


def _lines(data: bytes, rng: random.Random) -> tuple[list[bytes], int]:
    lines = data.splitlines(keepends=True)
    return lines, rng.randrange(len(lines))


def _flip(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(len(data))
    return data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]


def _drop(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    return b"".join(lines[:i] + lines[i + 1:])


def _duplicate(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    return b"".join(lines[:i + 1] + lines[i:])


def _swap(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    j = rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _retype(data: bytes, rng: random.Random) -> bytes:
    """Give one field of one op a value of another type."""
    lines, i = _lines(data, rng)
    field = rng.choice(["type", "process", "time", "index", "f", "value", "node"])
    odd = rng.choice(_ODD_VALUES)
    line = lines[i].decode("utf-8", "replace")
    line = re.sub(rf'("{field}": ?)("[^"]*"|[^,}}]+)', lambda m: m.group(1) + odd, line, count=1)
    edn_odd = odd.replace('": ', '" ').replace("null", "nil").replace("true", ":true")
    line = re.sub(rf"(:{field} )(\"[^\"]*\"|[^,}}]+)", lambda m: m.group(1) + edn_odd, line, count=1)
    lines[i] = line.encode()
    return b"".join(lines)


def _huge_number(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    lines[i] = re.sub(rb"\d+", lambda m: b"7" * rng.choice([20, 400, 5000]), lines[i], count=1)
    return b"".join(lines)


def _deep(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    depth = rng.choice([99, 101, 2000, 100_000])
    lines[i] = re.sub(rb"(\"value\": ?|:value )", lambda m: m.group(1) + b"[" * depth + b"1" + b"]" * depth + b" , ",
                      lines[i], count=1).replace(b" ,  ", b" ")
    return b"".join(lines)


def _reverse(data: bytes, rng: random.Random) -> bytes:
    return b"".join(reversed(data.splitlines(keepends=True)))


def _garbage_line(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    return b"".join(lines[:i] + [rng.choice([b"}{\n", b"\x00\n", b"[1, 2]\n", b"nil\n", b'"op"\n', b"#{\n"])] + lines[i:])


def _drop_field(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    field = rng.choice([b"type", b"process", b"index", b"f", b"value", b"time"])
    lines[i] = re.sub(rb'"' + field + rb'": ?("[^"]*"|[^,}]+),? ?|:' + field + rb' ("[^"]*"|[^,}]+),? ?', b"", lines[i], count=1)
    return b"".join(lines)


# Mutations that leave the same history: the verdict must not change.
def _bom(data: bytes, rng: random.Random) -> bytes:
    return b"\xef\xbb\xbf" + data


def _crlf(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _blank_lines(data: bytes, rng: random.Random) -> bytes:
    lines, i = _lines(data, rng)
    return b"".join(lines[:i] + [b"\n", b"  \n"] + lines[i:])


def _array(data: bytes, rng: random.Random) -> bytes:
    lines = [line.strip() for line in data.splitlines() if line.strip()]
    if lines[0].startswith((b"[", b"(")):
        return data  # already one vector
    if not lines[0].startswith(b'{"'):
        return b"[" + b"\n ".join(lines) + b"]\n"  # EDN: the history as one vector
    return b"[\n" + b",\n".join(lines) + b"\n]\n"


def _no_final_newline(data: bytes, rng: random.Random) -> bytes:
    return data.rstrip(b"\n")


HOSTILE: list[Callable[[bytes, random.Random], bytes]] = [
    _flip, _flip, _drop, _duplicate, _swap, _truncate, _truncate, _retype, _retype, _retype,
    _huge_number, _deep, _reverse, _garbage_line, _drop_field]
SAME_HISTORY: list[Callable[[bytes, random.Random], bytes]] = [_bom, _crlf, _blank_lines, _array, _no_final_newline]
MUTATIONS = 1200


def _wrong(code: int | str, out: str, path: Path) -> str | None:
    """Why this outcome is wrong, or None."""
    if not isinstance(code, int):
        return f"an exception escaped: {code}"
    for words in ("Traceback", "internal error", "checker crashed"):
        if words in out:
            return f"{words!r} in the output"
    if code not in (0, 1, 2, 3):
        return f"exit {code}"
    if code == 3 and not (re.search(re.escape(str(path)) + r":\d+: ", out) or f"{path}: empty history" in out):
        return "exit 3 without the file and line"
    return None


@pytest.mark.reliability
def test_fuzz_of_the_history_reader_and_analyze(tmp_path, capsys) -> None:
    rng = random.Random(20261111)
    seeds = _seeds(tmp_path)
    verdicts = {}
    for name, data, args in seeds:  # the seeds themselves are histories: each gets a verdict
        path = tmp_path / name
        path.write_bytes(data)
        code, out = analyze(capsys, *args, "--time-limit", "30", str(path))
        assert code in (0, 1, 2) and _wrong(code, out, path) is None, out
        verdicts[name] = code
    wrong: list[str] = []
    outcomes: dict[int | str, int] = {}
    for number in range(MUTATIONS):
        name, data, args = rng.choice(seeds)
        same = rng.random() < 0.2
        mutate = rng.choice(SAME_HISTORY if same else HOSTILE)
        mutated = mutate(data, rng)
        path = tmp_path / f"m{number}-{mutate.__name__.strip('_')}-{name}"
        path.write_bytes(mutated)
        code, out = analyze(capsys, *args, "--time-limit", "30", str(path))
        outcomes[code] = outcomes.get(code, 0) + 1
        why = _wrong(code, out, path)
        if why is None and same and code != verdicts[name]:
            why = f"the same history as {name} judged exit {code}, not {verdicts[name]}"
        if why:
            wrong.append(f"{path.name}: {why}\n    {out.strip()[:400]}")
        path.unlink()
    print(f"\nmutations tried: {MUTATIONS}, wrong outcomes: {len(wrong)} (exit codes: {dict(sorted(outcomes.items(), key=str))})")
    assert not wrong, "\n".join(wrong[:20])
