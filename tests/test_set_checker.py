"""The set checker on hand-made histories: each final read (each node) is judged on its own."""

from __future__ import annotations

from typing import Any

from checkers.set import check
from harness import plugins
from harness.history import NEMESIS, Op, with_indices


def add(process: int, element: Any, outcome: str | None = "ok") -> list[Op]:
    """An add and its completion; outcome None leaves it never completed."""
    ops = [Op(type="invoke", f="add", value=element, process=process)]
    if outcome is not None:
        ops.append(Op(type=outcome, f="add", value=element, process=process))
    return ops


def read(process: int, node: str | None, elements: Any, outcome: str = "ok") -> list[Op]:
    return [
        Op(type="invoke", f="read", value=None, process=process, node=node),
        Op(type=outcome, f="read", value=elements, process=process, node=node),
    ]


def history(*parts: list[Op]) -> list[Op]:
    return with_indices([op for part in parts for op in part])


def test_the_set_checker_is_the_registered_set_plugin() -> None:
    assert plugins.load("checker", "set") is check


def test_valid_when_every_acknowledged_element_is_in_every_final_read() -> None:
    h = history(add(0, 1), add(1, 2), add(0, 3), read(0, "n1", [1, 2, 3]), read(1, "n2", [3, 2, 1]))
    result = check(h)
    assert result["valid"] is True
    assert result["lost"] == [] and result["unexpected"] == [] and result["recovered"] == []
    assert (result["ok_count"], result["acknowledged_count"], result["attempt_count"]) == (3, 3, 3)
    assert result["final_reads"] == 2
    assert "evidence" not in result


def test_an_element_missing_from_one_nodes_read_is_lost_on_that_node() -> None:
    h = history(
        add(0, 1), add(1, 2), add(2, 3),
        read(0, "n1", [1, 2, 3]), read(1, "n2", [1, 2]), read(2, "n3", [2]),
    )
    result = check(h)
    assert result["valid"] is False
    assert result["lost"] == [1, 3]
    assert result["lost_by_read"] == {"n2": [3], "n3": [1, 3]}
    assert result["lost_count"] == 2 and result["ok_count"] == 1
    assert "2 acknowledged elements lost" in result["reason"]
    assert result["anomalies"] == ["lost"]
    assert result["first_anomaly_index"] == 0  # element 1's add was invoked first
    by_label = {item["label"]: item for item in result["evidence"]}
    assert by_label["lost"] == {"kind": "elements", "label": "lost", "elements": [1, 3], "count": 2}
    assert by_label["adds of lost elements"]["indices"] == [0, 4]
    assert by_label["lost per final read"]["rows"] == [["n2", 1], ["n3", 2]]


def test_an_element_read_but_never_added_is_unexpected() -> None:
    h = history(add(0, 1), read(0, "n1", [1, 99]))
    result = check(h)
    assert result["valid"] is False
    assert result["unexpected"] == [99] and result["lost"] == []
    assert "never added" in result["reason"]


def test_an_indeterminate_add_that_shows_up_is_recovered_and_one_that_does_not_is_not_lost() -> None:
    h = history(
        add(0, 1),
        add(1, 2, outcome="info"),  # timed out, yet it took effect
        add(2, 3, outcome=None),  # never completed, and it did not
        add(3, 4, outcome="fail"),  # definitely not added
        read(4, "n1", [1, 2]),
    )
    result = check(h)
    assert result["valid"] is True
    assert result["recovered"] == [2]
    assert result["lost"] == [] and result["unexpected"] == []
    assert (result["attempt_count"], result["acknowledged_count"]) == (4, 1)


def test_unknown_without_a_successful_final_read() -> None:
    no_read = check(history(add(0, 1), add(1, 2)))
    assert no_read["valid"] == "unknown" and "no final read" in no_read["reason"]
    failed_reads = check(history(add(0, 1), read(0, "n1", None, outcome="fail"), read(1, "n2", None, outcome="info")))
    assert failed_reads["valid"] == "unknown"
    assert failed_reads["acknowledged_count"] == 1


def test_a_read_without_a_node_is_named_by_its_process() -> None:
    result = check(history(add(0, 1), read(7, None, [])))
    assert result["lost_by_read"] == {"process 7": [1]}


def test_nemesis_ops_are_ignored() -> None:
    nemesis = [
        Op(type="info", f="kill", value=["n1"], process=NEMESIS),
        Op(type="info", f="start", value=["n1"], process=NEMESIS),
    ]
    result = check(history(add(0, 1), nemesis, read(0, "n1", [1])))
    assert result["valid"] is True


def test_an_empty_read_value_loses_everything_acknowledged() -> None:
    result = check(history(add(0, "a"), add(1, "b"), read(0, "n1", None)))
    assert result["valid"] is False and result["lost"] == ["a", "b"]


def test_an_add_that_failed_yet_shows_up_is_an_anomaly() -> None:
    from harness.history import Op
    from checkers.set import check

    history = [
        Op("invoke", "add", 1, 0), Op("fail", "add", 1, 0),
        Op("invoke", "read", None, 0, node="n1"), Op("ok", "read", [1], 0, node="n1"),
    ]
    result = check(history, {})
    assert result["valid"] is False
    assert result["failed_present"] == [1]


# --- values of the wrong shape are bad input, not a verdict (issue 11) -------------------------


import pytest  # noqa: E402

from harness.history import BadOp

from harness.history_reader import read_history
from harness.judge import check_history  # noqa: E402
from harness.seams import HarnessError  # noqa: E402


@pytest.mark.parametrize("value", ["0123", {"a": 1}, [[1], [2]], [1.5], 7, True])
def test_a_final_read_that_is_not_a_list_of_elements_is_bad_input(value: Any) -> None:
    # "0123" used to be read as the elements "0", "1", "2", "3": four phantom elements.
    with pytest.raises(BadOp, match=r"op 3: a read's value must be a list of elements"):
        check(history(add(0, 1), read(0, "n1", value)))


@pytest.mark.parametrize("element", [[1], {"a": 1}, None, 1.5])
def test_an_added_element_that_is_not_an_integer_or_a_string_is_bad_input(element: Any) -> None:
    with pytest.raises(BadOp, match=r"op 0: an added element must be an integer or a string"):
        check(history(add(0, element), read(1, "n1", [1])))


def test_elements_of_mixed_types_are_listed_without_comparing_them() -> None:
    result = check(history(add(0, 1), add(1, "a"), read(2, "n1", [])))
    assert result["valid"] is False and result["lost"] == [1, "a"]


def test_judge_turns_a_bad_value_into_a_harness_error_naming_checker_file_and_line(tmp_path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"type":"invoke","process":0,"f":"read","value":null}\n'
                    '{"type":"ok","process":0,"f":"read","value":"0123"}\n')
    with pytest.raises(HarnessError, match=rf"^checker set: {path}:2: op 1: a read's value must be a list"):
        check_history(read_history(path), {"set": {}})
