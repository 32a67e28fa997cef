"""Linearizability checker: is there a total order of the operations, consistent with real time,
that a sequential model accepts?

Use: `check(history, {"model": "cas-register"})`, or `faultline analyze FILE --checker
linearizable`. Options (all optional): `model` (a name from `MODELS` or a `Model`), `failed_cas`
("absent": a failed cas did not happen, as Knossos reads it; "observed": it happened and saw a
value other than the expected one, as Porcupine's etcd model reads it), `keyed` (values are
Jepsen's `[key, value]` tuples), `time_limit` (seconds), `memory_limit` (bytes of resident
memory, shared out among workers; default a quarter of RAM), `engine` ("python" forces the pure-Python
search, "c" insists on the accelerator; `faultline analyze --engine`), `workers` (at most this many processes; default the CPU count, used only for
partitions that prove hard). Bad options or a history that does not fit them (a keyed value
that is not [key, value]) raise ValueError (`BadHistory` for the latter) with a message that
says which.

How it decides, and why:

1. **Partitions.** Keys are independent registers (P-compositionality, Horn & Kroening): a
   history is linearizable iff each key's sub-history is. Keyed histories (`keyed`, or ops with
   Porcupine's `key` field) are split by key and each part checked alone, which turns one search
   exponential in the concurrency of the whole history into many small ones. The parts are
   searched in rounds with a doubling step allowance (searches resume where they stopped), so
   an easy invalid part is found before a hard valid one is finished: the first invalid part
   decides. Parts still open after ~600,000 steps have shown they are hard; only then do worker
   processes (forked, inheriting the searches under way) take them on, because for the many
   small parts of a typical history starting processes costs more than it saves.
2. **Reads-from fast path** (`readsfrom.py`). When every write of a register puts a distinct
   value (our workloads make them so), each read names its write. For reads and writes only,
   linearizability is then an interval check (Gibbons & Korach), O(n log n), exact both ways.
   With cas, the values form chains (a cas puts its value straight after the one it expected);
   the fast path lays the chains out in Gibbons-Korach order and checks that order against real
   time and the model: if it holds, it is a linearization (a witness), so "valid" is sound; if
   not, the search decides. When the interval check finds a violation the search still runs, to
   draw the evidence. Unique values also allow leaving out crashed writes nobody observed, and,
   for any register, the search treats all values nobody observes as one state.
3. **Wing-Gong-Lowe search** (`wgl.py`), as in Knossos's `wgl` and Porcupine: linearize ops
   just in time, backtrack at a completion whose op is not placed, and never revisit a (set of
   linearized ops, model state) pair. Runs in C when the accelerator built (`_wglc.c`), in
   Python otherwise, with the same answers. The C search asks the Python model once per
   distinct (state, op) pair; the kv model, whose states are ever-new strings, is built into it.
4. **Budgets.** Past the time or memory limit the verdict is "unknown" with the reason and how
   far the search got; the process does not die of it. Memory is the resident size, watched
   as the search's cache grows.
5. **Evidence** when not linearizable: the op that could not be placed (the first completion
   reached after the longest linearization found), that longest linearizable prefix with the
   model state after each op, and a minimal failing window: a handful of operations that on
   their own are not linearizable, found by delta debugging over whole operations, and failing
   from the states the prefix passed through too (so that it keeps the writes that make a read
   stale instead of shrinking to "a read of a value nobody wrote"). The result lists them as
   one `window` item under `evidence`, which the report draws.

Writing a model takes a few lines: an initial state, a step function and a describe function,
all pure, states hashable:

    from checkers.linearizable import Model, check

    def counter_step(state, op):            # op.f, op.value, op.outcome
        if op.f == "add":
            return True, state + op.value
        if op.f == "read":
            return op.value == state, state
        return False, state

    counter = Model("counter", init=lambda: 0, step=counter_step,
                    observes_only=lambda op: op.f == "read")
    check(history, {"model": counter})

`observes_only` marks ops that cannot change the state, so indeterminate ones can be dropped.
"""

__all__ = ["check", "default_memory_limit", "BadHistory", "MODELS", "Model", "ModelOp"]

# Imported on first use (PEP 562), so that `faultline analyze`'s quick path can import the C
# reader (`.journal`) without the checker, its models and the history module (a third of its
# start-up on a small history).
_WHERE = {"check": ".checker", "default_memory_limit": ".checker", "MODELS": ".models", "Model": ".models",
          "ModelOp": ".models", "BadHistory": ".prepare"}


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
