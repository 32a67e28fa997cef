"""Differential test of checkers/txn against a brute-force search over every order.

Thousands of small seeded histories (2-5 transactions, 2-3 keys, 1-3 micro-ops) come from
simulated stores (serial, snapshot isolation with and without first-committer-wins), half of
them damaged by one injected anomaly (an aborted writer, an info outcome, a stale or future
read, swapped or missing versions, duplicates, garbage, redrawn windows); see tests/txn_oracle.py.

- list-append: version orders are fully recovered from the reads, so the verdicts must agree
  both ways: the checker rules a model out if and only if no order explains the history.
- rw-register: the checker infers only part of each version order, so it is sound but not
  complete: whenever it rules a model out, no order may explain the history (the other
  direction, an unexplainable history the checker passes, is allowed and counted).
"""

from __future__ import annotations

import json
import random

import pytest

from checkers.txn import check_list_append, check_rw_register
import txn_oracle as oracle

# model -> (which search, which precedence)
MODELS = {
    "serializable": ("serial", None),
    "strict-serializable": ("serial", "realtime"),
    "strong-session-serializable": ("serial", "process"),
    "snapshot-isolation": ("si", None),
    "strong-snapshot-isolation": ("si", "realtime"),
    "strong-session-snapshot-isolation": ("si", "process"),
}


def generated(seed: int, workload: str) -> tuple[list, str]:
    rng = random.Random(seed)
    n = rng.randint(2, 5)
    programs = oracle.random_programs(rng, workload, n, rng.randint(2, 3), 3)
    store = rng.choice(["serial-strict", "serial", "si", "si-no-fcw"])
    if store.startswith("serial"):
        txns = oracle.serial_store(rng, workload, programs, strict=store == "serial-strict")
    else:
        txns = oracle.si_store(rng, workload, programs, first_committer_wins=store == "si")
    what = store
    if rng.random() < 0.5:
        what += "+" + oracle.inject(rng, workload, txns)
    oracle.assign_processes(rng, txns)
    return oracle.to_history(txns), what


def explained(workload: str, history: list, assume: str | None = None) -> dict[str, bool]:
    """model -> does some order explain the history under it (and under `assume`, a
    precedence every order must respect too: key-realtime or key-process)."""
    j = oracle.judged(history)
    out = {}
    extra = oracle.precedence(j, assume) if assume else set()
    for model, (search, kind) in MODELS.items():
        before = (oracle.precedence(j, kind) if kind else set()) | extra
        find = oracle.serial_order_exists if search == "serial" else oracle.si_order_exists
        out[model] = find(workload, j, before)
    return out


def ruled_out(result: dict) -> set[str]:
    assert result["valid"] != "unknown", result
    return set(result["not"]) | set(result["also-not"])


def _show(history: list) -> str:
    return "\n".join(json.dumps({"type": op.type, "value": op.value, "process": op.process, "index": op.index})
                     for op in history)


def fully_recovered(history: list) -> bool:
    """Every key's version order is known from the reads: of the committed (ok) txns, at most one
    has appends to the key that no ok read shows (it can only come last). With two, their order
    is unknown (Elle's inference, and ours, leave them unordered), and a cycle closed by either
    order goes unseen. Unseen appends of info txns do not count: leaving such a txn out is
    always possible and never harder."""
    j = oracle.judged(history)
    seen: dict = {}
    for i, o in enumerate(j.outcome):
        if o == "ok":
            for f, k, v in j.mops[i]:
                if f == "r":
                    seen.setdefault(k, set()).update(v or [])
    hidden: dict = {}
    for i, o in enumerate(j.outcome):
        if o == "ok":
            for f, k, v in j.mops[i]:
                if f == "append" and v not in seen.get(k, ()):
                    hidden.setdefault(k, set()).add(i)
    return all(len(ts) <= 1 for ts in hidden.values())


def _differ_list_append(seeds: range) -> dict[str, int]:
    counts = {"histories": 0, "some model ruled out": 0, "fully recovered": 0}
    for seed in seeds:
        history, what = generated(seed, "list-append")
        truth = explained("list-append", history)
        result = check_list_append(history, {"model": list(MODELS)})
        out = ruled_out(result)
        counts["histories"] += 1
        counts["some model ruled out"] += bool(out & set(MODELS))
        complete = fully_recovered(history)
        counts["fully recovered"] += complete
        for model in MODELS:
            if not complete:  # sound, not complete: a model ruled out must have no order
                assert model not in out or not truth[model], (
                    f"seed {seed} ({what}): {model} ruled out by the checker ({result['anomaly-types']}) "
                    f"but brute force found an order\n{_show(history)}")
                continue
            assert (model in out) == (not truth[model]), (
                f"seed {seed} ({what}): {model}: checker says {'ruled out' if model in out else 'holds'}, "
                f"brute force {'found an order' if truth[model] else 'found no order'}; "
                f"checker anomalies {result['anomaly-types']}\n{_show(history)}")
    # the generator must exercise both verdicts, and mostly recoverable orders, or the
    # agreement says little
    assert 0.2 < counts["some model ruled out"] / counts["histories"] < 0.9, counts
    assert counts["fully recovered"] > 0.6 * counts["histories"], counts
    return counts


ASSUMES = {"linearizable-keys": "key-realtime", "sequential-keys": "key-process"}


def _differ_rw_register(seeds: range, options: dict) -> dict[str, int]:
    missed = 0
    assume = next((ASSUMES[o] for o in options if o in ASSUMES), None)
    for seed in seeds:
        history, what = generated(seed, "rw-register")
        truth = explained("rw-register", history, assume)
        result = check_rw_register(history, {"model": list(MODELS), **options})
        out = ruled_out(result)
        for model in MODELS:
            if model in out:
                assert not truth[model], (
                    f"seed {seed} ({what}): {model} ruled out by the checker ({result['anomaly-types']}) "
                    f"but brute force found an order\n{_show(history)}")
            elif not truth[model]:
                missed += 1
    return {"missed": missed}


def test_list_append_verdicts_agree_with_brute_force() -> None:
    _differ_list_append(range(1500))


@pytest.mark.parametrize("options", [{}, {"writes-follow-reads": True}, {"linearizable-keys": True},
                                     {"sequential-keys": True, "writes-follow-reads": True}],
                         ids=["plain", "writes-follow-reads", "linearizable-keys", "sequential-keys"])
def test_rw_register_rules_out_only_what_brute_force_cannot_explain(options: dict) -> None:
    _differ_rw_register(range(1000), options)


@pytest.mark.slow
def test_list_append_verdicts_agree_many() -> None:
    _differ_list_append(range(1500, 21500))


@pytest.mark.slow
def test_rw_register_sound_many() -> None:
    _differ_rw_register(range(1000, 11000), {"writes-follow-reads": True})
