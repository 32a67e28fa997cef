"""How fast the linearizability checker answers, and how much memory it takes.

    .venv/bin/python benchmarks/linearizability.py [--engine c|python] [--ops 100000]
    .venv/bin/python benchmarks/linearizability.py --porcupine PATH [--sizes 10000,100000] [--processes 5,20,50]

The second form is the side-by-side mode: it builds Porcupine (Go) from the checkout at PATH
with a small main package this script writes (no module proxy needed: Porcupine uses only the
standard library), and runs both tools as whole processes, `faultline analyze` and the Go
binary, on the same generated keyed register histories (1000 keys), three times each,
alternating, and prints the median wall time, the peak resident size (the largest process of
each tree, from wait4, measured from a bare interpreter: see timed_run) and both verdicts. Needs `go` on PATH (`apt-get install golang-go`).

Prints, per file of the shared corpora and for a generated keyed register history: the time to
read the file, the time to check it (wall clock and CPU of this process and its workers), the
verdict, and at the end the peak resident size of this process and of any worker. Targets (issue
3): porcupine-kv c50-ok.txt under 140 ms, the knossos cas-register corpus under 10 s, the
generated 100,000-op history under 10 s, nothing above 2 GB resident. Also shown: the same
number of ops on one register, one long partition.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.history import Op

from harness.history_reader import read_history
from checkers.linearizable import check  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
if not CORPORA.is_dir():
    CORPORA = Path("/work/shared/corpora")


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(path: Path, options: dict) -> dict:
    t0, c0 = time.perf_counter(), cpu()
    history = read_history(path)
    t1, c1 = time.perf_counter(), cpu()
    result = check(history, options)
    t2, c2 = time.perf_counter(), cpu()
    return {"read_ms": (t1 - t0) * 1e3, "check_ms": (t2 - t1) * 1e3, "check_cpu_ms": (c2 - c1) * 1e3,
            "read_cpu_ms": (c1 - c0) * 1e3, "valid": result["valid"], "algorithm": result["algorithm"]}


def row(name: str, m: dict) -> str:
    return (f"  {name:44s} read {m['read_ms']:8.1f} ms  check {m['check_ms']:8.1f} ms "
            f"(cpu {m['check_cpu_ms']:8.1f})  total {m['read_ms'] + m['check_ms']:8.1f} ms  "
            f"{str(m['valid']):7s} {m['algorithm']}")


def corpus(title: str, files: list[Path], options: dict) -> None:
    print(title)
    totals = {"read_ms": 0.0, "check_ms": 0.0, "check_cpu_ms": 0.0, "read_cpu_ms": 0.0}
    for path in files:
        m = measure(path, options)
        for k in totals:
            totals[k] += m[k]
        print(row(path.name, m))
    print(f"  {'TOTAL (' + str(len(files)) + ' files)':44s} read {totals['read_ms']:8.1f} ms  check "
          f"{totals['check_ms']:8.1f} ms (cpu {totals['check_cpu_ms']:8.1f})  total "
          f"{totals['read_ms'] + totals['check_ms']:8.1f} ms")


def generated_register(n_ops: int, n_keys: int, n_procs: int, seed: int = 1) -> list[Op]:
    """A keyed read/write/cas history, linearizable by construction: each op takes effect at a
    random moment while it is in flight. Keys are used a few at a time (a sliding window), values
    are unique per key, about 1% of ops crash (info) and some cas fail."""
    rng = random.Random(seed)
    per_key = n_ops // n_keys
    window = min(10, n_keys)
    next_key, active = window, list(range(window))
    used = {k: 0 for k in range(n_keys)}
    value = {k: None for k in range(n_keys)}
    counter = {k: 0 for k in range(n_keys)}
    ops: list[Op] = []
    idle = list(range(n_procs))
    next_process = n_procs
    inflight: dict[int, dict] = {}
    started = 0
    while started < n_ops or inflight:
        if idle and started < n_ops and active and (not inflight or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            key = rng.choice(active)
            used[key] += 1
            if used[key] >= per_key:
                active.remove(key)
                if next_key < n_keys:
                    active.append(next_key)
                    next_key += 1
            f = rng.choice(("read", "write", "cas"))
            if f == "write":
                counter[key] += 1
                v = counter[key]
            elif f == "cas":
                counter[key] += 1
                v = [value[key] if rng.random() < 0.7 else rng.randint(1, counter[key]), counter[key]]
            else:
                v = None
            inflight[p] = {"key": key, "f": f, "v": v, "done": False}
            ops.append(Op("invoke", f, [key, v], p, time=len(ops)))
            started += 1
            continue
        p = rng.choice(list(inflight))
        rec = inflight[p]
        if not rec["done"]:
            key, f, v = rec["key"], rec["f"], rec["v"]
            if f == "read":
                rec["out"], rec["type"] = value[key], "ok"
            elif f == "write":
                value[key], rec["out"], rec["type"] = v, v, "ok"
            elif value[key] == v[0]:
                value[key], rec["out"], rec["type"] = v[1], v, "ok"
            else:
                rec["out"], rec["type"] = v, "fail"
            rec["done"] = True
            if rng.random() < 0.5:
                continue
        del inflight[p]
        if rng.random() < 0.01:
            ops.append(Op("info", rec["f"], [rec["key"], rec["v"]], p, time=len(ops)))
            idle.append(next_process)
            next_process += 1
        else:
            ops.append(Op(rec["type"], rec["f"], [rec["key"], rec["out"]], p, time=len(ops)))
            idle.append(p)
    return ops


# The Go side of the side-by-side mode: reads the same JSON Lines journal, pairs each
# invocation with its process's next completion, drops failed ops and crashed reads (as the
# linearizable checker does with failed_cas "absent"), gives crashed writes and cas a return
# after the end of the history, and checks a cas-register per key with Porcupine.
GO_MAIN = """package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

const none = int64(-1 << 62)

type line struct {
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Process json.RawMessage `json:"process"`
	Value   []interface{}   `json:"value"`
}

type input struct {
	f       string
	key     int64
	a, b    int64
	unknown bool
}

func number(v interface{}) int64 {
	if f, ok := v.(float64); ok {
		return int64(f)
	}
	return none
}

func main() {
	timeout, _ := strconv.ParseFloat(os.Args[2], 64)
	file, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	var ops []porcupine.Operation
	open := map[string]int{}
	pos := int64(0)
	var crashed []int
	for scanner.Scan() {
		var l line
		if err := json.Unmarshal(scanner.Bytes(), &l); err != nil {
			panic(err)
		}
		pos++
		p := string(l.Process)
		if len(p) == 0 || p[0] == '"' {
			continue
		}
		if l.Type == "invoke" {
			in := input{f: l.F, key: number(l.Value[0]), a: none, b: none}
			if l.F == "write" {
				in.a = number(l.Value[1])
			} else if l.F == "cas" {
				pair := l.Value[1].([]interface{})
				in.a, in.b = number(pair[0]), number(pair[1])
			}
			ops = append(ops, porcupine.Operation{Input: in, Call: pos})
			open[p] = len(ops) - 1
			continue
		}
		i, ok := open[p]
		if !ok {
			continue
		}
		delete(open, p)
		switch l.Type {
		case "ok":
			ops[i].Return = pos
			if l.F == "read" {
				ops[i].Output = number(l.Value[1])
			}
		case "fail":
			ops[i].Return = -1
		default:
			crashed = append(crashed, i)
		}
	}
	for _, i := range open {
		crashed = append(crashed, i)
	}
	for _, i := range crashed {
		ops[i].Return = -2
	}
	end := pos + 1
	kept := ops[:0]
	for _, op := range ops {
		in := op.Input.(input)
		if op.Return == -1 {
			continue
		}
		if op.Return == -2 {
			if in.f == "read" {
				continue
			}
			in.unknown = true
			op.Input = in
			op.Return = end
			end++
		}
		kept = append(kept, op)
	}
	model := porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			index := map[int64]int{}
			var parts [][]porcupine.Operation
			for _, op := range history {
				k := op.Input.(input).key
				j, ok := index[k]
				if !ok {
					j = len(parts)
					index[k] = j
					parts = append(parts, nil)
				}
				parts[j] = append(parts[j], op)
			}
			return parts
		},
		Init: func() interface{} { return none },
		Step: func(state, in, out interface{}) (bool, interface{}) {
			s, op := state.(int64), in.(input)
			switch op.f {
			case "read":
				return out.(int64) == s, s
			case "write":
				return true, op.a
			default:
				if s == op.a {
					return true, op.b
				}
				return op.unknown, s
			}
		},
	}
	switch porcupine.CheckOperationsTimeout(model, kept, time.Duration(timeout*float64(time.Second))) {
	case porcupine.Ok:
		fmt.Println("valid")
	case porcupine.Illegal:
		fmt.Println("invalid")
	default:
		fmt.Println("unknown")
	}
}
"""


def build_porcupine(checkout: Path, workdir: Path) -> Path:
    """The Go binary of GO_MAIN against the Porcupine checkout at `checkout`."""
    if shutil.which("go") is None:
        sys.exit("side-by-side mode needs Go on PATH (apt-get install golang-go)")
    if not (checkout / "go.mod").is_file():
        sys.exit(f"--porcupine {checkout}: no go.mod there; give the path of a Porcupine checkout")
    (workdir / "main.go").write_text(GO_MAIN)
    (workdir / "go.mod").write_text("module sidebyside\n\ngo 1.16\n\nrequire github.com/anishathalye/porcupine v0.0.0\n"
                                    f"replace github.com/anishathalye/porcupine => {checkout.resolve()}\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(workdir / "cache")}
    subprocess.run(["go", "build", "-o", "porcupine-check", "."], cwd=workdir, env=env, check=True)
    return workdir / "porcupine-check"


def build_porcupine_tests(checkout: Path, workdir: Path) -> Path:
    """Porcupine's own test binary (its kv tests read test_data/kv/ from the checkout)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(workdir / "cache")}
    subprocess.run(["go", "test", "-c", "-o", str(workdir / "porcupine.test"), "."], cwd=checkout, env=env, check=True)
    return workdir / "porcupine.test"


# Runs one command and measures it from a small process. Why not from here: Linux counts the
# resident size a process had just before exec in the ru_maxrss that wait4 reports for it, and a
# child forked from this benchmark (hundreds of MB once it has generated a 1M-op history) starts
# with a copy of that size, so both tools would be charged this process's memory. Forked from a
# bare interpreter (python -S, about 8 MB, less than either tool's own peak) the figure is the
# tool's own. The wall time is taken there too, around fork and wait4 alone.
_MEASURE = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
os.write(2, f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


def timed_run(command: list[str], cwd: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak resident bytes (the largest process of the tree) and the first word printed."""
    process = subprocess.Popen([sys.executable, "-S", "-c", _MEASURE, *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=cwd)
    try:
        out, measured = process.communicate()
    except BaseException:  # stopped (SIGTERM, Ctrl-C): the tool under test goes too
        process.kill()
        raise
    try:
        seconds_text, peak_kib, _ = measured.decode().split()
    except ValueError:
        sys.exit(f"could not measure {command}: {measured.decode(errors='replace')}")
    words = out.decode(errors="replace").split()
    word = words[0] if words else "?"
    if len(words) > 1 and words[0].endswith(":"):
        word = words[1]  # faultline prints "path: verdict (...)"
    return float(seconds_text), int(peak_kib) * 1024, word.lower()


def compare(name: str, ours: list[str], theirs: list[str], repeat: int, their_cwd: Path | None = None) -> None:
    """Both commands `repeat` times, alternating; one line of medians and verdicts."""
    runs: dict[str, list] = {"f": [], "p": []}
    for _ in range(repeat):
        runs["f"].append(timed_run(ours))
        runs["p"].append(timed_run(theirs, their_cwd))
    f_time, p_time = (statistics.median(r[0] for r in runs[k]) for k in "fp")
    f_mem, p_mem = (statistics.median(r[1] for r in runs[k]) for k in "fp")
    verdicts = sorted({r[2] for r in runs["f"]}) + ["/"] + sorted({r[2] for r in runs["p"]})
    load = os.getloadavg()[0]  # the machine is shared: each figure with the load it was taken under
    print(f"{name:32s} {f_time:8.3f} s {f_mem / 2**20:7.1f} MiB "
          f"{p_time:8.3f} s {p_mem / 2**20:7.1f} MiB  {f_time / p_time:5.2f} {f_mem / p_mem:5.2f}  "
          f"{' '.join(verdicts):18s} load {load:.2f}", flush=True)


def side_by_side(checkout: Path, sizes: list[int], processes: list[int], repeat: int, time_limit: float) -> None:
    # A SIGTERM (a timeout, say) ends it as an exception would, so the temporary folder of
    # histories (over 150 MB at 1M ops) is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    faultline = str(Path(sys.executable).with_name("faultline"))
    # An installed faultline has its bytecode; a checkout run with PYTHONDONTWRITEBYTECODE set
    # (as on the shared machine) would compile every module on every run, which is not what a
    # user's start-up costs. Writing the bytecode once makes the two alike.
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(root / package) for package in
                    ("harness", "checkers", "workloads", "nemeses", "systems_under_test"))],
                   check=True, stdout=subprocess.DEVNULL)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"{'history':32s} {'faultline':>22s} {'porcupine':>22s}  time  memory  verdicts (f / p)")
    with tempfile.TemporaryDirectory() as tmp:
        binary = build_porcupine(checkout, Path(tmp))
        for n in sizes:
            for procs in processes:
                path = Path(tmp) / f"register-{n}-{procs}.jsonl"
                with open(path, "w") as f:
                    for op in generated_register(n, 1000, procs):
                        f.write(json.dumps(op.to_dict()) + "\n")
                ours = [faultline, "analyze", str(path), "--checker", "linearizable", "--model", "cas-register",
                        "--keyed", "--time-limit", str(time_limit)]
                theirs = [str(binary), str(path), str(time_limit)]
                compare(f"{n} ops, 1000 keys, {procs} procs", ours, theirs, repeat)
                path.unlink()  # 170 MB at 1M ops: one file at a time
        kv_log = checkout / "test_data" / "kv" / "c50-ok.txt"
        if kv_log.is_file():
            # Porcupine's kv test on its own 50-client log, whole process, against faultline on
            # the same file (the lean kv path, checkers/linearizable/kv_log.py).
            tests = build_porcupine_tests(checkout, Path(tmp))
            ours = [faultline, "analyze", str(kv_log), "--checker", "linearizable", "--model", "kv"]
            theirs = [str(tests), "-test.run", "^TestKv50ClientsOk$"]
            compare("kv c50-ok.txt (TestKv50ClientsOk)", ours, theirs, repeat, checkout)
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="auto", choices=["auto", "c", "python"])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--porcupine", type=Path, default=None, help="a Porcupine checkout: side-by-side mode")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="side-by-side: history sizes in ops")
    parser.add_argument("--processes", default="5,20,50", help="side-by-side: client processes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="side-by-side: runs of each tool per size")
    parser.add_argument("--time-limit", type=float, default=300.0, help="side-by-side: seconds each tool may search")
    args = parser.parse_args()
    if args.porcupine is not None:
        side_by_side(args.porcupine, [int(n) for n in args.sizes.split(",") if n],
                     [int(p) for p in args.processes.split(",") if p], args.repeat,
                     args.time_limit)
        return
    engine = {"auto": "auto", "c": "auto", "python": "python"}[args.engine]

    knossos = CORPORA / "knossos"
    corpus("porcupine-kv (model kv)", sorted((CORPORA / "porcupine-kv").glob("*.txt")),
           {"model": "kv", "engine": engine})
    corpus("knossos cas-register (model cas-register)",
           sorted((knossos / "cas-register").glob("*/*.edn")), {"model": "cas-register", "engine": engine})
    corpus("knossos mutex", sorted((knossos / "mutex").glob("*/*.edn")), {"model": "mutex", "engine": engine})

    print(f"generated register history: {args.ops} ops over 1000 keys, 20 processes")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "register.jsonl"
        history = generated_register(args.ops, 1000, 20)
        with open(path, "w") as f:
            for op in history:
                f.write(json.dumps(op.to_dict()) + "\n")
        m = measure(path, {"model": "cas-register", "keyed": True, "engine": engine})
        print(row(f"register-{args.ops}.jsonl ({len(history)} events)", m))

    print(f"the same ops on one register (not keyed): one long partition")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-register.jsonl"
        with open(path, "w") as f:
            for op in generated_register(args.ops, 1, 20):
                f.write(json.dumps({**op.to_dict(), "value": op.value[1]}) + "\n")
        m = measure(path, {"model": "cas-register", "engine": engine, "time_limit": 60})
        print(row(f"one-register-{args.ops}.jsonl", m))

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident: this process {own:.0f} MiB, largest worker {kids:.0f} MiB")


if __name__ == "__main__":
    main()
