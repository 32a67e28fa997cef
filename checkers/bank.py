"""The bank checker: does money stay put, and does every transfer end the same way everywhere?

From the history, every `ok` read must list `accounts` balances summing to `total`
(`wrong-total`) with none below zero (`negative-balance`); each bad read is named with the
transfers concurrent with it and the few that completed just before it. Transfer outcomes play
no part in that judgement, so an indeterminate (`info`) transfer can never count against the
system, whether it happened or not.

From `system_data` (what `collect` read from the nodes' WALs after the heal), when present:
- `divergent-outcome`: a participant of a decided transaction recorded another outcome, or none
  while not in doubt, than its coordinator logged (after recovery every transfer must have the
  same outcome at every participant);
- `unsound-history`: a transfer the client reported `fail` that its coordinator committed. That
  is the client's fault (a network error during commit reported as failure, T-b), not the
  server's: the history promises something false, so it cannot be judged fairly and the
  reason says so;
- the in-doubt time (prepared until resolved, per participant) and the transactions still in
  doubt, as liveness figures, never a verdict.
"""

from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import FAIL, OK, BadOp, Call, Op, pair_calls

AROUND_BEFORE = 3  # completed transfers shown before a bad read


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    accounts, total = options.get("accounts"), options.get("total")
    if not isinstance(accounts, int) or not isinstance(total, int):
        raise ValueError("the bank checker needs integer options 'accounts' and 'total'")
    calls = pair_calls([op for op in history if op.is_client])
    transfers = [c for c in calls if c.invoke.f == "transfer"]
    bad_reads: list[tuple[Call, str, str]] = []  # call, anomaly, what was wrong
    for call in calls:
        if call.invoke.f != "read" or call.outcome != OK:
            continue
        balances = call.completion.value  # type: ignore[union-attr]
        if not isinstance(balances, list) or not all(isinstance(b, int) for b in balances):
            raise BadOp(call.completion, f"a read's value must be a list of integer balances, found {balances!r}", history)
        if len(balances) != accounts or sum(balances) != total:
            bad_reads.append((call, "wrong-total", f"{len(balances)} accounts summing to {sum(balances)}, not {total}"))
        negative = [a for a, b in enumerate(balances) if b < 0]
        if negative:
            bad_reads.append((call, "negative-balance", f"account(s) {negative} below zero: {balances}"))

    anomalies: list[str] = []
    first: list[int] = []
    items: list[dict[str, Any]] = []
    for kind in ("wrong-total", "negative-balance"):
        reads = [(c, why) for c, k, why in bad_reads if k == kind]
        if not reads:
            continue
        anomalies.append(kind)
        first.append(_index(reads[0][0]))
        items.append(evidence.table(f"{kind} reads", ["read", "what was wrong", "balances"],
                                    [[_index(c), why, c.completion.value] for c, why in reads], op_columns=["read"]))  # type: ignore[union-attr]
        around = _around(reads[0][0], transfers)
        items.append(evidence.ops(f"transfers around the first {kind} read", [_index(c) for c in around],
                                  notes=[f"{c.outcome}: {c.invoke.value}" for c in around]))

    result: dict[str, Any] = {"reads": sum(1 for c in calls if c.invoke.f == "read" and c.outcome == OK),
                              "transfers": len(transfers)}
    data = options.get("system_data")
    reasons = [f"{len([b for b in bad_reads if b[1] == k])} {k} read(s)" for k in anomalies]
    if isinstance(data, Mapping) and isinstance(data.get("nodes"), Mapping):
        nodes = {n: d for n, d in data["nodes"].items() if isinstance(d, Mapping) and "error" not in d}
        decisions = {t: tuple(v) for d in nodes.values() for t, v in d.get("decisions", {}).items()}
        divergent = _divergent(decisions, nodes)
        if divergent:
            anomalies.append("divergent-outcome")
            reasons.append(f"{len(divergent)} transaction(s) ended differently at their participants")
            items.append(evidence.table("divergent outcomes", ["txn", "decision", "participant", "participant outcome"],
                                        divergent))
        unsound = [c for c in transfers if c.outcome == FAIL and _txn(c) is not None
                   and decisions.get(_txn(c), ("",))[0] == "commit"]
        if unsound:
            anomalies.append("unsound-history")
            first.append(_index(unsound[0]))
            reasons.append(f"the client reported {len(unsound)} transfer(s) as fail that their coordinator committed: "
                           "the history is unsound (a client bug, T-b), not a fault of the servers")
            items.append(evidence.ops("failed but committed transfers", [_index(c) for c in unsound],
                                      notes=[f"txn {_txn(c)} committed" for c in unsound]))
        seconds = [s for d in nodes.values() for s in d.get("in_doubt_seconds", [])]
        result["in_doubt"] = {"resolved": len(seconds),
                              "median_s": round(statistics.median(seconds), 3) if seconds else None,
                              "max_s": round(max(seconds), 3) if seconds else None,
                              "still_in_doubt": sum(len(d.get("in_doubt", [])) for d in nodes.values())}
    if not anomalies:
        return {**result, "valid": True, "reason": f"{result['reads']} reads all saw {total} with no negative balance"}
    return {**result, "valid": False, "anomalies": anomalies, "reason": "; ".join(reasons),
            "first_anomaly_index": min(first) if first else None, "evidence": items}


def _index(call: Call) -> int:
    op = call.completion or call.invoke
    return op.index if op.index is not None else -1


def _txn(call: Call) -> str | None:
    value = call.completion.value if call.completion is not None else None
    return value.get("txn") if isinstance(value, dict) else None


def _around(read: Call, transfers: list[Call]) -> list[Call]:
    """Transfers whose interval overlaps the read, and the last few that completed before it."""
    start, end = read.invoke.index or 0, _index(read)
    concurrent = [c for c in transfers if (c.invoke.index or 0) < end and (c.completion is None or _index(c) > start)]
    before = [c for c in transfers if c.completion is not None and _index(c) < start][-AROUND_BEFORE:]
    return before + concurrent


def _divergent(decisions: Mapping[str, tuple], nodes: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for txn, (outcome, participants) in sorted(decisions.items()):
        for participant in participants:
            node = nodes.get(participant)
            if node is None or txn in node.get("in_doubt", []):
                continue  # unknown or still in doubt: liveness, not safety
            seen = node.get("outcomes", {}).get(txn)
            if seen != outcome and not (outcome == "abort" and seen is None):
                rows.append([txn, outcome, participant, seen or "no record"])
    return rows
