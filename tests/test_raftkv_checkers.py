"""The election-safety and log-agreement checkers on hand-made `collect` data."""

from __future__ import annotations

from typing import Any

from checkers import election_safety, log_agreement


def leader(node: str, term: int, wall: float = 0.0) -> dict[str, Any]:
    return {"event": "leader", "node": node, "term": term, "wall": wall}


def entry(term: int, request_id: str | None) -> dict[str, Any]:
    return {"term": term, "id": request_id, "op": None if request_id is None else {"f": "write", "key": 1, "value": request_id}}


def data(nodes: dict[str, Any], unreachable: dict[str, str] | None = None) -> dict[str, Any]:
    return {"system_data": {"nodes": nodes, "unreachable": unreachable or {}}}


def test_one_leader_per_term_is_valid():
    result = election_safety.check([], data({"n1": {"events": [leader("n1", 1), leader("n1", 3)]}, "n2": {"events": [leader("n2", 2)]}}))
    assert result["valid"] is True and result["elections"] == 3 and result["highest_term"] == 3


def test_two_leaders_in_one_term_is_named():
    result = election_safety.check([], data({"n1": {"events": [leader("n1", 2, 10.0)]}, "n2": {"events": [leader("n2", 2, 12.5)]}, "n3": {"events": []}}))
    assert result["valid"] is False
    assert result["anomalies"] == ["multiple-leaders-in-term"]
    assert result["first_anomaly_wall"] == 12.5  # when the term's second leader appeared
    assert result["violations"] == [{"term": 2, "leaders": ["n1", "n2"]}]
    assert result["evidence"] == [{"kind": "table", "label": "terms with more than one leader",
                                   "columns": ["term", "leaders"], "rows": [[2, "n1, n2"]], "count": 1}]


def test_a_node_without_events_makes_a_clean_run_unknown_but_not_a_proven_violation():
    clean = election_safety.check([], data({"n1": {"events": [leader("n1", 1)]}}, {"n2": "refused"}))
    assert clean["valid"] == "unknown" and clean["nodes_without_events"] == ["n2"]
    proven = election_safety.check(
        [], data({"n1": {"events": [leader("n1", 1)]}, "n3": {"events": [leader("n3", 1)]}}, {"n2": "refused"})
    )
    assert proven["valid"] is False
    assert election_safety.check([], {})["valid"] == "unknown"


def test_committed_prefixes_of_different_lengths_agree():
    common = [entry(1, None), entry(1, "a"), entry(2, None)]
    result = log_agreement.check([], data({"n1": {"committed": common}, "n2": {"committed": common[:2]}, "n3": {"committed": []}}))
    assert result["valid"] is True and result["committed_lengths"] == {"n1": 3, "n2": 2, "n3": 0}


def test_a_divergent_committed_entry_is_named_with_its_index():
    result = log_agreement.check(
        [],
        data({
            "n1": {"committed": [entry(1, None), entry(1, "a")]},
            "n2": {"committed": [entry(1, None), entry(1, "b"), entry(1, "c")]},
        }),
    )
    assert result["valid"] is False
    assert result["anomalies"] == ["committed-log-divergence"]
    assert result["divergent"][0]["index"] == 2 and set(result["divergent"][0]["entries"]) == {"n1", "n2"}
    [table] = result["evidence"]
    assert table["kind"] == "table" and table["count"] == 1
    assert table["rows"] == [[2, {"n1": entry(1, "a"), "n2": entry(1, "b")}]]


def test_fewer_than_two_dumped_logs_is_unknown():
    result = log_agreement.check([], data({"n1": {"committed": [entry(1, None)]}, "n2": {"committed": None}}, {"n2": "down"}))
    assert result["valid"] == "unknown"


def test_a_node_that_cut_a_committed_entry_is_caught_even_when_final_logs_agree():
    cut = {"event": "committed-truncated", "node": "n1", "term": 2, "index": 5, "commit_index": 7, "wall": 0.0}
    common = [entry(1, None)]
    result = log_agreement.check([], data({"n1": {"committed": common, "events": [cut]}, "n2": {"committed": common}}))
    assert result["valid"] is False and result["anomalies"] == ["committed-entry-truncated"]
    assert result["truncations"] == [cut]
    [table] = result["evidence"]
    assert table["columns"] == ["node", "term", "index", "commit index"] and table["rows"] == [["n1", 2, 5, 7]]
